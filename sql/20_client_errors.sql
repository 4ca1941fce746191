-- What a client sees of the extension's errors and notices (issue 12):
-- SQLSTATE, message, DETAIL and HINT, and no CONTEXT lines naming the
-- extension's internal functions; the frames of the caller's own code stay.
-- Each case starts a new session, so the library is loaded by the call
-- itself (its error hook has to be in place from the first statement).
SET client_min_messages = warning;
DROP DATABASE IF EXISTS broker_seats_clients;
CREATE DATABASE broker_seats_clients;
\c broker_seats_clients
CREATE EXTENSION broker_seats;
RESET client_min_messages;
SELECT code FROM seats.create_plan('cli', 50);
SELECT org FROM seats.onboard('cli-a', 'cli', 3, '2034-09-01');
CREATE TABLE cli_members (id serial PRIMARY KEY, org_id text NOT NULL, role text NOT NULL,
                          active boolean NOT NULL DEFAULT true);
SELECT seats.attach('cli_members');
INSERT INTO cli_members (org_id, role) VALUES ('cli-a', 'broker'), ('cli-a', 'broker'), ('cli-a', 'broker');
CREATE FUNCTION add_broker(p_org text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cli_members (org_id, role) VALUES (p_org, 'broker');
END
$$;
CREATE FUNCTION my_upgrade(p_org text, p_limit int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM seats.upgrade(p_org, p_limit);
END
$$;
\set VERBOSITY default
\set SHOW_CONTEXT always

-- Errors raised deep inside the extension's PL/pgSQL: no CONTEXT at all.
\c
SELECT * FROM seats.schedule_downgrade('nobody', 1);
\c
SELECT * FROM seats.schedule_downgrade(NULL, 1);
\c
SELECT * FROM seats.schedule_downgrade('cli-a', 5);
\c
SELECT * FROM seats.upgrade('cli-a', 2);
\c
SELECT seats.set_setting('no_such_setting', '1');
\c
SELECT seats.customer_message('no_such_kind', 'cli-a');
\c
SELECT seats.open_incident('P9', 'a typo');
\c
SELECT seats.create_plan('cli2', 10, 'BRL', 'weekly');
\c
SELECT seats.freeze(NULL);
\c
BEGIN;
CALL seats.close_due_cycles('2034-12-01');
ROLLBACK;

-- SB001 from a plain INSERT, and from inside the caller's function: the
-- caller's frame is kept, nothing of the extension's.
\c
INSERT INTO cli_members (org_id, role) VALUES ('cli-a', 'broker');
\c
SELECT add_broker('cli-a');
-- The caller's function around a public one keeps its own lines only.
\c
SELECT my_upgrade('cli-a', 2);

-- A downgrade below today's active brokers: the NOTICE has no CONTEXT, and
-- the result says how many brokers are above the new limit, for drivers
-- and ORMs that never show a NOTICE.
\c
SELECT org, from_limit, to_limit, status, brokers_over_new_limit FROM seats.schedule_downgrade('cli-a', 1);
-- Replayed with the same request key: the same row, the same count.
SELECT org, to_limit, brokers_over_new_limit FROM seats.schedule_downgrade('cli-a', 2, 'ticket-9');
SELECT org, to_limit, brokers_over_new_limit FROM seats.schedule_downgrade('cli-a', 2, 'ticket-9');
-- A downgrade that fits says 0.
UPDATE cli_members SET active = false WHERE id = 3;
SELECT org, to_limit, brokers_over_new_limit FROM seats.schedule_downgrade('cli-a', 2);
-- Upgrades and other changes leave it NULL.
SELECT kind, count(*) FILTER (WHERE brokers_over_new_limit IS NOT NULL) AS with_count FROM seats.change
 GROUP BY kind ORDER BY kind;

-- Every public function and procedure, called with bad arguments: no error
-- carries a CONTEXT line of the extension's own frames. The calls are
-- generated from the catalog, so a function added later is called too:
-- each argument NULL; each one a value that is wrong for its type (an
-- unknown organization or change, a negative number, an infinite time);
-- and the same with the one known organization for every text, so that the
-- calls get past the lookup to the checks behind it.
\set VERBOSITY default
\set SHOW_CONTEXT always
-- The statements, one per function and variant: all arguments NULL; then
-- bad values by type (text: an unknown org/code/kind, or the known org;
-- integers: -1 for limits, 999999 for ids; numeric -1; date/time: infinity;
-- regclass: a catalog table; text[]: an unknown org; boolean: false).
CREATE TABLE battery_before AS
SELECT (SELECT count(*) FROM seats.change) AS changes, (SELECT count(*) FROM seats.event) AS events,
       (SELECT string_agg(org || ':' || seat_limit || ':' || frozen, ',' ORDER BY org) FROM seats.subscription) AS limits;
CREATE TEMP TABLE calls AS
WITH f AS (
    SELECT p.oid, p.proname, p.prokind, p.proargtypes::oid[] AS types
      FROM pg_proc p
     WHERE p.pronamespace = 'seats'::regnamespace AND p.proname !~ '^_'
       AND p.prorettype <> 'trigger'::regtype AND p.pronargs > 0
       AND p.proname NOT IN ('distribute')   -- Citus only: sql/21_citus_absent.sql
), v(variant) AS (VALUES (1), (2), (3))
SELECT f.proname, v.variant,
       CASE f.prokind WHEN 'p' THEN 'CALL ' ELSE 'SELECT * FROM ' END
       || 'seats.' || quote_ident(f.proname) || '('
       || (SELECT string_agg(
                CASE WHEN v.variant = 1 THEN 'NULL::' || format_type(t, NULL)
                     ELSE CASE t
                          WHEN 'text'::regtype THEN quote_literal(CASE v.variant WHEN 2 THEN 'no-such-thing' ELSE 'cli-a' END)
                          WHEN 'name'::regtype THEN quote_literal('no_such_column') || '::name'
                          WHEN 'integer'::regtype THEN '-1'
                          WHEN 'bigint'::regtype THEN '999999::bigint'
                          WHEN 'numeric'::regtype THEN '-1::numeric'
                          WHEN 'date'::regtype THEN quote_literal('infinity') || '::date'
                          WHEN 'timestamptz'::regtype THEN quote_literal('infinity') || '::timestamptz'
                          WHEN 'regclass'::regtype THEN quote_literal('pg_class') || '::regclass'
                          WHEN 'text[]'::regtype THEN quote_literal('{no-such-thing}') || '::text[]'
                          WHEN 'boolean'::regtype THEN 'false'
                          END
                END, ', ' ORDER BY n)
             FROM unnest(f.types) WITH ORDINALITY AS a(t, n))
       || ')' AS stmt
  FROM f, v;
-- Every type of an argument has a bad value above.
SELECT proname, stmt FROM calls WHERE stmt IS NULL;
SELECT count(DISTINCT proname) >= 28 AS enough_functions FROM calls;
-- Each call in a session of its own, as a client's first statement: the
-- library (and its error hook) must be loaded by the call itself. The
-- statements go to a file that is then run, \c before each.
-- (psql names the file in each error: run it from its own directory.)
\getenv abs_builddir PG_ABS_BUILDDIR
\set results_dir :abs_builddir '/results'
\cd :results_dir
\t on
\pset format unaligned
\o 20_client_errors_calls.sql
SELECT E'\\c\n' || stmt || ';' FROM calls ORDER BY proname, variant, stmt;
-- The append-only trigger of the audit trail, as a superuser's first statement.
SELECT E'\\c\nDELETE FROM seats.event WHERE id = 1;';
\o
\t off
\pset format aligned
\i 20_client_errors_calls.sql
\set VERBOSITY terse
-- The rule that finds the extension's frames knows a public SQL function
-- as the wrapper of the internal one of the same name: a public SQL
-- function that calls anything else leaves its frame in the CONTEXT.
SELECT p.proname, m[1] AS also_calls
  FROM pg_proc p, regexp_matches(p.prosrc, 'seats\.(\w+)', 'g') AS m
 WHERE p.pronamespace = 'seats'::regnamespace AND p.proname !~ '^_'
   AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'sql')
   AND m[1] <> '_' || p.proname;
-- Nothing of the above changed a limit or a freeze, or wrote a change or an event.
SELECT b.changes = (SELECT count(*) FROM seats.change) AS no_change,
       b.events = (SELECT count(*) FROM seats.event) AS no_event,
       b.limits = (SELECT string_agg(org || ':' || seat_limit || ':' || frozen, ',' ORDER BY org)
                     FROM seats.subscription) AS same_limits
  FROM battery_before b;
DROP TABLE battery_before;

-- A bad broker_seats.language set before the library is loaded is kept as
-- a placeholder; loading the library then warns and falls back to the
-- default, and that warning carries no CONTEXT of ours either.
\set VERBOSITY default
\c
SET broker_seats.language = 'klingon';
SELECT left(seats.customer_message('upgrade_applied', NULL), 19) AS text;
SHOW broker_seats.language;

-- Blank is nothing to read, not only spaces: tabs, line breaks, no-break
-- and zero-width spaces (core::is_blank), for every argument that must say
-- something. Each is 22023 before anything is written.
\set VERBOSITY terse
SELECT seats.upgrade('cli-a', 9, E'\t');
SELECT seats.request_upgrade('cli-a', 9, U&'\00A0');
SELECT seats.schedule_downgrade('cli-a', 1, E' \r\n');
SELECT seats.cancel_change(999999, U&'\200B');
SELECT seats.create_plan(E'\t', 1);
SELECT seats.attach('cli_members', seat_roles => ARRAY['broker', E'\n']);
SELECT seats.open_incident('P2', U&'\3000');
SELECT seats.freeze(E'\t', 'cli-a');
SELECT id AS blank_incident FROM seats.open_incident('P1', 'blank arguments') \gset
SELECT seats.close_incident(:blank_incident, U&'\FEFF ');
SELECT seats.revert_change(999999, :blank_incident, E'\t\t');
SELECT count(*) AS blank_keys FROM seats.change WHERE seats._blank(request_key);
SELECT seat_roles FROM seats.attachment WHERE relid = 'cli_members'::regclass;
\set VERBOSITY default
