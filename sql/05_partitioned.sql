-- Partitioned member tables: routing, direct writes to partitions, row
SET datestyle = ISO, YMD;
SET timezone = 'America/Sao_Paulo';
-- movement, TRUNCATE, and partitions created, attached, detached or dropped
-- after seats.attach.
SELECT code FROM seats.create_plan('part', 5);
CREATE TABLE pm (id int, org_id bigint NOT NULL, role text, active boolean) PARTITION BY LIST (org_id);
CREATE TABLE pm_1 PARTITION OF pm FOR VALUES IN (1);
CREATE TABLE pm_2 PARTITION OF pm FOR VALUES IN (2) PARTITION BY HASH (id);
CREATE TABLE pm_2a PARTITION OF pm_2 FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE pm_2b PARTITION OF pm_2 FOR VALUES WITH (MODULUS 2, REMAINDER 1);
INSERT INTO pm VALUES (1, 1, 'broker', true);
SELECT org FROM seats.onboard('1', 'part', 2);
SELECT org FROM seats.onboard('2', 'part', 3);
SELECT org FROM seats.onboard('3', 'part', 1);
SELECT seats.attach('pm');
CREATE VIEW pused AS SELECT org, seats_used, seat_limit FROM seats.subscription WHERE org IN ('1', '2', '3') ORDER BY org;
SELECT * FROM pused;
-- Every relation of the tree carries the triggers.
SELECT tgrelid::regclass AS rel, count(*) FROM pg_trigger WHERE tgname LIKE 'broker\_seats\_%'
   AND tgrelid::regclass::text LIKE 'pm%' GROUP BY 1 ORDER BY 1;

-- Through the parent, and directly into leaf partitions.
INSERT INTO pm VALUES (2, 1, 'broker', true);
SELECT try($$INSERT INTO pm VALUES (3, 1, 'broker', true)$$);
SELECT try($$INSERT INTO pm_1 VALUES (3, 1, 'broker', true)$$);
INSERT INTO pm_2 VALUES (10, 2, 'broker', true);
SELECT id, tableoid::regclass AS leaf FROM pm ORDER BY id;
INSERT INTO pm VALUES (11, 2, 'broker', true), (12, 2, 'broker', true);
SELECT try($$INSERT INTO pm_2 VALUES (13, 2, 'broker', true)$$);
SELECT * FROM pused;

-- Row movement between partitions (an org change) is a move of the seat.
SELECT try($$UPDATE pm SET org_id = 2 WHERE id = 1$$);
UPDATE pm SET active = false WHERE id = 12;
UPDATE pm SET org_id = 2 WHERE id = 1;
SELECT * FROM pused;
SELECT try($$UPDATE pm_2 SET active = true WHERE id = 12$$);

-- Direct deletes and a TRUNCATE of one partition, then of the parent.
DELETE FROM pm_2b WHERE id = 11;
SELECT * FROM pused;
TRUNCATE pm_1;
SELECT * FROM pused;
TRUNCATE pm;
SELECT * FROM pused;

-- A partition created later gets the triggers.
CREATE TABLE pm_3 PARTITION OF pm FOR VALUES IN (3);
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'pm_3'::regclass AND tgname LIKE 'broker\_seats\_%';
INSERT INTO pm_3 VALUES (30, 3, 'broker', true);
SELECT try($$INSERT INTO pm_3 VALUES (31, 3, 'broker', true)$$);
SELECT * FROM pused;

-- Detaching a partition takes its brokers out of the count, and its triggers off.
ALTER TABLE pm DETACH PARTITION pm_3;
SELECT * FROM pused;
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'pm_3'::regclass AND tgname LIKE 'broker\_seats\_%';
INSERT INTO pm_3 VALUES (31, 3, 'broker', true);
-- Attaching it back when its brokers do not fit is refused (SPEC rule 6:
-- over the limit only through a rollback); once they fit, it counts them.
SELECT try($$ALTER TABLE pm ATTACH PARTITION pm_3 FOR VALUES IN (3)$$);
SELECT org, seats_used, over_limit FROM seats.usage WHERE org = '3';
SELECT (seats.upgrade('3', 2)).to_limit;
ALTER TABLE pm ATTACH PARTITION pm_3 FOR VALUES IN (3);
SELECT org, seats_used, seat_limit FROM seats.usage WHERE org = '3';
SELECT try($$INSERT INTO pm VALUES (32, 3, 'broker', true)$$);
-- Dropping a partition gives its seats back.
DROP TABLE pm_3;
SELECT * FROM pused;
SELECT org, kind, detail->>'reason' AS reason FROM seats.event
 WHERE kind = 'counter_fixed' AND org = '3' ORDER BY id;

-- Enforcement triggers cannot be dropped or disabled, not even by the owner.
SELECT try($$DROP TRIGGER broker_seats_insert ON pm_1$$);
SELECT try($$ALTER TABLE pm_1 DISABLE TRIGGER broker_seats_insert$$);
SELECT try($$ALTER TABLE pm DISABLE TRIGGER ALL$$);
SELECT count(*) FROM pg_trigger WHERE tgrelid = 'pm_1'::regclass AND tgname LIKE 'broker\_seats\_%' AND tgenabled = 'O';

-- Attaching a partition of an attached table on its own is refused.
SELECT try($$SELECT seats.attach('pm_1')$$);

-- Dropping an attached table removes its attachment.
DROP TABLE pm;
SELECT count(*) AS attachments FROM seats.attachment WHERE relid::text LIKE 'pm%';
