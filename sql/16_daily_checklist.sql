-- seats.daily_checklist(day): the five items of runbook §8, each in both
-- states, with explicit days. The checklist is about the whole database,
-- so this file has a database of its own.
DROP DATABASE IF EXISTS broker_seats_checklist;
CREATE DATABASE broker_seats_checklist;
\c broker_seats_checklist
SET client_min_messages = warning;
CREATE EXTENSION broker_seats;
RESET client_min_messages;
SET TimeZone = 'America/Sao_Paulo';
CREATE TABLE members (id serial PRIMARY KEY, org_id text NOT NULL, role text NOT NULL,
                      active boolean NOT NULL DEFAULT true);
SELECT seats.attach('members');
SELECT code FROM seats.create_plan('ck', 10);
-- Cycles end at midnight of 2034-06-22 (2 days after the day checked).
SELECT (seats.onboard(o, 'ck', 3, '2034-05-22')).org FROM unnest(ARRAY['ck-a', 'ck-b']) o;
INSERT INTO members (org_id, role) SELECT 'ck-a', 'broker' FROM generate_series(1, 3);

-- A quiet day: everything ok but the recorder, off on this server.
SELECT item, status FROM seats.daily_checklist('2034-06-20');
SELECT detail FROM seats.daily_checklist('2034-06-20');

-- 1. An open incident (closed: ok again).
INSERT INTO seats.incident (severity, org, impact, opened_at)
VALUES ('P1', 'ck-a', 'charges doubled', '2034-06-20 09:00-03');
SELECT status, regexp_replace(detail, '#\d+', '#N') AS detail FROM seats.daily_checklist('2034-06-20')
 WHERE item = 'open_incidents';
SELECT status FROM seats.daily_checklist('2034-06-19') WHERE item = 'open_incidents';
UPDATE seats.incident SET closed_at = '2034-06-20 15:00-03', postmortem = 'fixed';
SELECT status FROM seats.daily_checklist('2034-06-20') WHERE item = 'open_incidents';

-- 2. Blocks above the baseline: twelve on the day, none the week before.
SELECT count(*) FROM (SELECT seats._record_block('ck-a', '2034-06-20 10:00-03'::timestamptz + g * interval '1 minute',
                                                 'members'::regclass, 'broker', 1, 3, 3)
                        FROM generate_series(1, 12) g) x;
SELECT status, detail FROM seats.daily_checklist('2034-06-20') WHERE item = 'blocks_above_baseline';
SELECT status, detail FROM seats.daily_checklist('2034-06-21') WHERE item = 'blocks_above_baseline';

-- 3. An upgrade waiting for manual execution, then applied.
SELECT (seats.request_upgrade('ck-b', 5, 'ck-up')).status;
UPDATE seats.change SET requested_at = '2034-06-20 11:00-03' WHERE request_key = 'ck-up';
SELECT status, regexp_replace(detail, '(change |apply_change\()\d+', '\1N', 'g') AS detail
  FROM seats.daily_checklist('2034-06-20') WHERE item = 'pending_manual_upgrades';
SELECT status FROM seats.daily_checklist('2034-06-19') WHERE item = 'pending_manual_upgrades';
SELECT (seats.apply_change((SELECT id FROM seats.change WHERE request_key = 'ck-up'), '2034-06-20 11:20-03')).status;
SELECT status FROM seats.daily_checklist('2034-06-20') WHERE item = 'pending_manual_upgrades';

-- 4. Downgrades turning within 3 days: ck-b's fits (ok), ck-a's would be
-- blocked by its 3 active brokers (attention), until one is deactivated.
SELECT (seats.schedule_downgrade('ck-b', 2, 'ck-down-b')).status;
SELECT status, regexp_replace(detail, 'change \d+', 'change N', 'g') AS detail
  FROM seats.daily_checklist('2034-06-20') WHERE item = 'downgrades_turning_soon';
SELECT (seats.schedule_downgrade('ck-a', 2, 'ck-down-a')).status;
SELECT status, regexp_replace(detail, '(change |cancel_change\()\d+', '\1N', 'g') AS detail
  FROM seats.daily_checklist('2034-06-20') WHERE item = 'downgrades_turning_soon';
-- Ten days before, they are not near yet.
SELECT status, detail FROM seats.daily_checklist('2034-06-10') WHERE item = 'downgrades_turning_soon';
UPDATE members SET active = false WHERE id = (SELECT max(id) FROM members WHERE org_id = 'ck-a');
SELECT status FROM seats.daily_checklist('2034-06-20') WHERE item = 'downgrades_turning_soon';

-- 5. Audit integrity: a superuser edits an event behind the triggers' back.
SELECT status, detail ~ 'every hash chain verifies' AS chains_ok FROM seats.daily_checklist('2034-06-20')
 WHERE item = 'audit_integrity';
ALTER TABLE seats.event DISABLE TRIGGER event_append_only;
UPDATE seats.event SET detail = detail || '{"requested": 0}'
 WHERE id = (SELECT min(id) FROM seats.event WHERE org = 'ck-a' AND kind = 'seat_blocked');
ALTER TABLE seats.event ENABLE TRIGGER event_append_only;
SELECT status, regexp_replace(detail, 'event \d+', 'event N') AS detail FROM seats.daily_checklist('2034-06-20')
 WHERE item = 'audit_integrity';

SELECT count(*) AS items FROM seats.daily_checklist();
\set VERBOSITY terse
SELECT * FROM seats.daily_checklist(NULL);
SELECT * FROM seats.daily_checklist('infinity');
SELECT * FROM seats.daily_kpis('-infinity');
