-- broker_seats: the runbook, played end to end in psql (make demo).
-- The organizations' cycles started 9 days ago, so that an upgrade today is
-- a real fraction of a cycle; the turnover is run as pg_cron would run it
-- at the cycle's end.
\set QUIET on
\pset null '·'
\pset footer off
\set VERBOSITY default
\set SHOW_CONTEXT never
SET client_min_messages = notice;
SET datestyle = ISO, DMY;
SET timezone = 'America/Sao_Paulo';
CREATE EXTENSION broker_seats;
SELECT (current_date - 9) AS cycle_anchor \gset

\echo
\echo '== §4.1 Onboarding: a plan, an organization with 3 broker seats (its cycle began 9 days ago)'
SELECT code, seat_price, currency, billing_period, proration
  FROM seats.create_plan('imob-pro', 89.90, 'BRL', 'monthly', 'day', 'Imobiliária Pro');
SELECT org, plan, seat_limit, cycle_start::date, cycle_end::date, time_zone
  FROM seats.onboard('imobiliaria-sol', 'imob-pro', 3, :'cycle_anchor');

\echo '== The CRM''s members table, put under enforcement'
CREATE TABLE crm_members (
    id         bigserial PRIMARY KEY,
    org_id     text NOT NULL,
    name       text NOT NULL,
    role       text NOT NULL CHECK (role IN ('owner', 'manager', 'broker')),
    active     boolean NOT NULL DEFAULT true
);
SELECT 'crm_members' AS attached FROM seats.attach('crm_members', 'org_id', 'role', 'active', '{broker}');
\echo 'Owner and manager use no seat; three brokers fill the plan:'
INSERT INTO crm_members (org_id, name, role) VALUES
    ('imobiliaria-sol', 'Ana (dona)', 'owner'),
    ('imobiliaria-sol', 'Bruno (gerente)', 'manager'),
    ('imobiliaria-sol', 'Carla', 'broker'),
    ('imobiliaria-sol', 'Diego', 'broker'),
    ('imobiliaria-sol', 'Eva', 'broker');
SELECT org, seats_used || '/' || seat_limit AS "usados/limite", seats_free, over_limit FROM seats.usage;

\echo
\echo '== §4.4 Limit reached: a fourth broker is refused (SB001), in the customer''s words'
INSERT INTO crm_members (org_id, name, role) VALUES ('imobiliaria-sol', 'Fábio', 'broker');
SELECT seats.customer_message('limit_reached', 'imobiliaria-sol') AS "to the customer";
\echo 'Way out 1: free a seat by deactivating an inactive broker (Diego), then Fábio gets in:'
UPDATE crm_members SET active = false WHERE name = 'Diego';
INSERT INTO crm_members (org_id, name, role) VALUES ('imobiliaria-sol', 'Fábio', 'broker');
SELECT name, role, active FROM crm_members WHERE role = 'broker' ORDER BY id;
\echo 'Reactivating Diego is a new seat, refused while the plan is full:'
UPDATE crm_members SET active = true WHERE name = 'Diego';
\echo 'Both refusals rolled back, yet the block recorder keeps them (SPEC §5), within its flush interval.'
SELECT pg_sleep(0.5) AS waited \gset

\echo
\echo '== §4.2 Way out 2: an immediate upgrade to 5 seats, charged pro rata for the rest of the cycle'
SELECT * FROM seats.quote_upgrade('imobiliaria-sol', 5);
SELECT from_limit, to_limit, seat_price, units_remaining || '/' || units_in_cycle AS days_charged, amount, currency
  FROM seats.upgrade('imobiliaria-sol', 5, 'crm-ticket-123');
\echo '(amount = 2 seats × 89.90 × days remaining / days in cycle, rounded once to centavos)'
SELECT seats.customer_message('upgrade_applied', 'imobiliaria-sol') AS "to the customer";
UPDATE crm_members SET active = true WHERE name = 'Diego';
INSERT INTO crm_members (org_id, name, role) VALUES ('imobiliaria-sol', 'Gabi', 'broker');
SELECT org, seats_used || '/' || seat_limit AS "usados/limite" FROM seats.usage;

\echo
\echo '== §4.3 Downgrades, at the next cycle: one will fit, one will not'
SELECT org, seat_limit FROM seats.onboard('imobiliaria-lua', 'imob-pro', 4, :'cycle_anchor');
INSERT INTO crm_members (org_id, name, role) VALUES
    ('imobiliaria-lua', 'Hugo', 'broker'), ('imobiliaria-lua', 'Iara', 'broker');
SELECT org, from_limit, to_limit, status, effective_at::date, brokers_over_new_limit
  FROM seats.schedule_downgrade('imobiliaria-lua', 2, 'crm-ticket-124');
SELECT org, from_limit, to_limit, status, effective_at::date, brokers_over_new_limit
  FROM seats.schedule_downgrade('imobiliaria-sol', 3, 'crm-ticket-125');
SELECT seats.customer_message('downgrade_scheduled', 'imobiliaria-lua') AS "to the customer";

\echo
\echo '== §9 The turnover at the cycle''s end (as pg_cron runs it): applied where brokers fit, blocked where not'
SELECT cycle_end AS turnover_at FROM seats.subscription WHERE org = 'imobiliaria-sol' \gset
CALL seats.close_due_cycles(:'turnover_at');
SELECT t.org, t.outcome, c.from_limit || ' -> ' || c.to_limit AS downgrade, u.seats_used || '/' || u.seat_limit AS "usados/limite",
       u.cycle_start::date AS new_cycle
  FROM seats.turnover t JOIN seats.change c ON (c.org, c.id) = (t.org, t.downgrade) JOIN seats.usage u ON u.org = t.org
 ORDER BY t.org;
\echo 'Nobody was deactivated; the blocked downgrade is tried again at the next turnover.'

\echo
\echo '== §5 The day''s KPIs and alerts: the two refusals, and how long until the upgrade resolved them'
SELECT pg_sleep(0.5) AS waited \gset
SELECT blocks, upgrades_applied, downgrades_scheduled, mean_block_resolution FROM seats.daily_kpis();
\echo 'For a small office two blocks in a day are already a spike:'
SELECT name, value, default_value FROM seats.set_setting('block_spike_min_blocks', '2');
SELECT kind, coalesce(org, '(all)') AS org, severity, detail FROM seats.alerts() ORDER BY kind, org;

\echo
\echo '== §8 The daily checklist'
SELECT item, status, detail FROM seats.daily_checklist();

\echo
\echo '== §9 The cycle report'
SELECT * FROM seats.cycle_report(now() - interval '1 day', :'turnover_at'::timestamptz + interval '1 day');

\echo
\echo '== §6 An incident: the upgrade was charged by mistake'
SELECT id, severity, org, impact FROM seats.open_incident('P1', 'upgrade applied without the customer''s request', 'imobiliaria-sol') \gset incident_
\echo Incident :incident_id (:incident_severity) opened.

\echo
\echo '== §7 Freeze everything, revert with evidence (dry run first), nobody deactivated'
SELECT 'everything frozen' AS done FROM seats.freeze('incident ' || :'incident_id' || ': wrong upgrade', NULL, :'incident_id');
SELECT org, kind, from_limit, to_limit, status, amount
  FROM seats.revert_changes_since(now() - interval '1 hour', :'incident_id', 'not requested by the customer',
                                  ARRAY['imobiliaria-sol']);
SELECT org, kind, from_limit, to_limit, status
  FROM seats.revert_changes_since(now() - interval '1 hour', :'incident_id', 'not requested by the customer',
                                  ARRAY['imobiliaria-sol'], false);
SELECT kind, from_limit, to_limit, amount AS credit, reason FROM seats.change WHERE kind = 'revert' ORDER BY id;
SELECT org, seats_used || '/' || seat_limit AS "usados/limite", over_limit, frozen FROM seats.usage ORDER BY org;
\echo 'Over the limit, yet nobody deactivated: new seats stay blocked until brokers leave.'

\echo
\echo '== §7 step 5 Gradual resumption: each org on its own freeze, the global one lifted, then one by one'
SELECT u.org, 'frozen on its own' AS done FROM seats.usage u, seats.freeze('gradual resumption', u.org) ORDER BY u.org;
SELECT 'global freeze lifted' AS done FROM seats.unfreeze();
SELECT 'imobiliaria-lua resumes' AS done FROM seats.unfreeze('imobiliaria-lua');
SELECT org, frozen FROM seats.usage ORDER BY org;
SELECT 'imobiliaria-sol resumes' AS done FROM seats.unfreeze('imobiliaria-sol');
SELECT id, severity, closed_at IS NOT NULL AS closed
  FROM seats.close_incident(:'incident_id', 'Upgrade applied from a test ticket; reverted with credit; ticket checks added.');

\echo
\echo '== The counter matches the members table, and the audit trail verifies'
SELECT * FROM seats.revalidate();
SELECT org, events, ok FROM seats.verify_audit() ORDER BY org;
