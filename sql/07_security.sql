-- Privileges: the application writes members without any right on seats.*,
SET datestyle = ISO, YMD;
SET timezone = 'America/Sao_Paulo';
-- cannot bypass the limit, and PUBLIC gets nothing that writes.
SELECT code FROM seats.create_plan('sec', 1);
CREATE ROLE crm_app LOGIN;
CREATE TABLE sec_members (id serial PRIMARY KEY, org_id text, role text, active boolean DEFAULT true);
ALTER TABLE sec_members OWNER TO crm_app;
SELECT org FROM seats.onboard('sec', 'sec', 1);
SELECT seats.attach('sec_members');

SET ROLE crm_app;
INSERT INTO sec_members (org_id, role) VALUES ('sec', 'broker');
SELECT try($$INSERT INTO sec_members (org_id, role) VALUES ('sec', 'broker')$$);
-- No way around it for the app, even as the table's owner.
SELECT try($$UPDATE seats.subscription SET seat_limit = 100$$);
SELECT try($$SELECT * FROM seats.subscription$$);
SELECT try($$SELECT seats.attach('sec_members')$$);
SELECT try($$SELECT seats.detach('sec_members')$$);
SELECT try($$SELECT seats.onboard('evil', 'sec', 100)$$);
SELECT try($$SELECT seats.create_plan('evil', 0)$$);
SELECT try($$SELECT seats.revalidate()$$);
SELECT try($$SELECT seats._lock_org('sec')$$);
SELECT try($$SELECT * FROM seats._relation_seats('sec_members', 'org_id', 'role', 'active', '{broker}')$$);
SELECT try($$SELECT seats._lock_all_orgs()$$);
SELECT try($$INSERT INTO seats.event (kind, hash) VALUES ('x', '\x00')$$);
SELECT try($$DROP TRIGGER broker_seats_insert ON sec_members$$);
SELECT try($$ALTER TABLE sec_members DISABLE TRIGGER USER$$);
SELECT try($$SET broker_seats.internal_ddl = on$$);
-- Pure functions stay open.
SELECT seats.customer_message('limit_reached', 'sec', 'en') IS NOT NULL AS can_read_texts;
RESET ROLE;
SELECT org, seats_used, seat_limit FROM seats.subscription WHERE org = 'sec';

-- What PUBLIC may execute in schema seats.
SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'seats' AND has_function_privilege('public', p.oid, 'EXECUTE') ORDER BY 1;
-- Every writing function is SECURITY DEFINER with a pinned search_path.
SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'seats' AND p.prosecdef
   AND NOT coalesce(p.proconfig @> '{"search_path=pg_catalog, pg_temp"}', false);

DROP TABLE sec_members;
DROP ROLE crm_app;
