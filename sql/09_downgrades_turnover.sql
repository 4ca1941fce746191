-- Downgrades at the next cycle and the exactly-once turnover (runbook §4.3, §9).
SET datestyle = ISO, YMD;
SET timezone = 'America/Sao_Paulo';
SELECT setval('seats.change_id_seq', 2000) AS change_ids_from;
SELECT code FROM seats.create_plan('dn', 10);
CREATE TABLE dn_members (id serial PRIMARY KEY, org_id text, role text, active boolean DEFAULT true);
SELECT seats.attach('dn_members');
-- First cycles in 2099: [1 Jan, 1 Feb) for everyone.
SELECT org FROM seats.onboard('fits', 'dn', 5, '2099-01-01');
SELECT org FROM seats.onboard('full', 'dn', 5, '2099-01-01');
SELECT org, cycle_start, cycle_end FROM seats.subscription WHERE org IN ('fits', 'full') ORDER BY org;
INSERT INTO dn_members (org_id, role) SELECT 'fits', 'broker' FROM generate_series(1, 2);
INSERT INTO dn_members (org_id, role) SELECT 'full', 'broker' FROM generate_series(1, 4);
CREATE VIEW dn AS
  SELECT org, seat_limit, seats_used, pending_downgrade_limit AS pending, pending_downgrade_effective_at AS pending_at,
         cycle_start, cycle_end
    FROM seats.usage WHERE org IN ('fits', 'full', 'late', 'frozen') ORDER BY org;

-- Scheduling keeps the limit for the rest of the cycle; a NOTICE warns when
-- today's brokers would not fit.
SELECT id, kind, status, from_limit, to_limit, effective_at FROM seats.schedule_downgrade('fits', 3, 'dn-1');
SELECT id, kind, status, from_limit, to_limit, effective_at FROM seats.schedule_downgrade('full', 3);
SELECT * FROM dn;
INSERT INTO dn_members (org_id, role) VALUES ('fits', 'broker');  -- still 5 seats mid-cycle
SELECT * FROM dn;
DELETE FROM dn_members WHERE id = (SELECT max(id) FROM dn_members WHERE org_id = 'fits');

-- Replay, replace, cancel.
SELECT id, to_limit FROM seats.schedule_downgrade('fits', 3, 'dn-1');
SELECT try($$SELECT seats.schedule_downgrade('fits', 2, 'dn-1')$$);
SELECT id AS replaced_id FROM seats.schedule_downgrade('fits', 4) \gset
SELECT id, to_limit, status FROM seats.change WHERE org = 'fits' AND kind = 'downgrade' ORDER BY id;
SELECT status, reason FROM seats.cancel_change(:replaced_id, 'customer changed their mind');
SELECT try(format('SELECT seats.cancel_change(%s, %L)', :replaced_id, 'again'));
SELECT id, to_limit, status FROM seats.schedule_downgrade('fits', 3);
SELECT * FROM dn;

-- Errors.
SELECT try($$SELECT seats.schedule_downgrade('fits', 5)$$);
SELECT try($$SELECT seats.schedule_downgrade('fits', 7)$$);
SELECT try($$SELECT seats.schedule_downgrade('fits', -1)$$);
SELECT try($$SELECT seats.schedule_downgrade('fits', NULL)$$);
SELECT try($$SELECT seats.schedule_downgrade('nobody', 1)$$);
SELECT try($$SELECT seats.cancel_change(99999999, 'x')$$);
SELECT try($$SELECT seats.cancel_change(2001, 'onboarding is not pending')$$);
SELECT try($$SELECT seats.cancel_change(2001, NULL)$$);
SELECT try(format('SELECT seats.cancel_change(%s, %L)', :replaced_id, '  '));  -- a blank reason is none
SELECT try($$CALL seats.close_due_cycles('2099-02-01', 0)$$);
SELECT try($$CALL seats.close_due_cycles(NULL)$$);
SELECT try($$CALL seats.close_due_cycles('infinity')$$);

-- Before cycle_end nothing turns.
CALL seats.close_due_cycles('2099-01-31 23:59:59-03');
SELECT * FROM dn;
SELECT count(*) AS turnovers FROM seats.turnover WHERE org IN ('fits', 'full');

-- At the boundary: 'fits' (2 brokers) goes to 3 seats; 'full' (4 brokers)
-- is blocked, keeps 5 seats and stays pending for the next turnover.
CALL seats.close_due_cycles('2099-02-01 00:00-03');
SELECT * FROM dn;
SELECT org, cycle_start, cycle_end, outcome FROM seats.turnover WHERE org IN ('fits', 'full') ORDER BY org, cycle_end;
SELECT org, status, from_limit, to_limit, applied_at, effective_at FROM seats.change
 WHERE org IN ('fits', 'full') AND kind = 'downgrade' AND status NOT IN ('superseded', 'cancelled') ORDER BY org;
-- Running it again changes nothing.
CALL seats.close_due_cycles('2099-02-01 00:00-03');
SELECT count(*) AS turnovers FROM seats.turnover WHERE org IN ('fits', 'full');

-- A deactivation frees the room; the next turnover applies the blocked downgrade.
UPDATE dn_members SET active = false WHERE id = (SELECT min(id) FROM dn_members WHERE org_id = 'full');
CALL seats.close_due_cycles('2099-03-01 00:00-03');
SELECT * FROM dn;
SELECT org, kind, detail->>'seats_used' AS used, detail->>'to_limit' AS to_limit, at FROM seats.event
 WHERE org IN ('fits', 'full') AND kind IN ('downgrade_applied', 'downgrade_blocked', 'downgrade_held') ORDER BY at, org;

-- Three missed cycles are caught up in one run, each turned once.
SELECT org FROM seats.onboard('late', 'dn', 4, '2099-01-15');
SELECT id IS NOT NULL AS scheduled FROM seats.schedule_downgrade('late', 2);
CALL seats.close_due_cycles('2099-04-20 00:00-03');
SELECT * FROM dn WHERE org = 'late';
SELECT cycle_start, cycle_end, outcome FROM seats.turnover WHERE org = 'late' ORDER BY cycle_end;

-- A frozen org holds its downgrade at the turnover; it stays pending.
SELECT org FROM seats.onboard('frozen', 'dn', 4, '2099-01-01');
SELECT id IS NOT NULL AS scheduled FROM seats.schedule_downgrade('frozen', 2);
UPDATE seats.subscription SET frozen = true, frozen_reason = 'incident' WHERE org = 'frozen';
SELECT try($$SELECT seats.schedule_downgrade('frozen', 1)$$);
CALL seats.close_due_cycles('2099-02-01 00:00-03');
SELECT org, status FROM seats.change WHERE org = 'frozen' AND kind = 'downgrade';
UPDATE seats.subscription SET frozen = false, frozen_reason = NULL WHERE org = 'frozen';
CALL seats.close_due_cycles('2099-03-01 00:00-03');
SELECT * FROM dn WHERE org = 'frozen';

-- One org's failure is recorded and the others go on.
SELECT org FROM seats.onboard('broken', 'dn', 1, '2099-01-01');
SELECT org FROM seats.onboard('healthy', 'dn', 1, '2099-01-01');
UPDATE seats.subscription SET time_zone = 'Mars/Olympus' WHERE org = 'broken';
CALL seats.close_due_cycles('2099-02-01 00:00-03');
SELECT org, cycle_start FROM seats.subscription WHERE org IN ('broken', 'healthy') ORDER BY org;
SELECT org, kind, detail->>'sqlstate' AS sqlstate, detail->>'message' AS message FROM seats.event
 WHERE kind = 'turnover_failed';
UPDATE seats.subscription SET time_zone = 'America/Sao_Paulo' WHERE org = 'broken';
CALL seats.close_due_cycles('2099-02-01 00:00-03');
SELECT org, cycle_start FROM seats.subscription WHERE org = 'broken';

-- Inside a transaction block the procedure cannot commit per batch: refused
-- up front, whether anything is due or not.
\set VERBOSITY terse
BEGIN;
CALL seats.close_due_cycles('2099-12-01 00:00-03');
ROLLBACK;
BEGIN;
CALL seats.close_due_cycles('1999-01-01 00:00-03');
ROLLBACK;
\set VERBOSITY default
-- (try() runs it in an EXCEPTION block, a subtransaction: refused too.)
SELECT try($$CALL seats.close_due_cycles('2099-02-01 00:00-03')$$);
-- Called from a function (an atomic context, outside any BEGIN) it cannot
-- commit either: 25001 up front, not PostgreSQL's 2D000 at the first batch.
CREATE FUNCTION turn_over_from_a_function(p_as_of timestamptz) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    CALL seats.close_due_cycles(p_as_of);
END
$$;
CREATE FUNCTION turn_over_from_sql(p_as_of timestamptz) RETURNS void LANGUAGE sql
    AS $$ CALL seats.close_due_cycles(p_as_of) $$;
\set VERBOSITY terse
SELECT turn_over_from_a_function('2099-12-01 00:00-03');
SELECT turn_over_from_a_function('1999-01-01 00:00-03');
SELECT turn_over_from_sql('2099-12-01 00:00-03');
-- A DO block at top level is not atomic: it runs (nothing is due here).
DO $$ BEGIN CALL seats.close_due_cycles('1999-01-01 00:00-03'); END $$;
-- In a loop over a query that writes, PostgreSQL refuses any COMMIT
-- (55000); the procedure commits first thing, so that is every time too,
-- not only when a batch is due, and before any work.
CREATE TABLE turnover_side (x int);
INSERT INTO turnover_side VALUES (1);
DO $$ DECLARE r record; BEGIN
    FOR r IN UPDATE turnover_side SET x = x RETURNING * LOOP
        CALL seats.close_due_cycles('1999-01-01 00:00-03');
    END LOOP;
END $$;
DROP TABLE turnover_side;
\set VERBOSITY default
DROP FUNCTION turn_over_from_a_function(timestamptz), turn_over_from_sql(timestamptz);
\set VERBOSITY terse
SET default_transaction_isolation = 'repeatable read';
CALL seats.close_due_cycles('2099-02-01 00:00-03');
RESET default_transaction_isolation;
\set VERBOSITY default

-- The runbook §9 closing report.
SELECT * FROM seats.cycle_report('2099-01-01', '2099-12-31');
SELECT * FROM seats.cycle_report('2099-02-01 00:00-03', '2099-02-01 00:00:01-03');
SELECT try($$SELECT * FROM seats.cycle_report(NULL, now())$$);
