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
