-- seats.alerts(as_of) with explicit business times: each kind raised and
-- not raised, and the thresholds changed through seats.set_setting. Alerts
-- are about the whole database, so this file has a database of its own.
DROP DATABASE IF EXISTS broker_seats_alerts;
CREATE DATABASE broker_seats_alerts;
\c broker_seats_alerts
SET client_min_messages = warning;
CREATE EXTENSION broker_seats;
RESET client_min_messages;
SET TimeZone = 'America/Sao_Paulo';
CREATE FUNCTION try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
    v_message text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT;
    RETURN v_state || ': ' || v_message;
END
$$;
-- The kinds raised at a time, without the detail.
CREATE FUNCTION raised(p_as_of timestamptz) RETURNS TABLE (kind text, org text, severity text)
    LANGUAGE sql AS $$ SELECT a.kind, a.org, a.severity FROM seats.alerts(p_as_of) a $$;
CREATE TABLE members (id serial PRIMARY KEY, org_id text NOT NULL, role text NOT NULL,
                      active boolean NOT NULL DEFAULT true);
SELECT seats.attach('members');
SELECT code FROM seats.create_plan('al', 10);
SELECT (seats.onboard(o, 'al', 3, '2034-06-01')).org
  FROM unnest(ARRAY['spike', 'calm', 'few', 'drift', 'over', 'sla']) o;
-- Cycles ending at midnight of 2034-06-14 (a Wednesday), local time.
SELECT (s).org, (s).cycle_end FROM (SELECT seats.onboard(o, 'al', 3, '2034-05-14') AS s
  FROM unnest(ARRAY['late', 'failing']) o) x;

-- Nothing yet but the recorder being off (this server does not preload).
SELECT * FROM raised('2034-06-13 12:00-03');
SELECT detail FROM seats.alerts('2034-06-13 12:00-03') WHERE kind = 'block_recording_off';

-- block_spike: today's blocks above 3x the median of the 7 days before and
-- at least 10. "spike": median 1, 10 today. "calm": median 4, 10 today (not
-- above 12). "few": median 0, 9 today (fewer than 10).
SELECT count(*) FROM (
    SELECT seats._record_block('spike', d + interval '10 hours', 'members'::regclass, 'broker', 1, 3, 3)
      FROM unnest(ARRAY['2034-06-07', '2034-06-08', '2034-06-08', '2034-06-09', '2034-06-11',
                        '2034-06-11', '2034-06-12', '2034-06-13']::timestamptz[]) d
    UNION ALL
    SELECT seats._record_block('calm', d + g * interval '1 minute', 'members'::regclass, 'broker', 1, 3, 3)
      FROM generate_series('2034-06-07'::timestamptz, '2034-06-13', '1 day') d, generate_series(1, 4) g
    UNION ALL
    SELECT seats._record_block(o, '2034-06-14 08:00-03'::timestamptz + g * interval '1 minute',
                               'members'::regclass, 'broker', 1, 3, 3)
      FROM (VALUES ('spike', 10), ('calm', 10), ('few', 9)) v(o, n), generate_series(1, n) g) x;
SELECT * FROM seats._block_spikes('2034-06-14 12:00-03') ORDER BY org COLLATE "C" NULLS FIRST;
SELECT * FROM raised('2034-06-14 12:00-03') WHERE kind = 'block_spike';
SELECT detail FROM seats.alerts('2034-06-14 12:00-03') WHERE kind = 'block_spike' AND org = 'spike';
-- Before the tenth block of the day there is no spike yet; the next day neither.
SELECT * FROM raised('2034-06-14 08:09:30-03') WHERE kind = 'block_spike';
SELECT * FROM raised('2034-06-15 12:00-03') WHERE kind = 'block_spike';

-- The rule is configurable, each change audited; NULL goes back to the default.
SELECT * FROM seats.set_setting('block_spike_factor', '2');
SELECT * FROM raised('2034-06-14 12:00-03') WHERE kind = 'block_spike';
SELECT * FROM seats.set_setting('block_spike_min_blocks', '9');
SELECT * FROM raised('2034-06-14 12:00-03') WHERE kind = 'block_spike';
SELECT * FROM seats.set_setting('block_spike_factor', NULL);
SELECT * FROM seats.set_setting('block_spike_min_blocks', NULL);
SELECT name, value, default_value, changed_by IS NOT NULL AS changed FROM seats.settings ORDER BY name;
SELECT detail FROM seats.event WHERE kind = 'setting_changed' ORDER BY id;
SELECT * FROM seats.verify_audit() WHERE org IS NULL;
SELECT try($$SELECT seats.set_setting('block_spike_factor', '-1')$$);
SELECT try($$SELECT seats.set_setting('block_spike_factor', 'NaN')$$);
SELECT try($$SELECT seats.set_setting('block_spike_baseline_days', '0')$$);
SELECT try($$SELECT seats.set_setting('upgrade_sla', 'soon')$$);
SELECT try($$SELECT seats.set_setting('business_days', '1-8')$$);
SELECT try($$SELECT seats.set_setting('business_hours_open', '19:00')$$);
SELECT try($$SELECT seats.set_setting('no_such_setting', '1')$$);
SELECT try($$SELECT seats.set_setting(NULL, '1')$$);
SELECT count(*) AS changes_left FROM seats.setting;

-- turnover_overdue: a cycle ended at midnight is overdue once the grace
-- (1 hour) has passed without a turnover.
SELECT * FROM raised('2034-06-14 00:59-03') WHERE kind LIKE 'turnover%';
SELECT * FROM raised('2034-06-14 01:00-03') WHERE kind LIKE 'turnover%';
SELECT detail FROM seats.alerts('2034-06-14 01:30-03') WHERE kind = 'turnover_overdue' AND org = 'late';

-- turnover_failed: close_due_cycles records a failed org this way (and goes on).
SELECT seats._turnover_failed('failing', '2034-06-14 00:15-03', '40P01', 'deadlock detected');
SELECT * FROM raised('2034-06-14 00:10-03') WHERE kind LIKE 'turnover%';
SELECT * FROM raised('2034-06-14 00:20-03') WHERE kind LIKE 'turnover%';
SELECT detail FROM seats.alerts('2034-06-14 00:20-03') WHERE kind = 'turnover_failed';
-- It was announced on NOTIFY seats_alerts once, however often it fails.
SELECT seats._turnover_failed('failing', '2034-06-14 00:30-03', '40P01', 'deadlock detected');
SELECT kind, org, key FROM seats.alert_sent ORDER BY kind, org;
-- A turnover that succeeds clears both (one of its runs, for these two).
CALL seats.close_due_cycles('2034-06-14 02:00-03');
SELECT org, cycle_end FROM seats.subscription WHERE org IN ('late', 'failing') ORDER BY org;
SELECT * FROM raised('2034-06-14 02:00-03') WHERE kind LIKE 'turnover%';

-- counter_drift: the counter against the attached tables.
INSERT INTO members (org_id, role) VALUES ('drift', 'broker'), ('drift', 'broker');
SELECT * FROM raised('2034-06-14 12:00-03') WHERE kind = 'counter_drift';
UPDATE seats.subscription SET seats_used = 3 WHERE org = 'drift';  -- a superuser's mistake
SELECT * FROM raised('2034-06-14 12:00-03') WHERE kind = 'counter_drift';
SELECT detail FROM seats.alerts('2034-06-14 12:00-03') WHERE kind = 'counter_drift';
SELECT * FROM seats.revalidate('drift');
SELECT * FROM raised('2034-06-14 12:00-03') WHERE kind = 'counter_drift';
-- Inside a transaction that added a broker, counter and rows agree too.
BEGIN;
INSERT INTO members (org_id, role) VALUES ('drift', 'broker');
SELECT * FROM raised('2034-06-14 12:00-03') WHERE kind = 'counter_drift';
ROLLBACK;

-- over_limit: used above the limit (a limit lowered under the brokers).
INSERT INTO members (org_id, role) SELECT 'over', 'broker' FROM generate_series(1, 3);
SELECT * FROM raised('2034-06-14 12:00-03') WHERE kind = 'over_limit';
UPDATE seats.subscription SET seat_limit = 2 WHERE org = 'over';
SELECT * FROM raised('2034-06-14 12:00-03') WHERE kind = 'over_limit';
SELECT detail FROM seats.alerts('2034-06-14 12:00-03') WHERE kind = 'over_limit';
UPDATE members SET active = false WHERE id = (SELECT max(id) FROM members WHERE org_id = 'over');
SELECT * FROM raised('2034-06-14 12:00-03') WHERE kind = 'over_limit';

-- upgrade_sla: a requested upgrade waiting more than 30 business minutes
-- (Mon-Fri 09:00-18:00 in the org's time zone).
SELECT (seats.request_upgrade('sla', 5, 'sla-1')).status;
UPDATE seats.change SET requested_at = '2034-06-14 10:00-03' WHERE request_key = 'sla-1';
SELECT * FROM raised('2034-06-14 10:29-03') WHERE kind = 'upgrade_sla';
SELECT * FROM raised('2034-06-14 10:31-03') WHERE kind = 'upgrade_sla';
SELECT regexp_replace(detail, '(Upgrade |apply_change\()\d+', '\1N', 'g') AS detail FROM seats.alerts('2034-06-14 10:31-03')
 WHERE kind = 'upgrade_sla';
-- Friday 17:50 to Monday: 10 minutes on Friday, the weekend not counted.
UPDATE seats.change SET requested_at = '2034-06-16 17:50-03' WHERE request_key = 'sla-1';
SELECT * FROM raised('2034-06-19 09:15-03') WHERE kind = 'upgrade_sla';
SELECT * FROM raised('2034-06-19 09:25-03') WHERE kind = 'upgrade_sla';
-- Business hours are the org's: 14:00 UTC on Saturday is 11:00 there, not business time either.
SELECT * FROM raised('2034-06-17 14:00+00') WHERE kind = 'upgrade_sla';
-- Saturdays made business days: now it is late.
SELECT value FROM seats.set_setting('business_days', '1-6');
SELECT * FROM raised('2034-06-17 14:00+00') WHERE kind = 'upgrade_sla';
SELECT value FROM seats.set_setting('business_days', NULL);
-- Applied, it is no longer waiting.
SELECT (seats.apply_change((SELECT id FROM seats.change WHERE request_key = 'sla-1'), '2034-06-19 09:40-03')).status;
SELECT * FROM raised('2034-06-19 09:45-03') WHERE kind = 'upgrade_sla';

-- Arguments.
SELECT try($$SELECT * FROM seats.alerts(NULL)$$);
SELECT try($$SELECT * FROM seats.alerts('infinity')$$);
SELECT count(*) > 0 AS now_by_default FROM seats.alerts();
