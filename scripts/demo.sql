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

\echo '== Runbook §5 — both refusals rolled back, yet the block recorder kept them (within a second)'
SELECT pg_sleep(1) AS waited \gset
SELECT org, detail->>'used' || '/' || (detail->>'limit') AS "usados/limite", detail->>'table' AS member_table,
       to_char(at, 'DD/MM HH24:MI:SS') AS at
  FROM seats.event WHERE kind = 'seat_blocked' ORDER BY id;
SELECT day, blocks, upgrades_applied, downgrades_scheduled FROM seats.daily_kpis();

\echo '== seats.usage: used/limit per organization'
SELECT org, plan, seat_limit, seats_used, seats_free, over_limit, cycle_start, cycle_end, frozen FROM seats.usage;

\echo '== Runbook §4.2 — an immediate upgrade, charged pro rata for the rest of the cycle'
SELECT * FROM seats.quote_upgrade('imobiliaria-sol', 5);
SELECT from_limit, to_limit, seat_price, units_remaining, units_in_cycle, amount, currency
  FROM seats.upgrade('imobiliaria-sol', 5, 'crm-ticket-123');
SELECT seats.customer_message('upgrade_applied', 'imobiliaria-sol') AS to_the_customer;
INSERT INTO crm_members (org_id, name, role) VALUES ('imobiliaria-sol', 'Gabi', 'broker');
SELECT org, seat_limit, seats_used, seats_free FROM seats.usage;

\echo '== Runbook §4.3 — downgrades for the next cycle: one will fit, one will not'
SELECT org, seat_limit FROM seats.onboard('imobiliaria-lua', 'imob-pro', 4);
INSERT INTO crm_members (org_id, name, role) VALUES
    ('imobiliaria-lua', 'Hugo', 'broker'), ('imobiliaria-lua', 'Iara', 'broker');
SELECT org, from_limit, to_limit, status, effective_at FROM seats.schedule_downgrade('imobiliaria-lua', 2);
SELECT org, from_limit, to_limit, status, effective_at FROM seats.schedule_downgrade('imobiliaria-sol', 3);
SELECT seats.customer_message('downgrade_scheduled', 'imobiliaria-lua') AS to_the_customer;
SELECT org, seat_limit, seats_used, pending_downgrade_limit, pending_downgrade_effective_at FROM seats.usage ORDER BY org;

\echo '== Runbook §9 — the turnover at the end of the cycle (as pg_cron would run it then)'
SELECT cycle_end AS turnover_at FROM seats.subscription WHERE org = 'imobiliaria-sol' \gset
CALL seats.close_due_cycles(:'turnover_at');
SELECT org, seat_limit, seats_used, pending_downgrade_limit, cycle_start, cycle_end FROM seats.usage ORDER BY org;
SELECT org, cycle_end AS turned_at, outcome FROM seats.turnover ORDER BY org;
\echo '== The cycle closing report (blocks, and the mean time from the first block to the upgrade that ended them)'
SELECT pg_sleep(0.5) AS waited \gset
SELECT * FROM seats.cycle_report(now() - interval '1 day', :'turnover_at'::timestamptz + interval '1 day');

\echo '== Runbook §5 — alerts: for a small office two blocks in a day are already a spike'
SELECT name, value, default_value FROM seats.set_setting('block_spike_min_blocks', '2');
SELECT kind, coalesce(org, '(all)') AS org, severity, detail FROM seats.alerts();

\echo '== Runbook §8 — the daily checklist'
SELECT item, status, detail FROM seats.daily_checklist();

\echo '== Runbook §6 — an incident: an upgrade charged by mistake'
SELECT id, severity, org, impact FROM seats.open_incident('P1', 'upgrade applied without the customer''s request', 'imobiliaria-sol') \gset incident_
SELECT :'incident_id' AS incident, :'incident_severity' AS severity;

\echo '== Runbook §7 — freeze everything, revert with evidence (a dry run first), nobody deactivated'
SELECT 'everything frozen' AS done FROM seats.freeze('incident ' || :'incident_id' || ': wrong upgrade', NULL, :'incident_id');
SELECT org, kind, from_limit, to_limit, status, amount
  FROM seats.revert_changes_since(now() - interval '1 hour', :'incident_id', 'not requested by the customer',
                                  ARRAY['imobiliaria-sol']);
SELECT org, kind, from_limit, to_limit, status
  FROM seats.revert_changes_since(now() - interval '1 hour', :'incident_id', 'not requested by the customer',
                                  ARRAY['imobiliaria-sol'], false);
SELECT kind, from_limit, to_limit, amount AS credit, reason FROM seats.change WHERE kind = 'revert' ORDER BY id;
SELECT org, seat_limit, seats_used, over_limit, frozen FROM seats.usage ORDER BY org;
SELECT count(*) AS active_brokers_of_sol FROM crm_members WHERE org_id = 'imobiliaria-sol' AND role = 'broker' AND active;
SELECT kind, org, severity FROM seats.alerts() WHERE kind IN ('over_limit', 'incident_p0');

\echo '== Runbook §7 step 5 — gradual resumption: each org on its own freeze, the global one lifted, then one by one'
SELECT u.org, 'frozen on its own' AS done FROM seats.usage u, seats.freeze('gradual resumption', u.org) ORDER BY u.org;
SELECT 'global freeze lifted' AS done FROM seats.unfreeze();
SELECT 'imobiliaria-lua resumes' AS done FROM seats.unfreeze('imobiliaria-lua');
SELECT org, frozen FROM seats.usage ORDER BY org;
SELECT 'imobiliaria-sol resumes' AS done FROM seats.unfreeze('imobiliaria-sol');
SELECT id, severity, closed_at IS NOT NULL AS closed
  FROM seats.close_incident(:'incident_id', 'Upgrade applied from a test ticket; reverted with credit; ticket checks added.');

\echo '== seats.revalidate(): the counter matches the members table'
SELECT * FROM seats.revalidate();

\echo '== The audit trail (hash-chained per organization)'
SELECT id, coalesce(org, '(global)') AS org, kind, to_char(at, 'DD/MM HH24:MI') AS at,
       left(encode(hash, 'hex'), 12) AS hash
  FROM seats.event ORDER BY id;
