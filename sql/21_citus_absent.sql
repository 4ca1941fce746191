-- Without Citus (docs/citus.md): seats.distribute() refuses with 0A000, and
-- the Citus paths are not taken: every org's rows are here, and the
-- relation holding them is the table itself.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP DATABASE IF EXISTS broker_seats_citus_absent;
CREATE DATABASE broker_seats_citus_absent;
\c broker_seats_citus_absent
\set VERBOSITY terse
CREATE EXTENSION broker_seats;
SELECT seats.distribute('seats.plan');
SELECT seats.distribute(NULL);
SELECT seats._distributed(), seats._org_here('any org'), seats._is_citus_table('seats.subscription');
SELECT seats._rows_of('seats.subscription', 'any org'), seats._rows_of('seats.plan', NULL);
-- The twins work on one node too (they only name the org first).
SELECT seats.create_plan('p', 10) IS NOT NULL AS plan;
SELECT org, seat_limit FROM seats._onboard_at('acme', 'p', 2, '2030-11-01', 'America/Sao_Paulo');
SELECT amount FROM seats._quote_upgrade_at('acme', 3, '2030-11-21 12:00-03');
SELECT status, to_limit FROM seats._upgrade_at('acme', 3, NULL, '2030-11-21 12:00-03');
SELECT * FROM seats._recount_at('acme', 'check', false);
SELECT seats._turn_over_at('acme', '2030-12-01 00:00-03');
SELECT count(*) FROM seats.turnover;
\c postgres
DROP DATABASE broker_seats_citus_absent;
