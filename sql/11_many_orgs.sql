-- Statements and functions that touch very many organizations work within
-- the default max_locks_per_transaction (64: about 6,500 locks for the whole
-- server): past broker_seats.org_lock_limit org locks, one transaction takes
-- the all-organizations lock instead (ExclusiveLock on seats.subscription).
SELECT code FROM seats.create_plan('many', 1);
SHOW max_locks_per_transaction;
SHOW broker_seats.org_lock_limit;
CREATE TABLE many_members (id bigserial PRIMARY KEY, org_id bigint NOT NULL, role text NOT NULL,
                           active boolean NOT NULL DEFAULT true);
CREATE INDEX ON many_members (org_id);
SELECT seats.attach('many_members');
-- Onboarding 8,000 organizations in one statement.
SELECT count(*) FROM (SELECT seats.onboard(g::text, 'many', 2) FROM generate_series(900001, 908000) g) o;
-- One broker in each, in one statement.
INSERT INTO many_members (org_id, role) SELECT g, 'broker' FROM generate_series(900001, 908000) g;
SELECT count(*) AS orgs, sum(seats_used) AS used FROM seats.subscription WHERE org ~ '^9[0-9]{5}$';
-- The statement escalated: one lock on seats.subscription, not 8,000.
BEGIN;
UPDATE many_members SET active = false WHERE org_id <= 908000;
SELECT mode, granted FROM pg_locks
 WHERE pid = pg_backend_pid() AND locktype = 'relation' AND relation = 'seats.subscription'::regclass
   AND mode = 'ExclusiveLock';
SELECT count(*) <= 1000 AS few_org_locks FROM pg_locks
 WHERE pid = pg_backend_pid() AND locktype = 'advisory' AND objsubid = 24231;
ROLLBACK;
-- Freeing a seat in each org always passes: UPDATE, DELETE, TRUNCATE.
UPDATE many_members SET active = false WHERE org_id <= 908000;
SELECT sum(seats_used) AS used_after_update FROM seats.subscription WHERE org ~ '^9[0-9]{5}$';
UPDATE many_members SET active = true WHERE org_id <= 908000;
DELETE FROM many_members WHERE org_id <= 904000;
SELECT sum(seats_used) AS used_after_delete FROM seats.subscription WHERE org ~ '^9[0-9]{5}$';
TRUNCATE many_members;
SELECT sum(seats_used) AS used_after_truncate FROM seats.subscription WHERE org ~ '^9[0-9]{5}$';
-- The DBA's tools over every organization.
INSERT INTO many_members (org_id, role) SELECT g, 'broker' FROM generate_series(900001, 908000) g;
UPDATE seats.subscription SET seats_used = 0 WHERE org ~ '^9[0-9]{5}$';
SELECT count(*) FILTER (WHERE r.fixed) AS fixed, count(*) AS checked FROM seats.revalidate() r WHERE r.org ~ '^9[0-9]{5}$';
CREATE TABLE many_more (id bigserial PRIMARY KEY, org_id bigint NOT NULL, role text NOT NULL,
                        active boolean NOT NULL DEFAULT true);
SELECT seats.attach('many_more');
SELECT seats.detach('many_more');
SELECT seats.detach('many_members');
SELECT sum(seats_used) AS used_after_detach FROM seats.subscription WHERE org ~ '^9[0-9]{5}$';
DROP TABLE many_members, many_more;

-- Large statements are netted in batches of rows (memory O(orgs), not
-- O(rows)): 10,000 rows interleaving three orgs, each at exactly its limit,
-- cross many batch boundaries and must still be judged on the exact sums.
SELECT count(*) FROM (SELECT seats.onboard(o, 'many', n) FROM (VALUES ('b1', 3334), ('b2', 3333), ('b3', 3333)) v(o, n)) x;
CREATE TABLE batch_members (id int PRIMARY KEY, org_id text NOT NULL, role text NOT NULL,
                            active boolean NOT NULL DEFAULT true);
SELECT seats.attach('batch_members');
INSERT INTO batch_members SELECT g, 'b' || (g % 3 + 1), 'broker' FROM generate_series(0, 9999) g;
SELECT org, seats_used, seat_limit FROM seats.subscription WHERE org LIKE 'b_' ORDER BY org;
-- One more anywhere is refused, even spread over the whole statement.
INSERT INTO batch_members SELECT 10000 + g, 'b' || (g % 3 + 1), CASE WHEN g = 9000 THEN 'broker' ELSE 'manager' END
  FROM generate_series(0, 9999) g;
-- b1's first 1,667 brokers move to b3 in the first half of the scan, b3's
-- last 1,667 to b1 in the second: b3 is over its limit for many batches,
-- and nets to zero at the end, as does b1. Passes.
UPDATE batch_members SET org_id = CASE WHEN org_id = 'b1' AND id < 5000 THEN 'b3'
                                       WHEN org_id = 'b3' AND id >= 5000 THEN 'b1' ELSE org_id END;
-- Moving them back with one row fewer going to b3: b1 nets +1 and the
-- statement is refused (asking for 1 more), whatever the batches saw.
UPDATE batch_members SET org_id = CASE WHEN org_id = 'b3' AND id < 5000 AND id % 3 = 0 THEN 'b1'
                                       WHEN org_id = 'b1' AND id >= 5000 AND id % 3 = 2 AND id <> 9998 THEN 'b3'
                                       ELSE org_id END;
-- Deactivating all of b1 while moving b2's brokers into it: b1 releases
-- 3,334 and takes 3,333; passes.
UPDATE batch_members SET active = (org_id <> 'b1'), org_id = CASE WHEN org_id = 'b2' THEN 'b1' ELSE org_id END;
SELECT org, seats_used, seat_limit FROM seats.subscription WHERE org LIKE 'b_' ORDER BY org;
SELECT org, counted, recorded, fixed FROM seats.revalidate() WHERE org LIKE 'b_' ORDER BY org;
DROP TABLE batch_members;
