-- The extension installs into schema seats, and its C++ boundary turns every
-- kind of failure into a clean ERROR with the right SQLSTATE.
CREATE EXTENSION broker_seats;
\dx broker_seats

SELECT c.relname, c.relkind
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'seats' AND c.relkind IN ('r', 'v')
 ORDER BY 1;

-- Extension tables round-trip through pg_dump.
SELECT c.relname FROM pg_extension e, unnest(e.extconfig) cfg JOIN pg_class c ON c.oid = cfg
 WHERE e.extname = 'broker_seats' ORDER BY 1;

-- Not relocatable.
ALTER EXTENSION broker_seats SET SCHEMA public;

-- Helper for the suite: runs a statement, shows the SQLSTATE and message of
-- its error, or ok.
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
    RETURN v_state || ': ' || v_message || CASE WHEN v_detail <> '' THEN ' [' || v_detail || ']' ELSE '' END;
END
$$;

-- A core (C++) exception becomes an ERROR with its SQLSTATE, DETAIL and HINT.
\set VERBOSITY default
SELECT seats._boundary_selftest('core');
-- std::bad_alloc is out_of_memory, any other C++ exception an internal error
-- naming the function; a PostgreSQL error raised while C++ objects are alive
-- keeps its own SQLSTATE (22012 division_by_zero).
SELECT try($$SELECT seats._boundary_selftest('core')$$);
SELECT try($$SELECT seats._boundary_selftest('bad_alloc')$$);
SELECT try($$SELECT seats._boundary_selftest('std')$$);
SELECT try($$SELECT seats._boundary_selftest('postgres')$$);
-- A C++ exception thrown inside pg_call's PG_TRY leaves the error stack
-- restored: the PostgreSQL errors after it are still caught where they
-- should be, outside and inside try().
SELECT seats._boundary_selftest('throw_in_pg_call');
SELECT try($$SELECT seats._boundary_selftest('throw_in_pg_call')$$);
SELECT 1 / 0;
SELECT try($$SELECT 1 / 0$$);
SELECT seats._boundary_selftest(NULL);
-- The same connection keeps working after each of them.
SELECT seats._boundary_selftest('fine'), 1 + 1 AS still_working;

-- Customer texts of runbook §10 (pt_BR by default, en on request).
SELECT seats.customer_message('limit_reached', 'any');
SELECT seats.customer_message('upgrade_applied', 'any');
SELECT seats.customer_message('downgrade_scheduled', 'any');
SELECT seats.customer_message('limit_reached', 'any', 'en');
SET broker_seats.language = 'en';
SELECT seats.customer_message('downgrade_scheduled', 'any');
RESET broker_seats.language;
SELECT try($$SELECT seats.customer_message('bogus', 'any')$$);
SELECT try($$SELECT seats.customer_message('limit_reached', 'any', 'fr')$$);
SELECT try($$SET broker_seats.language = 'fr'$$);
