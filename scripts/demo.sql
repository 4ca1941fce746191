-- broker_seats: the runbook, played end to end in psql.
\set QUIET on
\pset null '·'
\set VERBOSITY default
\set SHOW_CONTEXT never
SET client_min_messages = notice;
SET datestyle = ISO, DMY;
SET timezone = 'America/Sao_Paulo';
CREATE EXTENSION broker_seats;
\set QUIET off

\echo
\echo '== Runbook §4.1 — onboarding: a plan, an organization with 3 broker seats'
SELECT code, seat_price, currency, billing_period, proration
  FROM seats.create_plan('imob-pro', 89.90, 'BRL', 'monthly', 'day', 'Imobiliária Pro');
SELECT org, plan, seat_limit, seats_used, cycle_start, cycle_end, time_zone
  FROM seats.onboard('imobiliaria-sol', 'imob-pro', 3);

\echo '== The CRM''s members table, put under enforcement (seats.attach)'
CREATE TABLE crm_members (
    id         bigserial PRIMARY KEY,
    org_id     text NOT NULL,
    name       text NOT NULL,
    role       text NOT NULL CHECK (role IN ('owner', 'manager', 'broker')),
    active     boolean NOT NULL DEFAULT true
);
SELECT 'crm_members' AS attached_table, '{broker}' AS seat_roles
  FROM seats.attach('crm_members', 'org_id', 'role', 'active', '{broker}');

\echo '== Owner and manager never use a seat; three brokers fill the plan'
INSERT INTO crm_members (org_id, name, role) VALUES
    ('imobiliaria-sol', 'Ana (dona)', 'owner'),
    ('imobiliaria-sol', 'Bruno (gerente)', 'manager'),
    ('imobiliaria-sol', 'Carla', 'broker'),
    ('imobiliaria-sol', 'Diego', 'broker'),
    ('imobiliaria-sol', 'Eva', 'broker');
SELECT org, seat_limit, seats_used, seats_free, over_limit FROM seats.usage;

\echo '== Runbook §4.4 — a fourth broker is refused (SB001), with the customer text'
INSERT INTO crm_members (org_id, name, role) VALUES ('imobiliaria-sol', 'Fábio', 'broker');

\echo '== Support frees a seat by deactivating an inactive broker, then adds Fábio again'
UPDATE crm_members SET active = false WHERE name = 'Diego';
INSERT INTO crm_members (org_id, name, role) VALUES ('imobiliaria-sol', 'Fábio', 'broker');
SELECT name, role, active FROM crm_members ORDER BY id;

\echo '== Reactivating Diego is a new seat: refused while the plan is full'
UPDATE crm_members SET active = true WHERE name = 'Diego';

\echo '== seats.usage: used/limit per organization'
SELECT org, plan, seat_limit, seats_used, seats_free, over_limit, cycle_start, cycle_end, frozen FROM seats.usage;

\echo '== seats.revalidate(): the counter matches the members table'
SELECT * FROM seats.revalidate();

\echo '== The audit trail (hash-chained per organization)'
SELECT id, coalesce(org, '(global)') AS org, kind, to_char(at, 'DD/MM HH24:MI') AS at,
       left(encode(hash, 'hex'), 12) AS hash
  FROM seats.event ORDER BY id;
