-- The audit trail verifies: seats.verify_audit walks every chain and names
-- the first event that does not verify, after a superuser edits one with
-- the append-only trigger disabled. Money in payloads is exact text.
SELECT code FROM seats.create_plan('audit', 12.34);
SELECT org FROM seats.onboard('audit-a', 'audit', 1, '2026-11-01');
SELECT org FROM seats.onboard('audit-b', 'audit', 1, '2026-11-01');
SELECT (seats.upgrade('audit-a', 3, 'k1', '2026-11-16 12:00-03')).amount;
SELECT detail->'amount' AS amount_json, jsonb_typeof(detail->'amount') AS json_type,
       detail->'seat_price' AS price_json
  FROM seats.event WHERE org = 'audit-a' AND kind = 'upgrade_applied';
SELECT jsonb_typeof(detail->'plan'->'seat_price') AS plan_price_type, detail->'plan'->>'seat_price' AS plan_price
  FROM seats.event WHERE org = '' AND kind = 'plan_created' AND detail->'plan'->>'code' = 'audit';
SELECT * FROM seats.verify_audit('audit-a');
SELECT bool_and(ok) AS all_chains_ok, count(*) FILTER (WHERE org IS NULL) AS global_chains
  FROM seats.verify_audit();
SELECT try($$SELECT * FROM seats.verify_audit('nobody')$$);
-- Tampering: change one payload, with the append-only trigger out of the way.
ALTER TABLE seats.event DISABLE TRIGGER event_append_only;
UPDATE seats.event SET detail = detail || '{"to_limit": 30}'
 WHERE org = 'audit-a' AND kind = 'upgrade_applied';
ALTER TABLE seats.event ENABLE TRIGGER event_append_only;
SELECT v.org, v.events, v.ok, v.first_bad_event = (SELECT id FROM seats.event WHERE org = 'audit-a' AND kind = 'upgrade_applied') AS names_the_edited_event
  FROM seats.verify_audit('audit-a') v;
SELECT ok FROM seats.verify_audit('audit-b');
-- Removing an event breaks the chain at the next one.
SELECT (seats.upgrade('audit-b', 2, 'k2', '2026-11-16 12:00-03')).to_limit;
ALTER TABLE seats.event DISABLE TRIGGER event_append_only;
DELETE FROM seats.event WHERE org = 'audit-b' AND kind = 'onboard';
ALTER TABLE seats.event ENABLE TRIGGER event_append_only;
SELECT v.ok, v.first_bad_event = (SELECT min(id) FROM seats.event WHERE org = 'audit-b') AS names_the_next_event
  FROM seats.verify_audit('audit-b') v;
-- The owner cannot change events either.
SELECT try($$UPDATE seats.event SET kind = 'x' WHERE org = 'audit-b'$$);
SELECT try($$DELETE FROM seats.event WHERE org = 'audit-b'$$);
SELECT try($$TRUNCATE seats.event$$);
-- Reading the chains needs the right: PUBLIC has none.
CREATE ROLE audit_nobody;
SET ROLE audit_nobody;
SELECT try($$SELECT * FROM seats.verify_audit()$$);
RESET ROLE;
DROP ROLE audit_nobody;
-- Without shared_preload_libraries, block recording is off (the test cluster does not preload).
SELECT enabled, queued, dropped, recorded FROM seats._block_recording();
