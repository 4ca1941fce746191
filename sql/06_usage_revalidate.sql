-- seats.usage and seats.revalidate: recount from the attached tables, fix
SET datestyle = ISO, YMD;
SET timezone = 'America/Sao_Paulo';
-- and audit drift.
SELECT code FROM seats.create_plan('rv', 1);
CREATE TABLE rv_members (org_id text, role text, active boolean);
SELECT org FROM seats.onboard('rv-a', 'rv', 3);
SELECT org FROM seats.onboard('rv-b', 'rv', 3);
SELECT seats.attach('rv_members');
INSERT INTO rv_members VALUES ('rv-a', 'broker', true), ('rv-a', 'broker', true), ('rv-b', 'broker', true);
SELECT org, plan, seat_limit, seats_used, seats_free, over_limit, pending_downgrade_limit, frozen
  FROM seats.usage WHERE org LIKE 'rv-%' ORDER BY org;

-- Nothing to fix.
SELECT * FROM seats.revalidate() WHERE org LIKE 'rv-%';

-- Simulated drift (a superuser editing the counter by hand).
UPDATE seats.subscription SET seats_used = 7 WHERE org = 'rv-a';
UPDATE seats.subscription SET seats_used = 0 WHERE org = 'rv-b';
SELECT * FROM seats.revalidate('rv-a');
SELECT org, seats_used FROM seats.subscription WHERE org LIKE 'rv-%' ORDER BY org;
SELECT * FROM seats.revalidate() WHERE org LIKE 'rv-%';
SELECT org, kind, detail->>'recorded' AS recorded, detail->>'counted' AS counted, detail->>'reason' AS reason
  FROM seats.event WHERE kind = 'counter_fixed' AND org LIKE 'rv-%' ORDER BY id;

-- A negative drift never blocks deleting a broker.
UPDATE seats.subscription SET seats_used = 0 WHERE org = 'rv-a';
DELETE FROM rv_members WHERE org_id = 'rv-a';
SELECT * FROM seats.revalidate('rv-a');

SELECT try($$SELECT * FROM seats.revalidate('nobody')$$);

-- The audit trail is append-only, even for its owner.
SELECT try($$UPDATE seats.event SET kind = 'x'$$);
SELECT try($$DELETE FROM seats.event$$);
SELECT try($$TRUNCATE seats.event$$);
-- And hash-chained per org.
SELECT bool_and(e.prev_hash IS NOT DISTINCT FROM (SELECT p.hash FROM seats.event p WHERE p.org IS NOT DISTINCT FROM e.org AND p.id < e.id ORDER BY p.id DESC LIMIT 1)) AS chained,
       bool_and(e.hash = seats._event_hash(e.prev_hash, e.id, nullif(e.org, ''), e.kind, e.at, e.actor, e.change_id, e.detail)) AS hashes_match
  FROM seats.event e;
