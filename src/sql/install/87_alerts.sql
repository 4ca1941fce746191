------------------------------------------------------------------------------
-- Alerts, their thresholds, NOTIFY seats_alerts and the daily checklist
-- (runbook §5 and §8)
------------------------------------------------------------------------------

-- Every setting with its default and what it means. seats.setting holds
-- only the changed ones.
CREATE FUNCTION seats._setting_defaults()
    RETURNS TABLE (name text, default_value text, kind text, description text)
    LANGUAGE sql IMMUTABLE
AS $$
    VALUES
      ('block_spike_factor', '3', 'numeric',
       'block_spike: today''s blocks must exceed this many times the median of the baseline days'),
      ('block_spike_min_blocks', '10', 'integer',
       'block_spike: today''s blocks must also be at least this many'),
      ('block_spike_baseline_days', '7', 'integer',
       'block_spike: the days before today whose daily blocks give the median (days without blocks count as 0)'),
      ('upgrade_sla', '30 minutes', 'interval',
       'upgrade_sla: business time a requested upgrade may wait for seats.apply_change'),
      ('business_hours_open', '09:00', 'time',
       'upgrade_sla: business hours open, in each organization''s time zone'),
      ('business_hours_close', '18:00', 'time',
       'upgrade_sla: business hours close'),
      ('business_days', '1-5', 'days',
       'upgrade_sla: business days, ISO weekday numbers (1 = Monday .. 7 = Sunday), e.g. 1-5'),
      ('turnover_grace', '1 hour', 'interval',
       'turnover_overdue: how long after its cycle end a subscription may wait for close_due_cycles'),
      ('downgrade_notice', '3 days', 'interval',
       'daily_checklist: downgrades taking effect within this time after the day are listed')
$$;

CREATE VIEW seats.settings AS
    SELECT d.name, coalesce(s.value, d.default_value) AS value, d.default_value, d.kind, d.description,
           s.changed_at, s.changed_by
      FROM seats._setting_defaults() d
      LEFT JOIN seats.setting s ON s.name = d.name;
COMMENT ON VIEW seats.settings IS 'Alert and checklist thresholds: value in force, default, meaning, last change';

CREATE FUNCTION seats._setting_value(p_name text) RETURNS text
    LANGUAGE sql SET search_path = pg_catalog, pg_temp STABLE
AS $$ SELECT v.value FROM seats.settings v WHERE v.name = p_name $$;

CREATE FUNCTION seats._set_setting(p_name text, p_value text)
    RETURNS TABLE (name text, value text, default_value text)
    LANGUAGE plpgsql
AS $$
DECLARE
    d record;
    v_old text;
    v_new text;
BEGIN
    PERFORM seats._require(p_name, 'name');
    SELECT * INTO d FROM seats._setting_defaults() x WHERE x.name = p_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown setting "%"', p_name USING ERRCODE = 'invalid_parameter_value',
            HINT = 'SELECT name, value, description FROM seats.settings lists them.';
    END IF;
    -- Validated and stored in canonical form; NULL resets to the default.
    BEGIN
        v_new := CASE d.kind
            WHEN 'numeric' THEN CASE WHEN p_value::numeric > 0 AND p_value::numeric < 1000000
                                     THEN (p_value::numeric)::text END
            WHEN 'integer' THEN CASE WHEN p_value::int BETWEEN 1 AND 1000000 THEN (p_value::int)::text END
            WHEN 'interval' THEN CASE WHEN p_value::interval >= interval '0' THEN (p_value::interval)::text END
            WHEN 'time' THEN (p_value::time)::text
            WHEN 'days' THEN p_value
        END;
    EXCEPTION WHEN data_exception THEN
        v_new := NULL;
    END;
    IF p_value IS NOT NULL AND v_new IS NULL THEN
        RAISE EXCEPTION 'invalid value "%" for setting "%"', p_value, p_name
            USING ERRCODE = 'invalid_parameter_value', DETAIL = d.description,
                  HINT = format('Give a positive %s, or NULL for the default %s.', d.kind, d.default_value);
    END IF;
    PERFORM seats._lock_chain('');  -- one writer of settings at a time, on the global chain's lock
    SELECT s.value INTO v_old FROM seats.setting s WHERE s.name = p_name;
    IF v_new IS NULL THEN
        DELETE FROM seats.setting s WHERE s.name = p_name;
    ELSE
        INSERT INTO seats.setting AS s (name, value, changed_at, changed_by)
            VALUES (p_name, v_new, pg_catalog.now(), session_user)
            ON CONFLICT ON CONSTRAINT setting_pkey
            DO UPDATE SET value = excluded.value, changed_at = excluded.changed_at, changed_by = excluded.changed_by;
    END IF;
    -- Business hours are checked as a whole (open before close, days).
    PERFORM seats._business_hours_check();
    PERFORM seats._log_event(NULL, 'setting_changed',
                             jsonb_build_object('name', p_name, 'old', v_old, 'new', v_new,
                                                'default', d.default_value));
    RETURN QUERY SELECT v.name, v.value, v.default_value FROM seats.settings v WHERE v.name = p_name;
END
$$;

CREATE FUNCTION seats.set_setting(name text, value text)
    RETURNS TABLE (name text, value text, default_value text)
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM seats._set_setting($1, $2) $$;
COMMENT ON FUNCTION seats.set_setting(text, text) IS
    'Changes an alert or checklist threshold (NULL: back to the default); audited as setting_changed';

-- The business time from `p_from` to `p_to` in the time zone, by the
-- business-hours settings.
CREATE FUNCTION seats._business_time_between(p_from timestamptz, p_to timestamptz, p_time_zone text)
    RETURNS interval LANGUAGE sql STABLE
AS $$
    SELECT seats._business_time(p_from AT TIME ZONE p_time_zone, p_to AT TIME ZONE p_time_zone,
                                seats._setting_value('business_hours_open')::time,
                                seats._setting_value('business_hours_close')::time,
                                seats._setting_value('business_days'))
$$;

CREATE FUNCTION seats._business_hours_check() RETURNS void
    LANGUAGE sql STABLE
AS $$ SELECT seats._business_time_between(now(), now(), 'UTC') $$;

-- Block spikes as of a time: the blocks of the day (session TimeZone) up to
-- it, per organization and for all of them (org NULL), against the median
-- of the same count over the baseline days before it. p_orgs limits the
-- organizations judged (NULL: all), p_all asks for the all-orgs row.
-- (PL/pgSQL: Citus plans no parameterized query of a SQL function over its tables.)
CREATE FUNCTION seats._block_spikes(p_as_of timestamptz, p_orgs text[] DEFAULT NULL, p_all boolean DEFAULT true)
    RETURNS TABLE (org text, blocks bigint, baseline_median numeric, spike boolean)
    LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
DECLARE
    v_day_start timestamptz := pg_catalog.date_trunc('day', seats._require(p_as_of, 'as_of'));
    v_days int := seats._setting_value('block_spike_baseline_days')::int;
    v_factor numeric := seats._setting_value('block_spike_factor')::numeric;
    v_min_blocks int := seats._setting_value('block_spike_min_blocks')::int;
    v_orgs text[];
    v_day timestamptz[];
    v_n numeric[];
BEGIN
    -- The blocks per org (and in all, org NULL) and day, read apart: under
    -- Citus one aggregate over the distributed audit trail.
    SELECT pg_catalog.array_agg(b.org), pg_catalog.array_agg(b.day), pg_catalog.array_agg(b.n)
      INTO v_orgs, v_day, v_n
      FROM (SELECT k.org, pg_catalog.date_trunc('day', e.at) AS day, pg_catalog.sum(seats._blocks_of(e.detail)) AS n
              FROM seats.event e, LATERAL (VALUES (e.org), (NULL)) k(org)
             WHERE e.kind = 'seat_blocked'
               AND e.at >= v_day_start - v_days * interval '1 day' AND e.at <= p_as_of
               AND (p_all OR e.org = ANY (p_orgs))
               AND CASE WHEN k.org IS NULL THEN p_all ELSE p_orgs IS NULL OR k.org = ANY (p_orgs) END
             GROUP BY 1, 2) b;
    RETURN QUERY
    WITH blocked AS (
        SELECT u.org, u.day, u.n
          FROM ROWS FROM (pg_catalog.unnest(v_orgs), pg_catalog.unnest(v_day), pg_catalog.unnest(v_n)) AS u(org, day, n)),
    today AS (
        SELECT b.org, b.n FROM blocked b WHERE b.day = v_day_start),
    judged AS (
        SELECT t.org, t.n,
               (SELECT pg_catalog.percentile_cont(0.5) WITHIN GROUP (ORDER BY coalesce(b.n, 0))
                  FROM pg_catalog.generate_series(1, v_days) g(k)
                  LEFT JOIN blocked b ON b.org IS NOT DISTINCT FROM t.org
                                     AND b.day = v_day_start - g.k * interval '1 day')::numeric AS median
          FROM today t)
    SELECT j.org, j.n::bigint, j.median, j.n >= v_min_blocks AND j.n > v_factor * j.median
      FROM judged j;
END
$$;

-- The block recorder of this server (SPEC §5): off, or dropping blocks.
CREATE FUNCTION seats._recording_alerts()
    RETURNS TABLE (kind text, org text, severity text, detail text)
    LANGUAGE plpgsql
AS $$
DECLARE
    v_rec record;
BEGIN
    SELECT * INTO v_rec FROM seats._block_recording();
    IF NOT v_rec.enabled THEN
        RETURN QUERY SELECT 'block_recording_off', NULL::text, 'warning',
            'Blocked attempts are refused but not recorded (daily_kpis and block_spike miss them): '
            'add broker_seats to shared_preload_libraries and restart the server.';
    ELSIF current_setting('broker_seats.database') <> current_database() THEN
        RETURN QUERY SELECT 'block_recording_off', NULL::text, 'warning',
            format('The block recorder writes to database %s, not to this one (%s): blocks here are dropped. '
                   'Set broker_seats.database = %L and restart the server.',
                   current_setting('broker_seats.database'), current_database(), current_database());
    END IF;
    IF v_rec.dropped > 0 THEN
        RETURN QUERY SELECT 'blocks_dropped', NULL::text, 'warning',
            format('%s blocked attempt(s) were not recorded since the server started (queue full or another '
                   'database); the queue holds %s. Raise broker_seats.block_queue_size (restart needed).',
                   v_rec.dropped, v_rec.capacity);
    END IF;
END
$$;

-- counter_drift: the counters against the attached tables, in one
-- snapshot (one org, or all).
CREATE FUNCTION seats._counter_drift(p_org text)
    RETURNS TABLE (kind text, org text, severity text, detail text)
    LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_counted bigint;
BEGIN
    IF p_org IS NOT NULL THEN
        -- Counted apart (under Citus, on the org's worker: the count reads
        -- the attachments, which must not run inside a query of a shard).
        SELECT coalesce(pg_catalog.sum(c.counted), 0) INTO v_counted FROM seats._count_seats(p_org, true) c;
        RETURN QUERY
        SELECT 'counter_drift', s.org, 'critical',
               format('seats_used says %s, the attached tables hold %s active brokers. '
                      'Recount and fix (audited): SELECT * FROM seats.revalidate(%L);',
                      s.seats_used, v_counted, s.org)
          FROM seats.subscription s
         WHERE s.org = p_org AND v_counted <> s.seats_used;
        RETURN;
    END IF;
    RETURN QUERY
    SELECT 'counter_drift', s.org, 'critical',
           format('seats_used says %s, the attached tables hold %s active brokers. '
                  'Recount and fix (audited): SELECT * FROM seats.revalidate(%L);',
                  s.seats_used, coalesce(c.counted, 0), s.org)
      FROM seats.subscription s
      LEFT JOIN seats._count_seats(NULL, true) c ON c.org = s.org
     WHERE coalesce(c.counted, 0) <> s.seats_used
     ORDER BY s.org COLLATE "C";
END
$$;

CREATE FUNCTION seats._alerts(p_as_of timestamptz)
    RETURNS TABLE (kind text, org text, severity text, detail text)
    LANGUAGE plpgsql
AS $$
DECLARE
    -- The thresholds, read once: under Citus the queries below run on the
    -- workers, where a function reading the settings inside them would be
    -- a distributed query nested in a shard's.
    v_grace text := seats._setting_value('turnover_grace');
    v_sla text := seats._setting_value('upgrade_sla');
    v_open time := seats._setting_value('business_hours_open')::time;
    v_close time := seats._setting_value('business_hours_close')::time;
    v_days text := seats._setting_value('business_days');
    v_org text;
BEGIN
    PERFORM seats._require(p_as_of, 'as_of');
    IF NOT isfinite(p_as_of) THEN
        RAISE EXCEPTION 'as_of must be a finite timestamp' USING ERRCODE = 'datetime_field_overflow';
    END IF;

    RETURN QUERY
    SELECT 'block_spike', b.org, 'warning',
           format('%s limit blocks today (by %s) for %s, median %s per day over the previous %s days '
                  '(rule: above %s times the median and at least %s). Offer an upgrade: '
                  'SELECT * FROM seats.quote_upgrade(%s, <new limit>);',
                  b.blocks, p_as_of, coalesce('organization ' || b.org, 'all organizations'), b.baseline_median,
                  seats._setting_value('block_spike_baseline_days'), seats._setting_value('block_spike_factor'),
                  seats._setting_value('block_spike_min_blocks'), coalesce(quote_literal(b.org), '<org>'))
      FROM seats._block_spikes(p_as_of) b
     WHERE b.spike
     ORDER BY b.org COLLATE "C" NULLS FIRST;

    -- An open P0 (runbook §6.1).
    RETURN QUERY
    SELECT 'incident_p0', i.org, 'critical',
           format('P0 incident #%s open since %s (by %s): %s. Follow runbook §6.2; close it with its postmortem: '
                  'SELECT seats.close_incident(%s, ''<postmortem>'');', i.id, i.opened_at, i.opened_by, i.impact, i.id)
      FROM seats.incident i
     WHERE i.severity = 'P0' AND i.closed_at IS NULL AND i.opened_at <= p_as_of
     ORDER BY i.id;

    -- Turnovers: failed (the last attempt on the cycle still due failed) and
    -- overdue (a cycle ended longer ago than the grace, not turned over).
    RETURN QUERY
    SELECT 'turnover_failed', s.org, 'critical',
           format('The turnover of the cycle that ended %s failed at %s: %s (SQLSTATE %s). Fix the cause, '
                  'then CALL seats.close_due_cycles(); every run tries the organization again.',
                  s.cycle_end, f.at, f.detail->>'message', f.detail->>'sqlstate')
      FROM seats.subscription s
      JOIN LATERAL (SELECT e.at, e.detail FROM seats.event e
                     WHERE e.org = s.org AND e.kind = 'turnover_failed' AND e.at <= p_as_of
                     ORDER BY e.id DESC LIMIT 1) f ON f.at >= s.cycle_end
     WHERE s.cycle_end <= p_as_of
     ORDER BY s.org COLLATE "C";

    RETURN QUERY
    SELECT 'turnover_overdue', s.org, 'critical',
           format('The cycle ended %s, %s before %s, and has not been turned over (grace %s). '
                  'Check the pg_cron job, then CALL seats.close_due_cycles();',
                  s.cycle_end, date_trunc('second', p_as_of - s.cycle_end), p_as_of, v_grace)
      FROM seats.subscription s
     WHERE s.cycle_end + v_grace::interval <= p_as_of
     ORDER BY s.org COLLATE "C";

    -- The counters against the attached tables, in one snapshot: a member
    -- change and its counter commit together, so any difference is drift.
    IF seats._distributed() THEN
        -- Citus: org by org, each counted on its worker.
        FOR v_org IN SELECT s.org FROM seats.subscription s ORDER BY s.org COLLATE "C" LOOP
            RETURN QUERY SELECT * FROM seats._counter_drift_at(v_org);
        END LOOP;
    ELSE
        RETURN QUERY SELECT * FROM seats._counter_drift(NULL);
    END IF;

    RETURN QUERY
    SELECT 'over_limit', s.org, 'warning',
           format('%s/%s seats in use, %s above the limit: new seats are blocked until it is back under. '
                  'Deactivate %s broker(s) or upgrade: SELECT * FROM seats.quote_upgrade(%L, %s);',
                  s.seats_used, s.seat_limit, s.seats_used - s.seat_limit, s.seats_used - s.seat_limit,
                  s.org, s.seats_used)
      FROM seats.subscription s
     WHERE s.seats_used > s.seat_limit
     ORDER BY s.org COLLATE "C";

    RETURN QUERY
    SELECT 'upgrade_sla', c.org, 'warning',
           format('Upgrade %s (to %s seats), requested %s by %s, has waited %s business time (SLA %s). '
                  'Apply it: SELECT seats.apply_change(%s);',
                  c.id, c.to_limit, c.requested_at, c.requested_by, pg_catalog.date_trunc('second', w.waited),
                  w.sla, c.id)
      FROM seats.change c
      JOIN seats.subscription s ON s.org = c.org
      CROSS JOIN LATERAL (SELECT seats._business_time(c.requested_at AT TIME ZONE s.time_zone,
                                                      p_as_of AT TIME ZONE s.time_zone, v_open, v_close, v_days) AS waited,
                                 v_sla AS sla) w
     WHERE c.kind = 'upgrade' AND c.status = 'requested' AND c.requested_at <= p_as_of
       AND w.waited > w.sla::interval
     ORDER BY c.id;

    RETURN QUERY SELECT * FROM seats._recording_alerts();
END
$$;

CREATE FUNCTION seats.alerts(as_of timestamptz DEFAULT now())
    RETURNS TABLE (kind text, org text, severity text, detail text)
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM seats._alerts($1) $$;
COMMENT ON FUNCTION seats.alerts(timestamptz) IS
    'Alerts: block_spike, incident_p0, turnover_failed, turnover_overdue, counter_drift, over_limit, upgrade_sla, block_recording_off, blocks_dropped';

-- NOTIFY seats_alerts, once per alert: sends what is new and records it.
CREATE FUNCTION seats._announce(p_kind text, p_org text, p_key text, p_payload jsonb) RETURNS boolean
    LANGUAGE plpgsql
AS $$
BEGIN
    -- Under Citus, announced from the coordinator only, where the clients
    -- that LISTEN are connected (a worker's NOTIFY reaches no one of them,
    -- and seats.alert_sent is a reference table that a worker's function
    -- cannot write): seats.alerts() still reports every alert.
    IF seats._distributed() AND NOT seats._on_coordinator() THEN
        RETURN false;
    END IF;
    INSERT INTO seats.alert_sent (kind, org, key) VALUES (p_kind, coalesce(p_org, ''), p_key)
        ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM pg_catalog.pg_notify('seats_alerts',
        (jsonb_build_object('kind', p_kind, 'org', p_org) || p_payload)::text);
    RETURN true;
END
$$;

-- Called by the block recorder (at most every few seconds while blocks
-- arrive): announces the block spikes first seen, once per org and day
-- (org NULL for all of them). Orgs already announced today are not judged
-- again, so a storm costs one look at today's events.
CREATE FUNCTION seats._announce_block_spikes(p_as_of timestamptz DEFAULT now()) RETURNS int
    LANGUAGE plpgsql
AS $$
DECLARE
    v_day text := pg_catalog.to_char(p_as_of, 'YYYY-MM-DD');
    v_all boolean;
    v_orgs text[];
BEGIN
    -- Under Citus, announced by the coordinator's recorder (seats._announce).
    IF seats._distributed() AND NOT seats._on_coordinator() THEN
        RETURN 0;
    END IF;
    v_all := NOT EXISTS (SELECT 1 FROM seats.alert_sent a
                          WHERE a.kind = 'block_spike' AND a.org = '' AND a.key = v_day);
    v_orgs := ARRAY(SELECT DISTINCT e.org FROM seats.event e
                     WHERE e.kind = 'seat_blocked' AND e.at >= pg_catalog.date_trunc('day', p_as_of)
                       AND e.at <= p_as_of
                       AND NOT EXISTS (SELECT 1 FROM seats.alert_sent a
                                        WHERE a.kind = 'block_spike' AND a.org = e.org AND a.key = v_day));
    IF NOT v_all AND pg_catalog.cardinality(v_orgs) = 0 THEN
        RETURN 0;
    END IF;
    RETURN (SELECT pg_catalog.count(*) FILTER (WHERE seats._announce('block_spike', b.org, v_day,
                       jsonb_build_object('severity', 'warning', 'at', p_as_of, 'day', v_day,
                                          'blocks', b.blocks, 'baseline_median', b.baseline_median::text)))::int
              FROM seats._block_spikes(p_as_of, v_orgs, v_all) b
             WHERE b.spike);
END
$$;

-- The runbook §8 daily checklist, for a day (session TimeZone): counts of
-- that day (as of now while it lasts), pending work as it stands now.
CREATE FUNCTION seats._daily_checklist(p_day date)
    RETURNS TABLE (item text, status text, detail text)
    LANGUAGE plpgsql
AS $$
DECLARE
    -- Read once, outside the queries (under Citus they run on the workers).
    v_notice text := seats._setting_value('downgrade_notice');
    v_start timestamptz := seats._require(p_day, 'day')::timestamp::timestamptz;
    v_end timestamptz := (p_day + 1)::timestamp::timestamptz;
    v_as_of timestamptz := CASE WHEN now() >= v_start AND now() < v_end THEN now()
                                ELSE v_end - interval '1 microsecond' END;
    v_list text;
    v_n bigint;
    v_rec record;
BEGIN
    IF NOT isfinite(p_day) THEN
        RAISE EXCEPTION 'day must be a finite date, got %', p_day USING ERRCODE = 'datetime_field_overflow';
    END IF;
    -- 1. Open incidents.
    SELECT pg_catalog.count(*),
           pg_catalog.string_agg(format('#%s %s%s: %s (opened %s by %s)', i.id, i.severity,
                                        coalesce(' ' || i.org, ''), i.impact, i.opened_at, i.opened_by),
                                 '; ' ORDER BY i.severity, i.id)
      INTO v_n, v_list
      FROM seats.incident i
     WHERE i.opened_at < v_end AND (i.closed_at IS NULL OR i.closed_at >= v_end);
    item := 'open_incidents';
    status := CASE WHEN v_n = 0 THEN 'ok' ELSE 'attention' END;
    detail := CASE WHEN v_n = 0 THEN 'No open seats/billing incident.'
                   ELSE format('%s open: %s. Close each with its postmortem: '
                               'SELECT seats.close_incident(<id>, ''<postmortem>'');', v_n, v_list) END;
    -- What is frozen, as it stands now (runbook §7).
    SELECT concat_ws('; ',
               (SELECT format('everything frozen since %s by %s: %s', g.frozen_at, g.frozen_by, g.reason)
                  FROM seats.global_freeze g),
               (SELECT format('%s organization(s) frozen: %s', pg_catalog.count(*),
                              pg_catalog.string_agg(format('%s (%s)', s.org, s.frozen_reason), ', ' ORDER BY s.org COLLATE "C"))
                  FROM seats.subscription s WHERE s.frozen HAVING pg_catalog.count(*) > 0))
      INTO v_list;
    IF v_list <> '' THEN
        status := 'attention';
        detail := detail || format(' Frozen: %s. Lift with SELECT seats.unfreeze(<org>); (NULL: the global freeze).', v_list);
    END IF;
    RETURN NEXT;

    -- 2. Blocks above the baseline.
    SELECT pg_catalog.string_agg(format('%s: %s blocks (median %s)', coalesce(b.org, 'all organizations'),
                                        b.blocks, b.baseline_median), '; ' ORDER BY b.org COLLATE "C" NULLS FIRST)
               FILTER (WHERE b.spike) AS list,
           pg_catalog.max(b.blocks) FILTER (WHERE b.org IS NULL) AS total
      INTO v_rec
      FROM seats._block_spikes(v_as_of) b;
    item := 'blocks_above_baseline';
    status := CASE WHEN v_rec.list IS NULL THEN 'ok' ELSE 'attention' END;
    detail := CASE WHEN v_rec.list IS NULL
                   THEN format('%s limit blocks, none above the baseline (%s times the %s-day median, at least %s).',
                               coalesce(v_rec.total, 0), seats._setting_value('block_spike_factor'),
                               seats._setting_value('block_spike_baseline_days'), seats._setting_value('block_spike_min_blocks'))
                   ELSE format('Above the baseline: %s. Contact them with seats.customer_message(''limit_reached'', '
                               '<org>) and offer SELECT * FROM seats.quote_upgrade(<org>, <new limit>);', v_rec.list) END;
    RETURN NEXT;

    -- 3. Upgrades waiting for manual execution.
    SELECT pg_catalog.count(*),
           pg_catalog.string_agg(format('change %s (%s to %s seats, requested %s by %s): SELECT seats.apply_change(%s);',
                                        c.id, c.org, c.to_limit, c.requested_at, c.requested_by, c.id),
                                 ' ' ORDER BY c.id)
      INTO v_n, v_list
      FROM seats.change c
     WHERE c.kind = 'upgrade' AND c.status = 'requested' AND c.requested_at < v_end;
    item := 'pending_manual_upgrades';
    status := CASE WHEN v_n = 0 THEN 'ok' ELSE 'attention' END;
    detail := CASE WHEN v_n = 0 THEN 'No upgrade waits for manual execution.'
                   ELSE format('%s waiting: %s', v_n, v_list) END;
    RETURN NEXT;

    -- 4. Downgrades turning soon: attention when one would not apply.
    SELECT pg_catalog.count(*) AS n,
           pg_catalog.count(*) FILTER (WHERE s.seats_used > c.to_limit OR s.frozen) AS failing,
           pg_catalog.string_agg(format('change %s (%s: %s to %s seats on %s, %s)', c.id, c.org, s.seat_limit,
                                        c.to_limit, c.effective_at,
                                        CASE WHEN s.frozen THEN 'frozen: it will be held'
                                             WHEN s.seats_used > c.to_limit
                                             THEN format('%s active brokers today: it will be blocked unless %s are '
                                                         'deactivated or SELECT seats.cancel_change(%s, ''<reason>'');',
                                                         s.seats_used, s.seats_used - c.to_limit, c.id)
                                             ELSE format('%s active brokers: it will apply', s.seats_used) END),
                                 '; ' ORDER BY c.effective_at, c.id) AS list
      INTO v_rec
      FROM seats.change c
      JOIN seats.subscription s ON s.org = c.org
     WHERE c.kind = 'downgrade' AND c.status IN ('scheduled', 'blocked', 'held')
       AND c.effective_at < v_end + v_notice::interval;
    item := 'downgrades_turning_soon';
    status := CASE WHEN v_rec.failing = 0 THEN 'ok' ELSE 'attention' END;
    detail := CASE WHEN v_rec.n = 0
                   THEN format('No downgrade takes effect within %s.', v_notice)
                   ELSE format('%s within %s: %s', v_rec.n, v_notice, v_rec.list) END;
    RETURN NEXT;

    -- 5. The audit trail: every chain verifies, and blocks are recorded.
    SELECT pg_catalog.count(*) FILTER (WHERE NOT a.ok) AS broken,
           pg_catalog.string_agg(format('%s: first bad event %s', coalesce(a.org, 'global chain'), a.first_bad_event),
                                 '; ' ORDER BY a.org COLLATE "C" NULLS FIRST) FILTER (WHERE NOT a.ok) AS list,
           pg_catalog.sum(a.events) AS events
      INTO v_rec
      FROM seats._verify_audit(NULL) a;
    item := 'audit_integrity';
    IF v_rec.broken > 0 THEN
        status := 'attention';
        detail := format('Broken hash chains: %s. Inspect with SELECT * FROM seats.verify_audit(<org>); and open an '
                         'incident: SELECT seats.open_incident(''P1'', ''audit trail altered'', <org>);', v_rec.list);
    ELSE
        SELECT pg_catalog.string_agg(a.detail, ' ') INTO v_list FROM seats._recording_alerts() a;
        status := CASE WHEN v_list IS NULL THEN 'ok' ELSE 'attention' END;
        detail := format('%s events, every hash chain verifies.%s', coalesce(v_rec.events, 0), ' ' || v_list);
    END IF;
    RETURN NEXT;
END
$$;

CREATE FUNCTION seats.daily_checklist(day date DEFAULT current_date)
    RETURNS TABLE (item text, status text, detail text)
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM seats._daily_checklist($1) $$;
COMMENT ON FUNCTION seats.daily_checklist(date) IS
    'Runbook §8: open incidents, blocks above baseline, pending manual upgrades, downgrades turning soon, audit integrity';
