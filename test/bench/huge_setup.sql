-- Huge statements (issue 13): :orgs organizations of :per active brokers
-- each, limit 10^9, with or without broker_seats (psql variable bs). Loaded
-- directly, then attached (which recounts): the set-up is not measured.
CREATE TABLE members (id bigserial PRIMARY KEY, org_id int NOT NULL, role text NOT NULL,
                      active boolean NOT NULL DEFAULT true, name text);
CREATE INDEX members_org ON members (org_id);
INSERT INTO members (org_id, role, active) SELECT 1 + g % :orgs, 'broker', true
  FROM generate_series(0, :orgs * :per - 1) g;
\if :bs
CREATE EXTENSION broker_seats;
SELECT seats.create_plan('bench', 10) IS NOT NULL AS plan;
INSERT INTO seats.subscription (org, plan, seat_limit, seats_used, cycle_anchor, cycle_start, cycle_end, time_zone)
SELECT g::text, 'bench', 1000000000, 0, '2099-01-01', '2099-01-01 00:00-03', '2099-02-01 00:00-03', 'America/Sao_Paulo'
  FROM generate_series(1, :orgs) g;
SELECT seats.attach('members', 'org_id', 'role', 'active') IS NULL AS attached;
\endif
VACUUM ANALYZE;
CHECKPOINT;
