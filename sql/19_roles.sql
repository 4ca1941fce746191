-- SPEC §7's roles: each may do exactly its column, and nothing else.
SELECT seats.create_standard_roles();
SELECT seats.create_standard_roles();  -- idempotent
SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'seats\_%' ORDER BY 1;
SELECT code FROM seats.create_plan('roles', 40);
SELECT (seats.onboard('role-a', 'roles', 2, '2034-12-01')).org;
CREATE TABLE role_members (id serial PRIMARY KEY, org_id text NOT NULL, role text NOT NULL,
                           active boolean NOT NULL DEFAULT true);
SELECT seats.attach('role_members');
SELECT id AS inc FROM seats.open_incident('P2', 'roles test') \gset

CREATE ROLE public_only;  -- what PUBLIC alone may do
-- Each call as a role: 'ok', or the SQLSTATE (42501 = refused).
CREATE FUNCTION as_role(p_role text, p_sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
BEGIN
    EXECUTE format('SET LOCAL ROLE %I', p_role);
    EXECUTE p_sql;
    RESET ROLE;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE;
    RETURN v_state;
END
$$;
CREATE TEMP TABLE calls (n serial, what text, sql text);
INSERT INTO calls (what, sql) VALUES
  ('read usage',            $$SELECT count(*) FROM seats.usage$$),
  ('read settings',         $$SELECT count(*) FROM seats.settings$$),
  ('create_plan',           $$SELECT seats.create_plan('roles-x', 1)$$),
  ('onboard',               $$SELECT seats.onboard('role-x', 'roles', 1, '2034-12-01')$$),
  ('quote_upgrade',         $$SELECT * FROM seats.quote_upgrade('role-a', 3, '2034-12-10')$$),
  ('upgrade',               $$SELECT seats.upgrade('role-a', 3, NULL, '2034-12-10')$$),
  ('request_upgrade',       $$SELECT seats.request_upgrade('role-a', 9)$$),
  ('schedule_downgrade',    $$SELECT seats.schedule_downgrade('role-a', 1)$$),
  ('cancel_change',         $$SELECT seats.cancel_change((seats.request_upgrade('role-a', 8)).id, 'x')$$),
  ('customer_message',      $$SELECT seats.customer_message('limit_reached', 'role-a')$$),
  ('set_customer_language', $$SELECT seats.set_customer_language('role-a', 'en')$$),
  ('daily_kpis',            $$SELECT * FROM seats.daily_kpis()$$),
  ('alerts',                $$SELECT * FROM seats.alerts()$$),
  ('daily_checklist',       $$SELECT * FROM seats.daily_checklist()$$),
  ('cycle_report',          $$SELECT * FROM seats.cycle_report(now() - interval '1 day', now())$$),
  ('open_incident',         $$SELECT seats.open_incident('P2', 'x')$$),
  ('close_incident',        $$SELECT seats.close_incident((seats.open_incident('P2', 'y')).id, NULL)$$),
  ('close_due_cycles',      $$CALL seats.close_due_cycles('2026-01-01')$$),
  ('freeze',                $$SELECT seats.freeze('x', 'role-a')$$),
  ('unfreeze',              $$SELECT seats.unfreeze('role-a')$$),
  ('revert_changes_since',  $$SELECT * FROM seats.revert_changes_since('2099-01-01', 1, 'x')$$),
  ('revalidate',            $$SELECT * FROM seats.revalidate('role-a')$$),
  ('verify_audit',          $$SELECT * FROM seats.verify_audit('role-a')$$),
  ('set_setting',           $$SELECT seats.set_setting('upgrade_sla', NULL)$$),
  ('attach',                $$SELECT seats.attach('role_members')$$),
  ('write a limit',         $$UPDATE seats.subscription SET seat_limit = 100$$),
  ('write a counter',       $$UPDATE seats.subscription SET seats_used = 0$$),
  ('write an event',        $$INSERT INTO seats.event (org, kind, hash) VALUES ('role-a', 'x', '\x00')$$),
  ('read subscriptions',    $$SELECT count(*) FROM seats.subscription$$),
  ('create_standard_roles', $$SELECT seats.create_standard_roles()$$);
UPDATE calls SET sql = replace(sql, 'seats.revert_changes_since(''2099-01-01'', 1,',
                               format('seats.revert_changes_since(''2099-01-01'', %s,', :inc));
-- close_due_cycles refuses a transaction block (25001), as_role runs in
-- one: the operator's 25001 means it got past the permission check. It runs
-- for real below, outside a transaction block.
SELECT c.what,
       as_role('seats_commercial', c.sql) AS commercial,
       as_role('seats_support', c.sql) AS support,
       as_role('seats_operator', c.sql) AS operator,
       as_role('seats_app', c.sql) AS app,
       as_role('public_only', c.sql) AS public
  FROM calls c
 ORDER BY c.n;
SELECT r AS role, has_function_privilege(r, 'seats.close_due_cycles(timestamptz, int)', 'EXECUTE') AS close_due_cycles
  FROM unnest(ARRAY['seats_commercial', 'seats_support', 'seats_operator', 'seats_app']) r;
SET ROLE seats_operator;
CALL seats.close_due_cycles('2026-01-01');
RESET ROLE;
SET ROLE seats_support;
CALL seats.close_due_cycles('2026-01-01');
RESET ROLE;
-- PUBLIC can execute nothing that writes: only pure functions and texts.
SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'seats' AND has_function_privilege('public_only', p.oid, 'EXECUTE') ORDER BY 1;

-- The CRM's own role: DML on its members table and seats_app. It adds
-- brokers within the limit and cannot get past the trigger or the counter.
CREATE ROLE crm_writer;
GRANT seats_app TO crm_writer;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON role_members TO crm_writer;
GRANT USAGE ON SEQUENCE role_members_id_seq TO crm_writer;
SET ROLE crm_writer;
SELECT seats_used, seat_limit FROM seats.usage WHERE org = 'role-a';
INSERT INTO role_members (org_id, role) SELECT 'role-a', 'broker' FROM generate_series(1, 3 - (SELECT seats_used FROM seats.usage WHERE org = 'role-a'));
INSERT INTO role_members (org_id, role) VALUES ('role-a', 'broker');
SELECT try($$ALTER TABLE role_members DISABLE TRIGGER USER$$);
SELECT try($$UPDATE seats.subscription SET seat_limit = 100 WHERE org = 'role-a'$$);
SELECT try($$SELECT seats.upgrade('role-a', 10)$$);
SELECT amount IS NOT NULL AS can_quote FROM seats.quote_upgrade('role-a', 4);
RESET ROLE;
SELECT seats_used, seat_limit FROM seats.usage WHERE org = 'role-a';

-- attach: the table's owner with seats_operator, or a superuser.
CREATE ROLE tbl_owner;
CREATE TABLE owned_members (id serial, org_id text, role text, active boolean);
ALTER TABLE owned_members OWNER TO tbl_owner;
SET ROLE tbl_owner;
SELECT try($$SELECT seats.attach('owned_members')$$);
RESET ROLE;
GRANT seats_operator TO tbl_owner;
SET ROLE seats_operator;
SELECT try($$SELECT seats.attach('owned_members')$$);  -- an operator, not the owner
RESET ROLE;
SET ROLE tbl_owner;
SELECT try($$SELECT seats.attach('owned_members')$$);
SELECT try($$SELECT seats.detach('owned_members')$$);
RESET ROLE;

DROP TABLE owned_members;
REVOKE ALL ON role_members FROM crm_writer;
REVOKE ALL ON SEQUENCE role_members_id_seq FROM crm_writer;
DROP ROLE crm_writer;
DROP ROLE tbl_owner;
DROP ROLE public_only;
DROP FUNCTION as_role(text, text);
