-- Runbook §10 texts filled with the organization's numbers, in its
-- language: per organization (no session state, so a transaction-pooling
-- proxy cannot mix customers), else broker_seats.language.
SET TimeZone = 'America/Sao_Paulo';
SELECT code FROM seats.create_plan('msg', 25);
SELECT (seats.onboard('msg-a', 'msg', 2, '2034-07-01', 'America/Manaus')).org;
SELECT (seats.onboard('msg-b', 'msg', 2, '2034-07-01')).org;
CREATE TABLE msg_members (id serial PRIMARY KEY, org_id text NOT NULL, role text NOT NULL,
                          active boolean NOT NULL DEFAULT true);
SELECT seats.attach('msg_members');
INSERT INTO msg_members (org_id, role) VALUES ('msg-a', 'broker'), ('msg-a', 'broker'), ('msg-b', 'broker');

-- The runbook's words stay a prefix; the numbers follow.
SELECT seats.customer_message('limit_reached', 'msg-a');
SELECT seats.customer_message('limit_reached', 'msg-a', 'en');
SELECT seats.customer_message('upgrade_applied', 'msg-b', 'en');
SELECT seats.customer_message('downgrade_scheduled', 'msg-b', 'en');
SELECT (seats.schedule_downgrade('msg-b', 1, 'msg-down')).status;
-- The date is the org's local date of the turnover.
SELECT seats.customer_message('downgrade_scheduled', 'msg-b');
SELECT seats.customer_message('downgrade_scheduled', 'msg-b', 'en');
SELECT (seats.upgrade('msg-a', 4, 'msg-up', '2034-07-16 12:00-03')).to_limit;
SELECT seats.customer_message('upgrade_applied', 'msg-a');
SELECT starts_with(seats.customer_message('limit_reached', 'msg-a'),
                   seats.customer_message('limit_reached', NULL)) AS runbook_prefix;
-- No org, or one without a subscription: the runbook's words alone.
SELECT seats.customer_message('upgrade_applied', NULL, 'en');
SELECT seats.customer_message('upgrade_applied', 'nobody', 'en');

-- The org's language: SB001 and the texts follow it, whatever the session says.
SELECT (seats.set_customer_language('msg-a', 'en')).language;
SELECT seats.customer_message('limit_reached', 'msg-a');
SELECT seats.customer_message('limit_reached', 'msg-a', 'pt_BR');  -- an explicit lang wins
INSERT INTO msg_members (org_id, role) VALUES ('msg-a', 'broker'), ('msg-a', 'broker');
INSERT INTO msg_members (org_id, role) VALUES ('msg-a', 'broker');
SET broker_seats.language = 'pt_BR';
INSERT INTO msg_members (org_id, role) VALUES ('msg-a', 'broker');
INSERT INTO msg_members (org_id, role) VALUES ('msg-b', 'broker'), ('msg-b', 'broker');
-- msg-b follows the setting; with 'en' it is English.
SET broker_seats.language = 'en';
INSERT INTO msg_members (org_id, role) VALUES ('msg-b', 'broker'), ('msg-b', 'broker');
SELECT seats.customer_message('limit_reached', 'msg-b');
RESET broker_seats.language;
SELECT (seats.set_customer_language('msg-a', 'pt-BR')).language;  -- canonical name stored
SELECT (seats.set_customer_language('msg-a', NULL)).language;     -- back to the setting
SELECT org, language FROM seats.usage WHERE org LIKE 'msg-%' ORDER BY org;
SELECT kind, detail FROM seats.event WHERE org = 'msg-a' AND kind = 'language_set' ORDER BY id;
SELECT try($$SELECT seats.set_customer_language('msg-a', 'fr')$$);
SELECT try($$SELECT seats.set_customer_language('nobody', 'en')$$);
SELECT try($$SELECT seats.set_customer_language(NULL, 'en')$$);
SELECT try($$SELECT seats.customer_message('bogus', 'msg-a')$$);
SELECT try($$SELECT seats.customer_message(NULL, 'msg-a')$$);
SELECT try($$SELECT seats.customer_message('limit_reached', 'msg-a', 'fr')$$);

-- Numbers only for a caller who may read seats.usage; others get the words.
CREATE ROLE msg_reader;
CREATE ROLE msg_stranger;
GRANT SELECT ON seats.usage TO msg_reader;
SET ROLE msg_reader;
SELECT seats.customer_message('limit_reached', 'msg-b', 'en');
SET ROLE msg_stranger;
SELECT seats.customer_message('limit_reached', 'msg-b', 'en');
SELECT try($$SELECT seats.set_customer_language('msg-a', 'en')$$);
RESET ROLE;
REVOKE SELECT ON seats.usage FROM msg_reader;
DROP ROLE msg_reader;
DROP ROLE msg_stranger;

-- SB001 fills PostgreSQL's standard error fields, for drivers and ORMs that
-- report them: the member table's schema and name, and a constraint name.
DO $$
DECLARE
    v_state text; v_schema text; v_table text; v_constraint text;
BEGIN
    INSERT INTO msg_members (org_id, role) VALUES ('msg-b', 'broker'), ('msg-b', 'broker');
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_schema = SCHEMA_NAME, v_table = TABLE_NAME,
                            v_constraint = CONSTRAINT_NAME;
    RAISE NOTICE 'sqlstate %, schema %, table %, constraint %', v_state, v_schema, v_table, v_constraint;
END
$$;
-- SB002 from a member-table write (a broker of an organization with no
-- subscription) fills them too, with its own constraint name.
DO $$
DECLARE
    v_state text; v_schema text; v_table text; v_constraint text;
BEGIN
    INSERT INTO msg_members (org_id, role) VALUES ('msg-nobody', 'broker');
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_schema = SCHEMA_NAME, v_table = TABLE_NAME,
                            v_constraint = CONSTRAINT_NAME;
    RAISE NOTICE 'sqlstate %, schema %, table %, constraint %', v_state, v_schema, v_table, v_constraint;
END
$$;

-- A language has the same names everywhere, in any case: the setting,
-- set_customer_language and customer_message take pt_BR, pt-BR, pt and en.
SET broker_seats.language = 'pt';
SHOW broker_seats.language;
SET broker_seats.language = 'EN';
SHOW broker_seats.language;
RESET broker_seats.language;
SELECT (seats.set_customer_language('msg-a', 'EN')).language;
SELECT (seats.set_customer_language('msg-a', 'Pt')).language;
SELECT left(seats.customer_message('upgrade_applied', 'msg-a', 'EN'), 19) AS english;
SELECT (seats.set_customer_language('msg-a', NULL)).language;
\set VERBOSITY terse
SET broker_seats.language = 'fr';
\set VERBOSITY default
