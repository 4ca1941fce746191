-- Runbook §6-§7: incidents, freezes, and reverts with evidence. Global
-- freezes and turnovers concern every org: a database of its own.
DROP DATABASE IF EXISTS broker_seats_incidents;
CREATE DATABASE broker_seats_incidents;
\c broker_seats_incidents
SET client_min_messages = warning;
CREATE EXTENSION broker_seats;
RESET client_min_messages;
CREATE FUNCTION try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
    v_message text;
    v_detail text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT, v_detail = PG_EXCEPTION_DETAIL;
    RETURN v_state || ': ' || v_message
        || CASE WHEN v_detail <> '' THEN ' [' || regexp_replace(v_detail, '\d{4}-\d\d-\d\d[ T][0-9:.+-]+', '<time>', 'g') || ']'
                ELSE '' END;
END
$$;
SET TimeZone = 'America/Sao_Paulo';
SELECT code FROM seats.create_plan('inc', 30);
SELECT (seats.onboard(o, 'inc', 3, '2034-09-01')).org FROM unnest(ARRAY['inc-a', 'inc-b', 'inc-c']) o;
CREATE TABLE inc_members (id serial PRIMARY KEY, org_id text NOT NULL, role text NOT NULL,
                          active boolean NOT NULL DEFAULT true);
SELECT seats.attach('inc_members');
INSERT INTO inc_members (org_id, role) SELECT o, 'broker' FROM unnest(ARRAY['inc-a', 'inc-a', 'inc-b']) o;

-- Incidents: P0, P1, P2, org optional; a postmortem to close a P0 or P1.
SELECT id AS p0 FROM seats.open_incident('P0', 'charges doubled for every upgrade') \gset
SELECT severity, org, impact, closed_at FROM seats.incident WHERE id = :p0;
SELECT id AS p2 FROM seats.open_incident('P2', 'a typo in the quote screen', 'inc-a') \gset
SELECT kind, coalesce(org, '(all)') AS org, severity FROM seats.alerts() WHERE kind = 'incident_p0';
SELECT try($$SELECT seats.open_incident('P3', 'x')$$);
SELECT try($$SELECT seats.open_incident('P1', ' ')$$);
SELECT try($$SELECT seats.open_incident(NULL, 'x')$$);
SELECT try($$SELECT seats.open_incident('P1', 'x', 'nobody')$$);
SELECT try(format($$SELECT seats.close_incident(%s, NULL)$$, :p0));
SELECT try(format($$SELECT seats.close_incident(%s, '  ')$$, :p0));
SELECT try($$SELECT seats.close_incident(999999, 'x')$$);
SELECT (seats.close_incident(:p2, NULL)).closed_at IS NOT NULL AS p2_closed_without_postmortem;
SELECT try(format($$SELECT seats.close_incident(%s, 'again')$$, :p2));

-- Freeze one org: upgrades and downgrades refused (SB003 names who and why),
-- brokers within the limit keep working, a scheduled downgrade is held.
SELECT (seats.schedule_downgrade('inc-b', 2, 'inc-b-down')).status;
SELECT seats.freeze('billing audit', 'inc-b', :p0);
SELECT org, frozen FROM seats.usage WHERE org LIKE 'inc-%' ORDER BY org;
SELECT try($$SELECT seats.upgrade('inc-b', 5)$$);
SELECT try($$SELECT seats.schedule_downgrade('inc-b', 1)$$);
SELECT try($$SELECT seats.request_upgrade('inc-b', 5)$$);
INSERT INTO inc_members (org_id, role) VALUES ('inc-b', 'broker');
SELECT (seats.upgrade('inc-c', 4, 'inc-c-up', '2034-09-16 12:00-03')).to_limit AS others_unaffected;
-- The checklist shows the freeze and the open P0.
SELECT status, regexp_replace(detail, '#\d+|opened [^)]*', 'N', 'g') AS detail FROM seats.daily_checklist()
 WHERE item = 'open_incidents';
-- At the turnover, the frozen org's downgrade is held and stays pending.
CALL seats.close_due_cycles('2034-10-01 00:00-03');
SELECT org, status FROM seats.change WHERE request_key = 'inc-b-down';
SELECT seats.unfreeze('inc-b');
SELECT org, frozen FROM seats.usage WHERE org = 'inc-b';
-- Unfrozen, the next turnover tries it again.
CALL seats.close_due_cycles('2034-11-01 00:00-03');
SELECT org, status FROM seats.change WHERE request_key = 'inc-b-down';
SELECT seats.unfreeze('inc-b');  -- not frozen: nothing happens, nothing is audited
SELECT kind, detail - 'incident' AS detail FROM seats.event WHERE org = 'inc-b' AND kind IN ('frozen', 'unfrozen') ORDER BY id;

-- A global freeze, and runbook §7 step 5's gradual resumption: each org
-- frozen on its own, the global freeze lifted, then one org at a time.
SELECT seats.freeze('incident response', NULL, :p0);
SELECT try($$SELECT seats.upgrade('inc-c', 5)$$);
SELECT count(*) FILTER (WHERE frozen) AS frozen, count(*) AS orgs FROM seats.usage WHERE org LIKE 'inc-%';
SELECT seats.freeze('gradual resumption', o) FROM unnest(ARRAY['inc-a', 'inc-c']) o;
SELECT seats.unfreeze();
SELECT org, frozen FROM seats.usage WHERE org LIKE 'inc-%' ORDER BY org;
SELECT seats.unfreeze('inc-a');
SELECT org, frozen FROM seats.usage WHERE org LIKE 'inc-%' ORDER BY org;
SELECT seats.unfreeze('inc-c');
SELECT try($$SELECT seats.freeze(NULL)$$);
SELECT try($$SELECT seats.freeze('x', 'nobody')$$);
SELECT try($$SELECT seats.freeze('x', 'inc-a', 999999)$$);

-- Revert an upgrade: the limit goes back, a credit of minus its amount is
-- stored like the charge; nobody is deactivated, so the org is over its
-- limit, blocks new seats, and shows in alerts.
SELECT id AS up, amount FROM seats.upgrade('inc-a', 5, 'inc-a-up', '2034-11-16 12:00-03') \gset
INSERT INTO inc_members (org_id, role) VALUES ('inc-a', 'broker'), ('inc-a', 'broker');
SELECT try(format($$SELECT seats.revert_change(%s, NULL, 'x')$$, :up));
SELECT try(format($$SELECT seats.revert_change(%s, 999999, 'x')$$, :up));
SELECT try(format($$SELECT seats.revert_change(%s, %s, '')$$, :up, :p0));
SELECT status FROM seats.revert_change(:up, :p0, 'charged twice');
SELECT kind, from_limit, to_limit, status, amount, amount = -:amount AS credit, seat_price, units_remaining,
       units_in_cycle, reverts = :up AS reverts_it, incident = :p0 AS with_incident, reason
  FROM seats.change WHERE reverts = :up;
SELECT org, seat_limit, seats_used, over_limit FROM seats.usage WHERE org = 'inc-a';
SELECT count(*) AS brokers_still_active FROM inc_members WHERE org_id = 'inc-a' AND active;
INSERT INTO inc_members (org_id, role) VALUES ('inc-a', 'broker');
SELECT kind, org FROM seats.alerts() WHERE kind = 'over_limit' AND org = 'inc-a';
SELECT detail->>'credit' AS credit, detail->'evidence'->>'amount' AS charged, detail->>'reason' AS reason,
       detail->'evidence'->>'status' AS evidence_status
  FROM seats.event WHERE org = 'inc-a' AND kind = 'change_reverted';
-- A second revert of the same change reverts nothing twice.
SELECT status FROM seats.revert_change(:up, :p0, 'charged twice');
SELECT count(*) AS credits FROM seats.change WHERE reverts = :up;
-- Back under the limit, brokers can be added again.
UPDATE inc_members SET active = false WHERE id IN (SELECT id FROM inc_members WHERE org_id = 'inc-a' ORDER BY id DESC LIMIT 2);
INSERT INTO inc_members (org_id, role) VALUES ('inc-a', 'broker');
SELECT org, seat_limit, seats_used, over_limit FROM seats.usage WHERE org = 'inc-a';

-- Only the last limit change can be reverted alone; onboarding never.
SELECT (seats.upgrade('inc-c', 5, 'inc-c-up2', '2034-11-20 12:00-03')).to_limit;
SELECT try(format($$SELECT seats.revert_change(%s, %s, 'x')$$,
                  (SELECT id FROM seats.change WHERE request_key = 'inc-c-up'), :p0));
SELECT try(format($$SELECT seats.revert_change(%s, %s, 'x')$$,
                  (SELECT id FROM seats.change WHERE org = 'inc-c' AND kind = 'onboard'), :p0));
SELECT try($$SELECT seats.revert_change(999999, 1, 'x')$$);

-- revert_changes_since: a dry run writes nothing and returns what the real
-- run reverts; the real run is idempotent; a scheduled downgrade is
-- cancelled; reverts are allowed while frozen. (The downgrade is requested
-- now, the upgrades at business times in 2034: all are "since" an hour ago.)
SELECT (seats.schedule_downgrade('inc-c', 4, 'inc-c-down')).status;
SELECT seats.freeze('still investigating', 'inc-c', :p0);
CREATE TEMP TABLE before AS SELECT count(*) AS changes, (SELECT count(*) FROM seats.event) AS events FROM seats.change;
CREATE TEMP TABLE dry AS
  SELECT id, org, kind, status FROM seats.revert_changes_since(now() - interval '1 hour', :p0, 'bad release', ARRAY['inc-c']);
SELECT org, kind, status FROM dry ORDER BY id DESC;
SELECT changes = (SELECT count(*) FROM seats.change) AND events = (SELECT count(*) FROM seats.event) AS nothing_written
  FROM before;
CREATE TEMP TABLE real AS
  SELECT id, org, kind, status FROM seats.revert_changes_since(now() - interval '1 hour', :p0, 'bad release', ARRAY['inc-c'], false);
SELECT org, kind, status FROM real ORDER BY id DESC;
SELECT (SELECT array_agg(id ORDER BY id) FROM dry) = (SELECT array_agg(id ORDER BY id) FROM real) AS dry_run_was_exact;
SELECT org, seat_limit, pending_downgrade_limit, frozen FROM seats.usage WHERE org = 'inc-c';
SELECT c.kind, c.from_limit, c.to_limit, c.amount, r.kind AS reverted_kind, r.amount AS charged
  FROM seats.change c JOIN seats.change r ON r.org = c.org AND r.id = c.reverts
 WHERE c.org = 'inc-c' AND c.kind = 'revert' ORDER BY c.id;
SELECT count(*) AS reverted_again FROM seats.revert_changes_since(now() - interval '1 hour', :p0, 'bad release', ARRAY['inc-c'], false);
SELECT seats.unfreeze('inc-c');
SELECT try($$SELECT * FROM seats.revert_changes_since(NULL, 1, 'x')$$);
SELECT try($$SELECT * FROM seats.revert_changes_since('2034-01-01', NULL, 'x')$$);
SELECT try($$SELECT * FROM seats.revert_changes_since('2034-01-01', 1, 'x', NULL, NULL)$$);
-- Reverts follow the order changes were applied, not their ids: a
-- requested upgrade applied after a younger direct one is the last.
SELECT (seats.onboard('inc-d', 'inc', 2, '2034-09-01')).org;
SELECT id AS req FROM seats.request_upgrade('inc-d', 5, 'inc-d-req') \gset
SELECT id AS up4, to_limit FROM seats.upgrade('inc-d', 4, 'inc-d-up', '2034-11-10 12:00-03') \gset
SELECT :req < :up4 AS requested_first, :'to_limit' AS limit_now;
SELECT (seats.apply_change(:req, '2034-11-11 12:00-03')).to_limit AS applied_last;
SELECT try(format($$SELECT seats.revert_change(%s, %s, 'x')$$, :up4, :p0));
SELECT kind, from_limit, to_limit, status
  FROM seats.revert_changes_since(now() - interval '1 hour', :p0, 'order', ARRAY['inc-d'], false);
SELECT org, seat_limit FROM seats.usage WHERE org = 'inc-d';
-- Reverting an upgrade cancels a pending downgrade that would now raise the limit.
SELECT (seats.upgrade('inc-d', 9, 'inc-d-up3', '2034-11-13 12:00-03')).to_limit;
SELECT (seats.schedule_downgrade('inc-d', 5, 'inc-d-down')).status;
SELECT status FROM seats.revert_change((SELECT id FROM seats.change WHERE request_key = 'inc-d-up3'), :p0, 'wrong');
SELECT org, seat_limit, pending_downgrade_limit FROM seats.usage WHERE org = 'inc-d';
SELECT status, reason FROM seats.change WHERE request_key = 'inc-d-down';
-- The cycle report nets the credits against the charges.
SELECT upgrades_applied, upgrade_amount FROM seats.cycle_report('2034-11-01 00:00-03', '2034-12-01 00:00-03');
SELECT sum(amount) AS charges_and_credits FROM seats.change
 WHERE kind IN ('upgrade', 'revert') AND applied_at >= '2034-11-01 00:00-03' AND applied_at < '2034-12-01 00:00-03';

SELECT (seats.close_incident(:p0, 'Double charge from release 4.2; credits issued; test added.')).closed_by IS NOT NULL AS p0_closed;
SELECT count(*) AS p0_alerts FROM seats.alerts() WHERE kind = 'incident_p0';
SELECT org, ok FROM seats.verify_audit() WHERE org LIKE 'inc-%' OR org IS NULL ORDER BY org NULLS FIRST;
