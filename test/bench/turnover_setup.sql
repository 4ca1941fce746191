-- :orgs due subscriptions (cycle [1 Jan, 1 Feb) 2099), half with a pending
-- downgrade, half of those blocked by their brokers. Loaded directly:
-- the setup is not what is measured.
CREATE EXTENSION broker_seats;
SELECT seats.create_plan('bench', 10) IS NOT NULL AS plan;
INSERT INTO seats.subscription (org, plan, seat_limit, seats_used, cycle_anchor, cycle_start, cycle_end, time_zone)
SELECT 'org' || g, 'bench', 5, CASE WHEN g % 4 = 1 THEN 4 ELSE 2 END, '2099-01-01',
       '2099-01-01 00:00-03', '2099-02-01 00:00-03', 'America/Sao_Paulo'
  FROM generate_series(1, :orgs) g;
INSERT INTO seats.change (org, kind, from_limit, to_limit, status, requested_at, effective_at)
SELECT 'org' || g, 'downgrade', 5, 3, 'scheduled', '2099-01-15', '2099-02-01 00:00-03'
  FROM generate_series(1, :orgs, 2) g;
VACUUM ANALYZE;
