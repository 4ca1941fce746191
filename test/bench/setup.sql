-- One benchmark database per variant, same data everywhere:
--   orgs 1..1000: 10 active brokers each, limit 10^9 (inserts, updates, churn)
--   org 2001/2002/2003: 10 / 1,000 / 20,000 active brokers (flat in org size)
--   org 3001: full, 10 of 10 seats (the error path)
--   org 4001: empty, limit 10^9 (bulk)
-- psql variables: variant (bare, floor, count, counter, broker_seats).
CREATE TABLE members (id bigserial PRIMARY KEY, org_id int NOT NULL, role text NOT NULL,
                      active boolean NOT NULL DEFAULT true, name text);
CREATE INDEX members_org ON members (org_id);
CREATE TABLE org_limits (org_id int PRIMARY KEY, seat_limit int NOT NULL, seats_used int NOT NULL DEFAULT 0);
INSERT INTO org_limits (org_id, seat_limit)
SELECT g, 1000000000 FROM generate_series(1, 1000) g
UNION ALL VALUES (2001, 1000000000), (2002, 1000000000), (2003, 1000000000), (3001, 10), (4001, 1000000000);
INSERT INTO members (org_id, role, active) SELECT 1 + g % 1000, 'broker', true FROM generate_series(0, 9999) g;
INSERT INTO members (org_id, role, active) SELECT 2001, 'broker', true FROM generate_series(1, 10);
INSERT INTO members (org_id, role, active) SELECT 2002, 'broker', true FROM generate_series(1, 1000);
INSERT INTO members (org_id, role, active) SELECT 2003, 'broker', true FROM generate_series(1, 20000);
INSERT INTO members (org_id, role, active) SELECT 3001, 'broker', true FROM generate_series(1, 10);
INSERT INTO members (org_id, role, active) SELECT 3001, 'broker', false FROM generate_series(1, 10);
UPDATE org_limits l SET seats_used = (SELECT count(*) FROM members m WHERE m.org_id = l.org_id AND m.role = 'broker' AND m.active);

SELECT :'variant' = 'count' AS is_count, :'variant' = 'counter' AS is_counter,
       :'variant' = 'broker_seats' AS is_bs \gset
\if :is_count
\i peers/plpgsql_count.sql
\elif :is_counter
\i peers/plpgsql_counter.sql
\elif :is_bs
CREATE EXTENSION broker_seats;
SELECT seats.create_plan('bench', 10) IS NOT NULL AS plan;
SELECT count(seats.onboard(org_id::text, 'bench', seat_limit, '2099-01-01')) AS orgs FROM org_limits;
SELECT seats.attach('members', 'org_id', 'role', 'active');
\endif
-- The retry wrapper of the error-path scenario (same for every variant): an
-- attempt refused with SB001 counts as a rejection, not a pgbench error.
CREATE FUNCTION attempt_insert(p_org int, p_floor boolean) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO members (org_id, role, active) VALUES (p_org, 'broker', true);
    IF p_floor THEN
        UPDATE org_limits SET seats_used = seats_used + 1 WHERE org_id = p_org AND seats_used < seat_limit;
        IF NOT FOUND THEN RAISE EXCEPTION 'no free seat' USING ERRCODE = 'SB001'; END IF;
    END IF;
    RETURN true;
EXCEPTION WHEN SQLSTATE 'SB001' THEN
    RETURN false;
END $$;
VACUUM ANALYZE;
