------------------------------------------------------------------------------
-- The runbook's roles (SPEC §7), created on demand
------------------------------------------------------------------------------

-- Group roles (NOLOGIN) with exactly their column of SPEC §7; grant them to
-- login roles. Idempotent: run it again after ALTER EXTENSION UPDATE, it
-- grants what a new version added. Only the extension owner (or a
-- superuser) may call it.
CREATE FUNCTION seats.create_standard_roles() RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    g record;
BEGIN
    FOR r IN SELECT unnest(ARRAY['seats_commercial', 'seats_support', 'seats_operator', 'seats_app']) AS name LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r.name) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r.name);
        END IF;
        EXECUTE format('GRANT USAGE ON SCHEMA seats TO %I', r.name);
    END LOOP;
    FOR g IN
        SELECT * FROM (VALUES
            -- Commercial: plans, onboarding, quotes, upgrades, downgrades.
            ('seats_commercial', 'FUNCTION seats.create_plan(text, numeric, text, text, text, text)'),
            ('seats_commercial', 'FUNCTION seats.onboard(text, text, int, date, text)'),
            ('seats_commercial', 'FUNCTION seats.quote_upgrade(text, int, timestamptz)'),
            ('seats_commercial', 'FUNCTION seats.upgrade(text, int, text, timestamptz)'),
            ('seats_commercial', 'FUNCTION seats.request_upgrade(text, int, text)'),
            ('seats_commercial', 'FUNCTION seats.apply_change(bigint, timestamptz)'),
            ('seats_commercial', 'FUNCTION seats.schedule_downgrade(text, int, text)'),
            ('seats_commercial', 'FUNCTION seats.cancel_change(bigint, text)'),
            ('seats_commercial', 'FUNCTION seats.set_customer_language(text, text)'),
            ('seats_commercial', 'TABLE seats.usage'),
            -- Support: reads usage, KPIs, alerts, checklist and messages; incidents.
            ('seats_support', 'TABLE seats.usage'),
            ('seats_support', 'TABLE seats.settings'),
            ('seats_support', 'FUNCTION seats.daily_kpis(date)'),
            ('seats_support', 'FUNCTION seats.alerts(timestamptz)'),
            ('seats_support', 'FUNCTION seats.daily_checklist(date)'),
            ('seats_support', 'FUNCTION seats.cycle_report(timestamptz, timestamptz)'),
            ('seats_support', 'FUNCTION seats.open_incident(text, text, text)'),
            ('seats_support', 'FUNCTION seats.close_incident(bigint, text)'),
            -- Operator: turnover, freeze, revalidate, audit, incidents, thresholds.
            ('seats_operator', 'PROCEDURE seats.close_due_cycles(timestamptz, int)'),
            ('seats_operator', 'FUNCTION seats._check_turnover_args(timestamptz, int)'),
            ('seats_operator', 'FUNCTION seats._require(anyelement, text)'),
            ('seats_operator', 'FUNCTION seats._can_commit()'),
            ('seats_operator', 'FUNCTION seats._due_orgs(timestamptz, int, text[])'),
            ('seats_operator', 'FUNCTION seats._turn_over(text[], timestamptz)'),
            ('seats_operator', 'FUNCTION seats._turnover_failed(text, timestamptz, text, text)'),
            ('seats_operator', 'FUNCTION seats.freeze(text, text, bigint)'),
            ('seats_operator', 'FUNCTION seats.revert_change(bigint, bigint, text)'),
            ('seats_operator', 'FUNCTION seats.revert_changes_since(timestamptz, bigint, text, text[], boolean)'),
            ('seats_operator', 'FUNCTION seats.unfreeze(text)'),
            ('seats_operator', 'FUNCTION seats.revalidate(text)'),
            ('seats_operator', 'FUNCTION seats.verify_audit(text)'),
            ('seats_operator', 'FUNCTION seats.open_incident(text, text, text)'),
            ('seats_operator', 'FUNCTION seats.close_incident(bigint, text)'),
            ('seats_operator', 'FUNCTION seats.set_setting(text, text)'),
            ('seats_operator', 'FUNCTION seats.attach(regclass, name, name, name, text[])'),
            ('seats_operator', 'FUNCTION seats.detach(regclass)'),
            ('seats_operator', 'FUNCTION seats.daily_kpis(date)'),
            ('seats_operator', 'FUNCTION seats.alerts(timestamptz)'),
            ('seats_operator', 'FUNCTION seats.daily_checklist(date)'),
            ('seats_operator', 'FUNCTION seats.cycle_report(timestamptz, timestamptz)'),
            ('seats_operator', 'TABLE seats.usage'),
            ('seats_operator', 'TABLE seats.settings'),
            -- The CRM application: reads usage, quotes, customer texts. Its
            -- writes to its own member table need no grant from here.
            ('seats_app', 'TABLE seats.usage'),
            ('seats_app', 'FUNCTION seats.quote_upgrade(text, int, timestamptz)')
        ) v(role_name, object)
    LOOP
        IF g.object LIKE 'TABLE %' THEN
            EXECUTE format('GRANT SELECT ON %s TO %I', g.object, g.role_name);
        ELSE
            EXECUTE format('GRANT EXECUTE ON %s TO %I', g.object, g.role_name);
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION seats.create_standard_roles() IS
    'Creates (idempotently) seats_commercial, seats_support, seats_operator and seats_app with their SPEC §7 rights';
