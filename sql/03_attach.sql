-- seats.attach / seats.detach: key and active-column types, seat roles,
SET datestyle = ISO, YMD;
SET timezone = 'America/Sao_Paulo';
-- counting what is already there.
SELECT code FROM seats.create_plan('basic', 10);

-- bigint org keys, boolean active: existing brokers are counted on attach.
CREATE TABLE crm_bigint (id serial PRIMARY KEY, org_id bigint, role text, active boolean NOT NULL DEFAULT true);
INSERT INTO crm_bigint (org_id, role, active) VALUES
  (101, 'broker', true), (101, 'broker', false), (101, 'owner', true), (101, 'manager', true), (102, 'broker', true);
SELECT org, seats_used FROM seats.onboard('101', 'basic', 2);
SELECT seats.attach('crm_bigint');
SELECT org, seat_limit, seats_used, seats_free, over_limit FROM seats.usage WHERE org = '101';
INSERT INTO crm_bigint (org_id, role) VALUES (101, 'broker');
SELECT try($$INSERT INTO crm_bigint (org_id, role) VALUES (101, 'broker')$$);
SELECT org, seats_used FROM seats.subscription WHERE org = '101';

-- integer keys.
CREATE TABLE crm_int (org_id integer, role text, active boolean);
SELECT org FROM seats.onboard('7', 'basic', 1);
SELECT seats.attach('crm_int');
INSERT INTO crm_int VALUES (7, 'broker', true);
SELECT try($$INSERT INTO crm_int VALUES (7, 'broker', true)$$);
INSERT INTO crm_int VALUES (7, 'broker', NULL);  -- NULL is not active
SELECT org, seats_used FROM seats.subscription WHERE org = '7';

-- uuid keys and a nullable deactivation timestamp (NULL = active), with
-- custom column names.
CREATE TABLE crm_uuid (org uuid, kind text, deactivated_at timestamptz);
SELECT org FROM seats.onboard('6f1c0000-0000-4000-8000-00000000abcd', 'basic', 1);
SELECT seats.attach('crm_uuid', 'org', 'kind', 'deactivated_at');
INSERT INTO crm_uuid VALUES ('6F1C0000-0000-4000-8000-00000000ABCD', 'broker', NULL);
SELECT try($$INSERT INTO crm_uuid VALUES ('6f1c0000-0000-4000-8000-00000000abcd', 'broker', NULL)$$);
INSERT INTO crm_uuid VALUES ('6f1c0000-0000-4000-8000-00000000abcd', 'broker', now());
-- Reactivation by clearing the timestamp is a new seat.
SELECT try($$UPDATE crm_uuid SET deactivated_at = NULL WHERE deactivated_at IS NOT NULL$$);
UPDATE crm_uuid SET deactivated_at = now() WHERE deactivated_at IS NULL;
UPDATE crm_uuid SET deactivated_at = NULL WHERE kind = 'broker' AND ctid = (SELECT min(ctid) FROM crm_uuid);
SELECT org, seats_used FROM seats.subscription WHERE org LIKE '6f1c%';

-- text keys, a timestamp without time zone, and custom seat roles.
CREATE TABLE crm_text (org_id text, role varchar(20), left_at timestamp);
SELECT org FROM seats.onboard('t-1', 'basic', 2);
SELECT seats.attach('crm_text', 'org_id', 'role', 'left_at', '{broker,junior_broker}');
INSERT INTO crm_text VALUES ('t-1', 'junior_broker', NULL), ('t-1', 'broker', NULL), ('t-1', 'owner', NULL);
SELECT try($$INSERT INTO crm_text VALUES ('t-1', 'junior_broker', NULL)$$);
SELECT org, seats_used FROM seats.subscription WHERE org = 't-1';

-- Attaching a table whose brokers exceed a limit works and shows the org
-- over limit: nobody is deactivated, new seats are refused.
CREATE TABLE crm_legacy (org_id text, role text, active boolean);
INSERT INTO crm_legacy SELECT 'legacy', 'broker', true FROM generate_series(1, 4);
SELECT org FROM seats.onboard('legacy', 'basic', 2);
SELECT seats.attach('crm_legacy');
SELECT org, seat_limit, seats_used, seats_free, over_limit FROM seats.usage WHERE org = 'legacy';
SELECT count(*) AS still_active FROM crm_legacy WHERE active;
SELECT try($$INSERT INTO crm_legacy VALUES ('legacy', 'broker', true)$$);
UPDATE crm_legacy SET active = false WHERE ctid = (SELECT min(ctid) FROM crm_legacy);
SELECT org, seats_used, over_limit FROM seats.usage WHERE org = 'legacy';

-- Seats of one org add up across attached tables.
UPDATE crm_legacy SET active = false WHERE ctid IN (SELECT ctid FROM crm_legacy WHERE active LIMIT 2);
INSERT INTO crm_text VALUES ('legacy', 'broker', NULL);
SELECT try($$INSERT INTO crm_text VALUES ('legacy', 'broker', NULL)$$);
SELECT * FROM seats.revalidate('legacy');

-- Re-attaching with another mapping replaces the triggers and recounts.
SELECT seats.attach('crm_text', 'org_id', 'role', 'left_at', '{broker}');
SELECT org, seats_used FROM seats.subscription WHERE org = 't-1';
SELECT tgname, pg_get_triggerdef(oid) LIKE '%junior%' AS has_junior FROM pg_trigger
 WHERE tgrelid = 'crm_text'::regclass ORDER BY 1;

-- Bad arguments.
CREATE TABLE crm_bad (org_id numeric, role text, active text, org2 bigint);
CREATE VIEW crm_view AS SELECT * FROM crm_bigint;
SELECT try($$SELECT seats.attach('crm_view')$$);
SELECT try($$SELECT seats.attach('crm_bad')$$);
SELECT try($$SELECT seats.attach('crm_bad', 'org2', 'role', 'active')$$);
SELECT try($$SELECT seats.attach('crm_bad', 'nope')$$);
SELECT try($$SELECT seats.attach('crm_bad', 'org2', 'nope')$$);
SELECT try($$SELECT seats.attach('crm_bad', 'org2', 'role', 'nope')$$);
SELECT try($$SELECT seats.attach('crm_bigint', 'org_id', 'role', 'active', '{}')$$);
SELECT try($$SELECT seats.attach('crm_bigint', 'org_id', 'role', 'active', '{broker,NULL}')$$);
-- An empty or blank role name is a typo, not a role (on a text column any
-- string would otherwise do).
SELECT try($$SELECT seats.attach('crm_bigint', 'org_id', 'role', 'active', '{""}')$$);
SELECT try($$SELECT seats.attach('crm_bigint', 'org_id', 'role', 'active', '{broker," "}')$$);
SELECT try($$SELECT seats.attach(NULL)$$);
SELECT try($$SELECT seats.detach('crm_bad')$$);

-- Detach removes the triggers and recounts without the table.
SELECT seats.detach('crm_int');
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgrelid = 'crm_int'::regclass;
INSERT INTO crm_int VALUES (7, 'broker', true), (7, 'broker', true);
SELECT org, seats_used FROM seats.subscription WHERE org = '7';
SELECT relid, org_column, role_column, active_column, active_kind, seat_roles FROM seats.attachment ORDER BY relid::text;

-- Seat columns of an attached table cannot be renamed, dropped or retyped
-- from under the triggers; other DDL goes through.
SELECT try($$ALTER TABLE crm_bigint RENAME COLUMN org_id TO organization_id$$);
SELECT try($$ALTER TABLE crm_legacy DROP COLUMN active$$);
SELECT try($$ALTER TABLE crm_legacy ALTER COLUMN org_id TYPE numeric USING 0$$);
ALTER TABLE crm_bigint ADD COLUMN email text;
ALTER TABLE crm_bigint RENAME COLUMN email TO mail;
INSERT INTO crm_bigint (org_id, role, mail) VALUES (101, 'owner', 'x@example.com');
