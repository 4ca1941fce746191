-- broker_seats 1.0: broker seats per organization, enforced inside the database.
\echo Use "CREATE EXTENSION broker_seats" to load this file. \quit

-- Every function below that writes is SECURITY DEFINER with a pinned
-- search_path and schema-qualified names; PUBLIC may execute none of them
-- (see the grants at the end). Organization keys are text: the canonical
-- output of the member table's key type (bigint, integer, uuid or text).

------------------------------------------------------------------------------
-- Tables
------------------------------------------------------------------------------

CREATE TABLE seats.plan (
    code            text PRIMARY KEY CHECK (code <> ''),
    name            text NOT NULL,
    seat_price      numeric NOT NULL CHECK (seat_price >= 0),
    currency        char(3) NOT NULL,
    billing_period  text NOT NULL
                    CHECK (billing_period IN ('monthly', 'quarterly', 'semiannual', 'annual')),
    proration       text NOT NULL DEFAULT 'day' CHECK (proration IN ('day', 'second')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE seats.plan IS 'Plan catalog: price per seat, currency, billing period, proration granularity';

CREATE TABLE seats.subscription (
    org             text PRIMARY KEY CHECK (org <> ''),
    plan            text NOT NULL REFERENCES seats.plan (code),
    seat_limit      integer NOT NULL CHECK (seat_limit >= 0),
    -- Maintained by the member triggers under the org lock. No CHECK >= 0:
    -- a drifted counter must never block a DELETE; seats.revalidate() and the
    -- counter_drift alert repair and report drift instead.
    seats_used      integer NOT NULL DEFAULT 0,
    cycle_anchor    date NOT NULL,
    cycle_start     timestamptz NOT NULL,
    cycle_end       timestamptz NOT NULL CHECK (cycle_end > cycle_start),
    time_zone       text NOT NULL,
    frozen          boolean NOT NULL DEFAULT false,
    frozen_reason   text,
    frozen_incident bigint,
    -- Block episode: opened at the org's first SB001, closed at its next
    -- seat acquisition or upgrade (SPEC §5).
    block_episode_started_at timestamptz,
    block_episode_blocks     integer NOT NULL DEFAULT 0,
    last_block_at   timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE seats.subscription IS 'One row per organization: plan, seat limit, maintained seats_used counter, current cycle';

CREATE TABLE seats.change (
    id              bigserial PRIMARY KEY,
    org             text NOT NULL REFERENCES seats.subscription (org),
    kind            text NOT NULL CHECK (kind IN ('onboard', 'upgrade', 'downgrade', 'revert')),
    from_limit      integer,
    to_limit        integer NOT NULL CHECK (to_limit >= 0),
    status          text NOT NULL CHECK (status IN ('requested', 'applied', 'scheduled', 'blocked', 'held',
                                                    'superseded', 'cancelled', 'reverted')),
    requested_at    timestamptz NOT NULL,
    requested_by    text NOT NULL DEFAULT session_user,
    applied_at      timestamptz,
    effective_at    timestamptz,
    request_key     text,
    -- Proration inputs and result, kept with the change (SPEC §1.4).
    plan            text,
    seat_price      numeric,
    currency        char(3),
    granularity     text CHECK (granularity IN ('day', 'second')),
    units_remaining integer,
    units_in_cycle  integer,
    cycle_start     timestamptz,
    cycle_end       timestamptz,
    amount          numeric,
    reverts         bigint REFERENCES seats.change (id),
    incident        bigint,
    reason          text,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (org, request_key)
);
CREATE INDEX change_org_status ON seats.change (org, status);
COMMENT ON TABLE seats.change IS 'Every commercial change (onboard, upgrade, downgrade, revert) with its calculation';

CREATE TABLE seats.event (
    id              bigserial PRIMARY KEY,
    org             text,
    kind            text NOT NULL,
    at              timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor           text NOT NULL DEFAULT session_user,
    change_id       bigint,
    detail          jsonb NOT NULL DEFAULT '{}',
    prev_hash       bytea,
    hash            bytea NOT NULL
);
CREATE INDEX event_org_id ON seats.event (org, id);
CREATE INDEX event_kind_at ON seats.event (kind, at);
COMMENT ON TABLE seats.event IS 'Append-only audit trail, hash-chained per organization (org NULL: global chain)';

CREATE TABLE seats.incident (
    id              bigserial PRIMARY KEY,
    severity        text NOT NULL CHECK (severity IN ('P0', 'P1', 'P2')),
    org             text,
    impact          text NOT NULL,
    opened_at       timestamptz NOT NULL DEFAULT now(),
    opened_by       text NOT NULL DEFAULT session_user,
    closed_at       timestamptz,
    postmortem      text
);
COMMENT ON TABLE seats.incident IS 'Incidents of runbook §6';

CREATE TABLE seats.attachment (
    relid           regclass PRIMARY KEY,
    org_column      name NOT NULL,
    role_column     name NOT NULL,
    active_column   name NOT NULL,
    active_kind     text NOT NULL CHECK (active_kind IN ('boolean', 'timestamp')),
    seat_roles      text[] NOT NULL,
    attached_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE seats.attachment IS 'Member tables under enforcement and their column mapping';

-- One row per (org, closed cycle): the turnover's exactly-once key. A
-- re-run, a second runner or a run after a crash finds the row (or the
-- subscription already moved on) and changes nothing twice.
CREATE TABLE seats.turnover (
    org             text NOT NULL REFERENCES seats.subscription (org),
    cycle_start     timestamptz NOT NULL,
    cycle_end       timestamptz NOT NULL,
    as_of           timestamptz NOT NULL,
    turned_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    downgrade       bigint REFERENCES seats.change (id),
    outcome         text CHECK (outcome IN ('applied', 'blocked', 'held')),
    PRIMARY KEY (org, cycle_end)
);
COMMENT ON TABLE seats.turnover IS 'Every cycle turnover, once per (org, cycle), with the downgrade outcome';

-- The global freeze (runbook §6): a row while the whole system is frozen.
CREATE TABLE seats.global_freeze (
    singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    reason          text NOT NULL,
    incident        bigint REFERENCES seats.incident (id),
    frozen_at       timestamptz NOT NULL DEFAULT now(),
    frozen_by       text NOT NULL DEFAULT session_user
);

CREATE INDEX subscription_cycle_end ON seats.subscription (cycle_end);

SELECT pg_catalog.pg_extension_config_dump('seats.plan', '');
SELECT pg_catalog.pg_extension_config_dump('seats.turnover', '');
SELECT pg_catalog.pg_extension_config_dump('seats.global_freeze', '');
SELECT pg_catalog.pg_extension_config_dump('seats.subscription', '');
SELECT pg_catalog.pg_extension_config_dump('seats.change', '');
SELECT pg_catalog.pg_extension_config_dump('seats.change_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('seats.event', '');
SELECT pg_catalog.pg_extension_config_dump('seats.event_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('seats.incident', '');
SELECT pg_catalog.pg_extension_config_dump('seats.incident_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('seats.attachment', '');

------------------------------------------------------------------------------
-- C functions
------------------------------------------------------------------------------

CREATE FUNCTION seats.member_change_trigger() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'member_change_trigger';
CREATE FUNCTION seats.member_truncate_trigger() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'member_truncate_trigger';

CREATE FUNCTION seats.customer_message(kind text, org text, lang text DEFAULT NULL) RETURNS text
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'seats_customer_message';
COMMENT ON FUNCTION seats.customer_message(text, text, text) IS
    'Runbook §10 customer text: limit_reached, upgrade_applied, downgrade_scheduled (pt_BR or en; default broker_seats.language)';

CREATE FUNCTION seats.cycle_bounds(anchor date, billing_period text, at date)
    RETURNS TABLE (cycle_start date, cycle_end date)
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE ROWS 1 AS 'MODULE_PATHNAME', 'seats_cycle_bounds';
COMMENT ON FUNCTION seats.cycle_bounds(date, text, date) IS
    'The billing cycle [cycle_start, cycle_end) containing "at": boundaries are anchor + k periods, day clamped';

CREATE FUNCTION seats.prorate(seat_delta int, seat_price numeric, cycle_start timestamptz,
                              cycle_end timestamptz, at timestamptz, granularity text DEFAULT 'day',
                              time_zone text DEFAULT 'America/Sao_Paulo', currency text DEFAULT 'BRL')
    RETURNS numeric
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'seats_prorate';
COMMENT ON FUNCTION seats.prorate(int, numeric, timestamptz, timestamptz, timestamptz, text, text, text) IS
    'delta x price x remaining / total, exact, rounded once half away from zero to the currency''s minor unit';

CREATE TYPE seats.proration AS (amount numeric, units_remaining int, units_in_cycle int);
CREATE FUNCTION seats._proration(seat_delta int, seat_price numeric, cycle_start timestamptz,
                                 cycle_end timestamptz, at timestamptz, granularity text,
                                 time_zone text, currency text)
    RETURNS seats.proration
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'seats_proration';

CREATE FUNCTION seats._cycle_boundary(anchor date, billing_period text, k bigint) RETURNS date
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'seats_cycle_boundary';
CREATE FUNCTION seats._currency(code text) RETURNS text
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'seats_normalize_currency';
CREATE FUNCTION seats._billing_period(name text) RETURNS text
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'seats_check_billing_period';
CREATE FUNCTION seats._time_zone_known(name text) RETURNS boolean
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'seats_time_zone_known';
CREATE FUNCTION seats._lock_org(org text) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'seats_lock_org';
CREATE FUNCTION seats._seat_counts(query text) RETURNS TABLE (org text, counted bigint)
    LANGUAGE c AS 'MODULE_PATHNAME', 'seats_seat_counts';
CREATE FUNCTION seats._internal_ddl() RETURNS boolean
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'seats_internal_ddl';
CREATE FUNCTION seats._boundary_selftest(kind text) RETURNS text
    LANGUAGE c AS 'MODULE_PATHNAME', 'seats_boundary_selftest';
COMMENT ON FUNCTION seats._boundary_selftest(text) IS
    'Raises each failure kind the C++ boundary handles: core, bad_alloc, std, postgres';

------------------------------------------------------------------------------
-- Audit trail
------------------------------------------------------------------------------

-- The hash of one event: sha256 over the previous hash and the event's
-- fields, so editing or removing any event breaks the org's chain.
CREATE FUNCTION seats._event_hash(prev bytea, id bigint, org text, kind text, at timestamptz,
                                  actor text, change_id bigint, detail jsonb)
    RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT pg_catalog.sha256(COALESCE(prev, '\x'::bytea) OPERATOR(pg_catalog.||)
        pg_catalog.convert_to(pg_catalog.concat_ws('|', id, org, kind,
            pg_catalog.to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
            actor, change_id, detail::text), 'UTF8'))
$$;

-- Appends one event to the org's chain (org NULL: the global chain). The
-- chain's lock is the org lock, so concurrent writers never fork it.
CREATE FUNCTION seats._log_event(p_org text, p_kind text, p_detail jsonb DEFAULT '{}',
                                 p_at timestamptz DEFAULT now(), p_change bigint DEFAULT NULL)
    RETURNS seats.event LANGUAGE plpgsql
AS $$
DECLARE
    v_prev bytea;
    v_event seats.event;
BEGIN
    PERFORM seats._lock_org(coalesce(p_org, ''));
    -- Two spellings, so that each uses the (org, id) index: IS NOT DISTINCT
    -- FROM cannot, and a scan per event would make audit quadratic.
    IF p_org IS NULL THEN
        SELECT e.hash INTO v_prev FROM seats.event e WHERE e.org IS NULL ORDER BY e.id DESC LIMIT 1;
    ELSE
        SELECT e.hash INTO v_prev FROM seats.event e WHERE e.org = p_org ORDER BY e.id DESC LIMIT 1;
    END IF;
    v_event.id := nextval('seats.event_id_seq');
    v_event.org := p_org;
    v_event.kind := p_kind;
    v_event.at := coalesce(p_at, now());
    v_event.created_at := clock_timestamp();
    v_event.actor := session_user;
    v_event.change_id := p_change;
    v_event.detail := coalesce(p_detail, '{}');
    v_event.prev_hash := v_prev;
    v_event.hash := seats._event_hash(v_prev, v_event.id, p_org, p_kind, v_event.at, v_event.actor,
                                      p_change, v_event.detail);
    INSERT INTO seats.event SELECT v_event.*;
    RETURN v_event;
END
$$;

CREATE FUNCTION seats._event_append_only() RETURNS trigger LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION 'seats.event is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Audit events are never changed; record a new event instead.';
END
$$;
CREATE TRIGGER event_append_only BEFORE UPDATE OR DELETE ON seats.event
    FOR EACH ROW EXECUTE FUNCTION seats._event_append_only();
CREATE TRIGGER event_no_truncate BEFORE TRUNCATE ON seats.event
    FOR EACH STATEMENT EXECUTE FUNCTION seats._event_append_only();

------------------------------------------------------------------------------
-- Plans and onboarding
------------------------------------------------------------------------------

CREATE FUNCTION seats._require(p_value anyelement, p_name text) RETURNS anyelement
    LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF p_value IS NULL THEN
        RAISE EXCEPTION '% must not be null', p_name USING ERRCODE = 'null_value_not_allowed';
    END IF;
    RETURN p_value;
END
$$;

CREATE FUNCTION seats._check_time_zone(p_time_zone text) RETURNS text
    LANGUAGE plpgsql STABLE
AS $$
BEGIN
    PERFORM seats._require(p_time_zone, 'time_zone');
    IF NOT seats._time_zone_known(p_time_zone) THEN
        RAISE EXCEPTION 'unknown time_zone "%"', p_time_zone
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use an IANA name such as America/Sao_Paulo (see pg_timezone_names).';
    END IF;
    RETURN p_time_zone;
END
$$;

CREATE FUNCTION seats.create_plan(code text, seat_price numeric, currency text DEFAULT 'BRL',
                                  billing_period text DEFAULT 'monthly', proration text DEFAULT 'day',
                                  name text DEFAULT NULL)
    RETURNS seats.plan LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_plan seats.plan;
    v_old seats.plan;
BEGIN
    PERFORM seats._require(code, 'code'), seats._require(seat_price, 'seat_price'),
            seats._require(currency, 'currency'), seats._require(billing_period, 'billing_period'),
            seats._require(proration, 'proration');
    IF code = '' THEN
        RAISE EXCEPTION 'plan code must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF seat_price < 0 THEN
        RAISE EXCEPTION 'seat_price must not be negative, got %', seat_price
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF proration NOT IN ('day', 'second') THEN
        RAISE EXCEPTION 'unknown proration "%"', proration
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use day or second.';
    END IF;
    v_plan.code := code;
    v_plan.name := coalesce(name, code);
    v_plan.seat_price := seat_price;
    v_plan.currency := seats._currency(currency);
    v_plan.billing_period := seats._billing_period(billing_period);
    v_plan.proration := proration;

    SELECT p.* INTO v_old FROM seats.plan p WHERE p.code = v_plan.code FOR UPDATE;
    IF FOUND THEN
        IF (v_old.name, v_old.seat_price, v_old.currency, v_old.billing_period, v_old.proration)
           IS NOT DISTINCT FROM
           (v_plan.name, v_plan.seat_price, v_plan.currency, v_plan.billing_period, v_plan.proration) THEN
            RETURN v_old;  -- same plan again: nothing to do
        END IF;
        UPDATE seats.plan p SET name = v_plan.name, seat_price = v_plan.seat_price,
               currency = v_plan.currency, billing_period = v_plan.billing_period,
               proration = v_plan.proration, updated_at = now()
         WHERE p.code = v_plan.code RETURNING p.* INTO v_plan;
        PERFORM seats._log_event(NULL, 'plan_changed',
                                 jsonb_build_object('plan', v_plan.code, 'before', to_jsonb(v_old),
                                                    'after', to_jsonb(v_plan)));
    ELSE
        INSERT INTO seats.plan (code, name, seat_price, currency, billing_period, proration)
        VALUES (v_plan.code, v_plan.name, v_plan.seat_price, v_plan.currency, v_plan.billing_period,
                v_plan.proration)
        RETURNING * INTO v_plan;
        PERFORM seats._log_event(NULL, 'plan_created', jsonb_build_object('plan', to_jsonb(v_plan)));
    END IF;
    RETURN v_plan;
END
$$;

-- The local midnight starting `p_day` in `p_time_zone`. Where DST skips
-- midnight, PostgreSQL resolves the missing local time with the offset in
-- force before the jump, which is the first instant of that local day.
CREATE FUNCTION seats._local_midnight(p_day date, p_time_zone text) RETURNS timestamptz
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT (p_day::timestamp AT TIME ZONE p_time_zone) $$;

CREATE FUNCTION seats.onboard(org text, plan text, seat_limit int,
                              cycle_start date DEFAULT current_date,
                              time_zone text DEFAULT 'America/Sao_Paulo')
    RETURNS seats.subscription LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_plan seats.plan;
    v_sub seats.subscription;
    v_today date;
    v_start date;
    v_end date;
    v_used bigint;
    v_change seats.change;
BEGIN
    PERFORM seats._require(org, 'org'), seats._require(plan, 'plan'),
            seats._require(seat_limit, 'seat_limit'), seats._require(cycle_start, 'cycle_start');
    IF org = '' THEN
        RAISE EXCEPTION 'org must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF seat_limit < 0 THEN
        RAISE EXCEPTION 'seat_limit must not be negative, got %', seat_limit
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT isfinite(cycle_start) THEN
        RAISE EXCEPTION 'cycle_start must be a finite date, got %', cycle_start
            USING ERRCODE = 'datetime_field_overflow';
    END IF;
    PERFORM seats._check_time_zone(time_zone);
    SELECT p.* INTO v_plan FROM seats.plan p WHERE p.code = onboard.plan;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown plan "%"', plan
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Create it first with seats.create_plan().';
    END IF;

    PERFORM seats._lock_org(org);
    SELECT s.* INTO v_sub FROM seats.subscription s WHERE s.org = onboard.org;
    IF FOUND THEN
        IF v_sub.plan = v_plan.code AND v_sub.seat_limit = onboard.seat_limit
           AND v_sub.cycle_anchor = onboard.cycle_start AND v_sub.time_zone = onboard.time_zone THEN
            RETURN v_sub;  -- the same onboarding replayed
        END IF;
        RAISE EXCEPTION 'organization "%" is already onboarded (plan %, % seats)', org, v_sub.plan,
                        v_sub.seat_limit
            USING ERRCODE = 'SB004',
                  HINT = 'Change its seats with seats.upgrade() or seats.schedule_downgrade().';
    END IF;

    -- SPEC §7: a start today or later opens the first cycle there; a start
    -- in the past makes the current cycle the one containing today (local).
    v_today := (now() AT TIME ZONE time_zone)::date;
    IF cycle_start >= v_today THEN
        v_start := cycle_start;
        v_end := seats._cycle_boundary(cycle_start, v_plan.billing_period, 1);
    ELSE
        SELECT b.cycle_start, b.cycle_end INTO v_start, v_end
          FROM seats.cycle_bounds(cycle_start, v_plan.billing_period, v_today) b;
    END IF;

    -- Brokers already in attached tables are counted (and may exceed the limit).
    SELECT coalesce(sum(c.counted), 0) INTO v_used
      FROM seats._seat_counts(seats._count_sql(org)) c;

    INSERT INTO seats.subscription (org, plan, seat_limit, seats_used, cycle_anchor, cycle_start,
                                    cycle_end, time_zone)
    VALUES (org, v_plan.code, seat_limit, v_used, cycle_start,
            seats._local_midnight(v_start, time_zone), seats._local_midnight(v_end, time_zone), time_zone)
    RETURNING * INTO v_sub;

    INSERT INTO seats.change (org, kind, from_limit, to_limit, status, requested_at, applied_at,
                              effective_at, plan, seat_price, currency, cycle_start, cycle_end)
    VALUES (org, 'onboard', NULL, seat_limit, 'applied', now(), now(), v_sub.cycle_start, v_plan.code,
            v_plan.seat_price, v_plan.currency, v_sub.cycle_start, v_sub.cycle_end)
    RETURNING * INTO v_change;

    PERFORM seats._log_event(org, 'onboard',
                             jsonb_build_object('plan', v_plan.code, 'seat_limit', seat_limit,
                                                'seats_used', v_used, 'cycle_start', v_sub.cycle_start,
                                                'cycle_end', v_sub.cycle_end, 'time_zone', time_zone),
                             now(), v_change.id);
    RETURN v_sub;
END
$$;

------------------------------------------------------------------------------
-- Attachment of member tables
------------------------------------------------------------------------------

-- The query counting seats per org in one attached relation (ONLY that
-- relation when p_only, else its whole partition tree), optionally for one org.
CREATE FUNCTION seats._member_count_sql(p_rel regclass, p_org_column text, p_role_column text,
                                        p_active_column text, p_roles text[], p_only boolean,
                                        p_org text DEFAULT NULL)
    RETURNS text LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_active_type regtype;
    v_active_pred text;
BEGIN
    SELECT a.atttypid INTO v_active_type FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = p_rel AND a.attname = p_active_column AND NOT a.attisdropped;
    v_active_pred := CASE WHEN v_active_type = 'boolean'::regtype
                          THEN format('%I IS TRUE', p_active_column)
                          ELSE format('%I IS NULL', p_active_column) END;
    RETURN format('SELECT %1$I::text COLLATE "C" AS org, count(*)::bigint AS counted FROM %2$s %3$s'
                  ' WHERE %1$I IS NOT NULL AND %4$I::text OPERATOR(pg_catalog.=) ANY (%5$L::text[]) AND %6$s'
                  '%7$s GROUP BY 1',
                  p_org_column, CASE WHEN p_only THEN 'ONLY' ELSE '' END, p_rel::text, p_role_column,
                  p_roles, v_active_pred,
                  CASE WHEN p_org IS NULL THEN ''
                       ELSE format(' AND %I::text OPERATOR(pg_catalog.=) %L', p_org_column, p_org) END);
END
$$;

-- Seats per org over every attached table (for one org, or all).
CREATE FUNCTION seats._count_sql(p_org text DEFAULT NULL) RETURNS text
    LANGUAGE sql STABLE
AS $$
    SELECT coalesce(
        'SELECT org, sum(counted)::bigint FROM ('
        || string_agg(seats._member_count_sql(a.relid, a.org_column, a.role_column, a.active_column,
                                              a.seat_roles, false, p_org), ' UNION ALL ')
        || ') c GROUP BY org',
        'SELECT NULL::text, NULL::bigint WHERE false')
      FROM seats.attachment a
$$;

-- Recounts subscriptions (one org, or all) under their org locks, fixes
-- seats_used where it drifted and audits each fix.
CREATE FUNCTION seats._recount(p_org text, p_reason text)
    RETURNS TABLE (org text, counted int, recorded int, fixed boolean)
    LANGUAGE plpgsql
AS $$
DECLARE
    r record;
BEGIN
    -- Lock in the one org order every writer uses (byte order), then count:
    -- the counts then include every seat committed before the locks.
    PERFORM seats._lock_org(s.org)
       FROM seats.subscription s
      WHERE p_org IS NULL OR s.org = p_org
      ORDER BY s.org COLLATE "C";
    FOR r IN
        SELECT s.org, coalesce(c.counted, 0)::int AS counted, s.seats_used AS recorded
          FROM seats.subscription s
          LEFT JOIN seats._seat_counts(seats._count_sql(p_org)) c ON c.org = s.org
         WHERE p_org IS NULL OR s.org = p_org
         ORDER BY s.org COLLATE "C"
    LOOP
        org := r.org;
        counted := r.counted;
        recorded := r.recorded;
        fixed := r.counted <> r.recorded;
        IF fixed THEN
            UPDATE seats.subscription s SET seats_used = r.counted, updated_at = now() WHERE s.org = r.org;
            PERFORM seats._log_event(r.org, 'counter_fixed',
                                     jsonb_build_object('recorded', r.recorded, 'counted', r.counted,
                                                        'reason', p_reason));
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;

-- Installs the enforcement triggers on one relation (table or partition).
CREATE FUNCTION seats._install_triggers(p_rel regclass, p_att seats.attachment) RETURNS void
    LANGUAGE plpgsql
AS $$
DECLARE
    v_args text;
BEGIN
    SELECT string_agg(quote_literal(x), ', ' ORDER BY n) INTO v_args
      FROM unnest(ARRAY[p_att.org_column::text, p_att.role_column::text, p_att.active_column::text]
                  || p_att.seat_roles) WITH ORDINALITY AS u(x, n);
    EXECUTE format('CREATE TRIGGER broker_seats_insert AFTER INSERT ON %s REFERENCING NEW TABLE AS '
                   'broker_seats_new FOR EACH STATEMENT EXECUTE FUNCTION seats.member_change_trigger(%s)',
                   p_rel, v_args);
    EXECUTE format('CREATE TRIGGER broker_seats_update AFTER UPDATE ON %s REFERENCING OLD TABLE AS '
                   'broker_seats_old NEW TABLE AS broker_seats_new FOR EACH STATEMENT '
                   'EXECUTE FUNCTION seats.member_change_trigger(%s)', p_rel, v_args);
    EXECUTE format('CREATE TRIGGER broker_seats_delete AFTER DELETE ON %s REFERENCING OLD TABLE AS '
                   'broker_seats_old FOR EACH STATEMENT EXECUTE FUNCTION seats.member_change_trigger(%s)',
                   p_rel, v_args);
    EXECUTE format('CREATE TRIGGER broker_seats_truncate BEFORE TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION seats.member_truncate_trigger(%s)', p_rel, v_args);
END
$$;

CREATE FUNCTION seats._drop_triggers(p_rel regclass) RETURNS void
    LANGUAGE plpgsql
AS $$
DECLARE
    t name;
BEGIN
    FOR t IN SELECT tg.tgname FROM pg_catalog.pg_trigger tg
              WHERE tg.tgrelid = p_rel AND tg.tgname IN ('broker_seats_insert', 'broker_seats_update',
                                                         'broker_seats_delete', 'broker_seats_truncate')
    LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', t, p_rel);
    END LOOP;
END
$$;

-- A table and, when partitioned, every member of its partition tree
-- (pg_partition_tree() alone returns nothing for a plain table).
CREATE FUNCTION seats._relation_tree(p_rel regclass) RETURNS SETOF regclass
    LANGUAGE sql STABLE
AS $$
    SELECT p_rel
    UNION
    SELECT t.relid FROM pg_catalog.pg_partition_tree(p_rel) t
$$;

-- Relations that carry (or should carry) enforcement triggers.
CREATE VIEW seats.attached_relation AS
    SELECT a.relid AS attachment, t.relation
      FROM seats.attachment a, seats._relation_tree(a.relid) AS t(relation);

CREATE FUNCTION seats._trigger_count(p_rel regclass) RETURNS int
    LANGUAGE sql STABLE
AS $$
    SELECT count(*)::int FROM pg_catalog.pg_trigger tg
     WHERE tg.tgrelid = p_rel AND tg.tgname IN ('broker_seats_insert', 'broker_seats_update',
                                                'broker_seats_delete', 'broker_seats_truncate')
$$;

-- Brings the triggers in line with the attachments: installs them on
-- partitions created or attached since, removes them from detached ones.
-- Returns true when it changed anything.
CREATE FUNCTION seats._sync_triggers() RETURNS boolean
    LANGUAGE plpgsql
AS $$
DECLARE
    r record;
    v_changed boolean := false;
BEGIN
    PERFORM set_config('broker_seats.internal_ddl', 'on', true);
    -- Only where the attached table itself has its triggers: while
    -- pg_restore rebuilds a database the table and its partitions have none
    -- yet (triggers come in post-data), and restoring them must not collide.
    FOR r IN
        SELECT ar.relation, a AS att
          FROM seats.attached_relation ar JOIN seats.attachment a ON a.relid = ar.attachment
         WHERE seats._trigger_count(ar.relation) < 4
           AND seats._trigger_count(a.relid) = 4
    LOOP
        PERFORM seats._drop_triggers(r.relation);
        PERFORM seats._install_triggers(r.relation, r.att);
        v_changed := true;
    END LOOP;
    FOR r IN
        SELECT DISTINCT tg.tgrelid::regclass AS relation
          FROM pg_catalog.pg_trigger tg
          JOIN pg_catalog.pg_proc p ON p.oid = tg.tgfoid
          JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = 'seats' AND p.proname IN ('member_change_trigger', 'member_truncate_trigger')
           AND tg.tgrelid NOT IN (SELECT ar.relation FROM seats.attached_relation ar)
    LOOP
        PERFORM seats._drop_triggers(r.relation);
        v_changed := true;
    END LOOP;
    PERFORM set_config('broker_seats.internal_ddl', 'off', true);
    RETURN v_changed;
END
$$;

-- The type of a mapped column; 22023 naming the argument when it is missing.
CREATE FUNCTION seats._column_type(p_rel regclass, p_column name, p_argument text) RETURNS regtype
    LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_type regtype;
BEGIN
    SELECT a.atttypid INTO v_type FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = p_rel AND a.attname = p_column AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION '% "%" does not exist in %', p_argument, p_column, p_rel
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN v_type;
END
$$;

-- Checks an attachment's column mapping; returns the active column's kind.
-- Removes the enforcement triggers from a table and its partitions and, with
-- an attachment, installs them anew; the table is locked against writes
-- until commit, so the recount that follows sees a still table.
CREATE FUNCTION seats._replace_triggers(p_table regclass, p_att seats.attachment) RETURNS void
    LANGUAGE plpgsql
AS $$
DECLARE
    v_rel regclass;
BEGIN
    EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', p_table);
    PERFORM set_config('broker_seats.internal_ddl', 'on', true);
    FOR v_rel IN SELECT t FROM seats._relation_tree(p_table) t LOOP
        PERFORM seats._drop_triggers(v_rel);
        IF p_att.relid IS NOT NULL THEN
            PERFORM seats._install_triggers(v_rel, p_att);
        END IF;
    END LOOP;
    PERFORM set_config('broker_seats.internal_ddl', 'off', true);
END
$$;

CREATE FUNCTION seats._check_mapping(member_table regclass, org_column name, role_column name,
                                     active_column name)
    RETURNS text LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_org_type regtype;
    v_role_type regtype;
    v_active_type regtype;
BEGIN
    v_org_type := seats._column_type(member_table, org_column, 'org_column');
    IF v_org_type NOT IN ('bigint'::regtype, 'integer'::regtype, 'uuid'::regtype, 'text'::regtype,
                          'character varying'::regtype) THEN
        RAISE EXCEPTION 'org_column "%" is %, expected bigint, integer, uuid or text', org_column, v_org_type
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_role_type := seats._column_type(member_table, role_column, 'role_column');
    v_active_type := seats._column_type(member_table, active_column, 'active_column');
    IF v_active_type NOT IN ('boolean'::regtype, 'timestamp with time zone'::regtype,
                             'timestamp without time zone'::regtype, 'date'::regtype) THEN
        RAISE EXCEPTION 'active_column "%" is %, expected boolean (true = active) or a nullable timestamp (NULL = active)',
                        active_column, v_active_type
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    RETURN CASE WHEN v_active_type = 'boolean'::regtype THEN 'boolean' ELSE 'timestamp' END;
END
$$;

CREATE FUNCTION seats.attach(member_table regclass, org_column name DEFAULT 'org_id',
                             role_column name DEFAULT 'role', active_column name DEFAULT 'active',
                             seat_roles text[] DEFAULT '{broker}')
    RETURNS void LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_kind "char";
    v_active_kind text;
    v_att seats.attachment;
BEGIN
    PERFORM seats._require(member_table, 'member_table'), seats._require(org_column, 'org_column'),
            seats._require(role_column, 'role_column'), seats._require(active_column, 'active_column'),
            seats._require(seat_roles, 'seat_roles');
    SELECT c.relkind INTO v_kind FROM pg_catalog.pg_class c WHERE c.oid = member_table;
    IF v_kind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION 'member_table % must be a table or a partitioned table', member_table
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = member_table AND NOT c.relispartition) THEN
        RAISE EXCEPTION 'member_table % has inheritance children', member_table
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Attach each child, or use declarative partitioning.';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_partition_ancestors(member_table) x
                WHERE x.relid <> member_table AND x.relid IN (SELECT relid FROM seats.attachment)) THEN
        RAISE EXCEPTION 'member_table % is a partition of an attached table', member_table
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF cardinality(seat_roles) = 0 OR array_position(seat_roles, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'seat_roles must name at least one role and no NULL'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    v_active_kind := seats._check_mapping(member_table, org_column, role_column, active_column);
    v_att := ROW(member_table, org_column, role_column, active_column,
                 v_active_kind, seat_roles, now())::seats.attachment;

    PERFORM seats._replace_triggers(member_table, v_att);
    INSERT INTO seats.attachment VALUES (v_att.*)
        ON CONFLICT (relid) DO UPDATE SET org_column = EXCLUDED.org_column,
            role_column = EXCLUDED.role_column, active_column = EXCLUDED.active_column,
            active_kind = EXCLUDED.active_kind, seat_roles = EXCLUDED.seat_roles,
            attached_at = EXCLUDED.attached_at;
    PERFORM seats._log_event(NULL, 'attach', jsonb_build_object('table', member_table::text,
        'org_column', org_column, 'role_column', role_column, 'active_column', active_column,
        'seat_roles', seat_roles));
    PERFORM seats._recount(NULL, 'attach ' || member_table::text);
END
$$;

CREATE FUNCTION seats.detach(member_table regclass) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM seats._require(member_table, 'member_table');
    IF NOT EXISTS (SELECT 1 FROM seats.attachment a WHERE a.relid = member_table) THEN
        RAISE EXCEPTION 'table % is not attached', member_table USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM seats._replace_triggers(member_table, NULL);
    DELETE FROM seats.attachment a WHERE a.relid = member_table;
    PERFORM seats._log_event(NULL, 'detach', jsonb_build_object('table', member_table::text));
    PERFORM seats._recount(NULL, 'detach ' || member_table::text);
END
$$;

-- Keeps enforcement whole across DDL on member tables: new partitions get
-- the triggers, attached or detached partitions are recounted, and nobody
-- (not even the table's owner) drops or disables an enforcement trigger
-- except through seats.detach().
CREATE FUNCTION seats._ddl_guard() RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_rel regclass;
    v_col name;
    r record;
BEGIN
    IF seats._internal_ddl() OR NOT EXISTS (SELECT 1 FROM seats.attachment) THEN
        RETURN;
    END IF;
    SELECT tg.tgrelid::regclass INTO v_rel
      FROM pg_catalog.pg_trigger tg JOIN seats.attached_relation ar ON ar.relation = tg.tgrelid
     WHERE tg.tgname LIKE 'broker\_seats\_%' AND tg.tgenabled <> 'O'
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'enforcement triggers on % cannot be disabled', v_rel
            USING ERRCODE = 'object_in_use', HINT = 'Use seats.detach() to stop enforcing seats on a table.';
    END IF;
    IF tg_tag = 'DROP TRIGGER' THEN
        SELECT ar.relation INTO v_rel FROM seats.attached_relation ar
         WHERE seats._trigger_count(ar.relation) < 4
         LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'enforcement triggers on % cannot be dropped', v_rel
                USING ERRCODE = 'object_in_use', HINT = 'Use seats.detach() to stop enforcing seats on a table.';
        END IF;
    END IF;
    -- A seat column renamed, dropped or retyped would break every write:
    -- refuse, and say how to change it.
    FOR r IN SELECT a.* FROM seats.attachment a WHERE seats._trigger_count(a.relid) = 4 LOOP
        SELECT c INTO v_col FROM unnest(ARRAY[r.org_column, r.role_column, r.active_column]) c
         WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute at
                            WHERE at.attrelid = r.relid AND at.attname = c AND at.attnum > 0
                              AND NOT at.attisdropped)
         LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'column "%" of % is used for seat enforcement', v_col, r.relid
                USING ERRCODE = 'object_in_use',
                      HINT = 'Run seats.detach() first, change the table, then seats.attach() again.';
        END IF;
        PERFORM seats._check_mapping(r.relid, r.org_column, r.role_column, r.active_column);
    END LOOP;
    -- New partitions get triggers; ATTACH/DETACH PARTITION moved rows in or
    -- out without row events, so recount.
    IF seats._sync_triggers() AND tg_tag = 'ALTER TABLE' THEN
        PERFORM seats._recount(NULL, 'partition attached or detached');
    END IF;
END
$$;

CREATE FUNCTION seats._drop_guard() RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_gone boolean := false;
BEGIN
    IF seats._internal_ddl() THEN
        RETURN;
    END IF;
    -- A dropped attached table leaves no attachment behind.
    DELETE FROM seats.attachment a
     WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = a.relid);
    v_gone := FOUND;
    -- A dropped partition took its rows without row events.
    IF v_gone OR EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger_dropped_objects() d
                          WHERE d.object_type = 'trigger' AND d.object_identity LIKE 'broker\_seats\_%') THEN
        PERFORM seats._recount(NULL, 'member table or partition dropped');
    END IF;
END
$$;

CREATE EVENT TRIGGER broker_seats_ddl_guard ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE', 'CREATE TABLE', 'DROP TRIGGER', 'ALTER TRIGGER')
    EXECUTE FUNCTION seats._ddl_guard();
CREATE EVENT TRIGGER broker_seats_drop_guard ON sql_drop
    WHEN TAG IN ('DROP TABLE')
    EXECUTE FUNCTION seats._drop_guard();

------------------------------------------------------------------------------
-- Upgrades (runbook §4.2): immediate, prorated, idempotent
------------------------------------------------------------------------------

-- The org's subscription, or SB002.
CREATE FUNCTION seats._subscription(p_org text) RETURNS seats.subscription
    LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_sub seats.subscription;
BEGIN
    SELECT s.* INTO v_sub FROM seats.subscription s WHERE s.org = p_org;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'organization "%" has no subscription', p_org
            USING ERRCODE = 'SB002', HINT = 'Onboard it first with seats.onboard().';
    END IF;
    RETURN v_sub;
END
$$;

-- SB003 while the org is frozen (runbook §6: no new commercial changes).
CREATE FUNCTION seats._check_not_frozen(p_sub seats.subscription) RETURNS void
    LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_reason text;
BEGIN
    IF p_sub.frozen THEN
        RAISE EXCEPTION 'organization "%" is frozen: %', p_sub.org, coalesce(p_sub.frozen_reason, 'no reason given')
            USING ERRCODE = 'SB003', HINT = 'Commercial changes resume after seats.unfreeze().';
    END IF;
    SELECT g.reason INTO v_reason FROM seats.global_freeze g;
    IF FOUND THEN
        RAISE EXCEPTION 'commercial changes are frozen system-wide: %', v_reason
            USING ERRCODE = 'SB003', HINT = 'Commercial changes resume after seats.unfreeze().';
    END IF;
END
$$;

CREATE FUNCTION seats._check_upgrade(p_sub seats.subscription, p_new_limit int) RETURNS void
    LANGUAGE plpgsql STABLE
AS $$
BEGIN
    PERFORM seats._require(p_new_limit, 'new_limit');
    IF p_new_limit < 0 THEN
        RAISE EXCEPTION 'new_limit must not be negative, got %', p_new_limit USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_new_limit <= p_sub.seat_limit THEN
        RAISE EXCEPTION 'an upgrade must raise the limit of "%" above %, got %', p_sub.org, p_sub.seat_limit, p_new_limit
            USING ERRCODE = 'SB004', HINT = 'Lower a limit with seats.schedule_downgrade().';
    END IF;
END
$$;

-- Idempotency: the change an earlier request with this key made, if any.
-- The same key with other terms is SB004, naming the earlier change.
CREATE FUNCTION seats._replay(p_org text, p_key text, p_kind text, p_to_limit int) RETURNS seats.change
    LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_change seats.change;
BEGIN
    IF p_key IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT c.* INTO v_change FROM seats.change c WHERE c.org = p_org AND c.request_key = p_key;
    IF FOUND AND (v_change.kind <> p_kind OR v_change.to_limit IS DISTINCT FROM p_to_limit) THEN
        RAISE EXCEPTION 'request_key "%" was already used by change % (% to %)', p_key, v_change.id,
                        v_change.kind, v_change.to_limit
            USING ERRCODE = 'SB004', HINT = 'Use a new request_key for a different request.';
    END IF;
    RETURN v_change;
END
$$;

-- The start of every commercial request: arguments present, the org lock
-- taken (a concurrent request with the same key waits here, then finds this
-- one's change), and the change an earlier request with this key made.
CREATE FUNCTION seats._begin_change(p_org text, p_new_limit int, p_key text, p_kind text,
                                    p_at timestamptz DEFAULT now())
    RETURNS seats.change LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM seats._require(p_org, 'org'), seats._require(p_new_limit, 'new_limit'), seats._require(p_at, 'at');
    PERFORM seats._lock_org(p_org);
    RETURN seats._replay(p_org, p_key, p_kind, p_new_limit);
END
$$;

-- Prices raising p_sub to p_new_limit at p_at: a change row carrying the
-- whole calculation (plan, unit price, currency, granularity, units, cycle,
-- amount), for the cycle that contains p_at.
CREATE FUNCTION seats._price_upgrade(p_sub seats.subscription, p_new_limit int, p_at timestamptz)
    RETURNS seats.change LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_plan seats.plan;
    v_start date;
    v_end date;
    v_change seats.change;
    v_proration seats.proration;
    v_at timestamptz;
BEGIN
    PERFORM seats._require(p_at, 'at');
    IF NOT isfinite(p_at) THEN
        RAISE EXCEPTION 'at must be a finite timestamp' USING ERRCODE = 'datetime_field_overflow';
    END IF;
    SELECT p.* INTO STRICT v_plan FROM seats.plan p WHERE p.code = p_sub.plan;
    -- Before the first cycle starts, an upgrade is charged for the whole
    -- first cycle.
    v_at := greatest(p_at, seats._local_midnight(p_sub.cycle_anchor, p_sub.time_zone));
    SELECT b.cycle_start, b.cycle_end INTO v_start, v_end
      FROM seats.cycle_bounds(p_sub.cycle_anchor, v_plan.billing_period, (v_at AT TIME ZONE p_sub.time_zone)::date) b;
    v_change.org := p_sub.org;
    v_change.kind := 'upgrade';
    v_change.from_limit := p_sub.seat_limit;
    v_change.to_limit := p_new_limit;
    v_change.plan := v_plan.code;
    v_change.seat_price := v_plan.seat_price;
    v_change.currency := v_plan.currency;
    v_change.granularity := v_plan.proration;
    v_change.cycle_start := seats._local_midnight(v_start, p_sub.time_zone);
    v_change.cycle_end := seats._local_midnight(v_end, p_sub.time_zone);
    v_proration := seats._proration(p_new_limit - p_sub.seat_limit, v_plan.seat_price, v_change.cycle_start,
                                    v_change.cycle_end, v_at, v_plan.proration, p_sub.time_zone, v_plan.currency);
    v_change.amount := v_proration.amount;
    v_change.units_remaining := v_proration.units_remaining;
    v_change.units_in_cycle := v_proration.units_in_cycle;
    RETURN v_change;
END
$$;

-- Applies a priced upgrade: the new limit at once, pending downgrades
-- superseded, the audit event.
CREATE FUNCTION seats._apply_upgrade(p_change seats.change, p_at timestamptz) RETURNS void
    LANGUAGE plpgsql
AS $$
DECLARE
    v_superseded bigint;
BEGIN
    UPDATE seats.subscription s SET seat_limit = p_change.to_limit, updated_at = now() WHERE s.org = p_change.org;
    FOR v_superseded IN
        UPDATE seats.change c SET status = 'superseded'
         WHERE c.org = p_change.org AND c.kind = 'downgrade' AND c.status IN ('scheduled', 'blocked', 'held')
        RETURNING c.id
    LOOP
        PERFORM seats._log_event(p_change.org, 'downgrade_superseded',
                                 jsonb_build_object('by_change', p_change.id), p_at, v_superseded);
    END LOOP;
    PERFORM seats._log_event(p_change.org, 'upgrade_applied',
        jsonb_build_object('from_limit', p_change.from_limit, 'to_limit', p_change.to_limit,
                           'amount', p_change.amount, 'currency', p_change.currency,
                           'seat_price', p_change.seat_price, 'granularity', p_change.granularity,
                           'units_remaining', p_change.units_remaining, 'units_in_cycle', p_change.units_in_cycle,
                           'cycle_start', p_change.cycle_start, 'cycle_end', p_change.cycle_end),
        p_at, p_change.id);
END
$$;

CREATE FUNCTION seats._insert_change(p_change seats.change) RETURNS seats.change
    LANGUAGE sql
AS $$
    INSERT INTO seats.change (org, kind, from_limit, to_limit, status, requested_at, requested_by, applied_at,
                              effective_at, request_key, plan, seat_price, currency, granularity,
                              units_remaining, units_in_cycle, cycle_start, cycle_end, amount, reverts,
                              incident, reason)
    VALUES (p_change.org, p_change.kind, p_change.from_limit, p_change.to_limit, p_change.status,
            p_change.requested_at, coalesce(p_change.requested_by, session_user), p_change.applied_at,
            p_change.effective_at, p_change.request_key, p_change.plan, p_change.seat_price, p_change.currency,
            p_change.granularity, p_change.units_remaining, p_change.units_in_cycle, p_change.cycle_start,
            p_change.cycle_end, p_change.amount, p_change.reverts, p_change.incident, p_change.reason)
    RETURNING *
$$;

CREATE FUNCTION seats._quote_upgrade(p_org text, p_new_limit int, p_at timestamptz)
    RETURNS TABLE (amount numeric, currency text, units_remaining int, units_in_cycle int)
    LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_sub seats.subscription;
    v_change seats.change;
BEGIN
    PERFORM seats._require(p_org, 'org');
    v_sub := seats._subscription(p_org);
    PERFORM seats._check_upgrade(v_sub, p_new_limit);
    v_change := seats._price_upgrade(v_sub, p_new_limit, p_at);
    amount := v_change.amount;
    currency := v_change.currency;
    units_remaining := v_change.units_remaining;
    units_in_cycle := v_change.units_in_cycle;
    RETURN NEXT;
END
$$;

CREATE FUNCTION seats.quote_upgrade(org text, new_limit int, at timestamptz DEFAULT now())
    RETURNS TABLE (amount numeric, currency text, units_remaining int, units_in_cycle int)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT q.amount, q.currency, q.units_remaining, q.units_in_cycle FROM seats._quote_upgrade($1, $2, $3) q $$;

COMMENT ON FUNCTION seats.quote_upgrade(text, int, timestamptz) IS
    'What seats.upgrade would charge now; writes nothing';

CREATE FUNCTION seats._upgrade(p_org text, p_new_limit int, p_key text, p_at timestamptz)
    RETURNS seats.change LANGUAGE plpgsql
AS $$
DECLARE
    v_sub seats.subscription;
    v_change seats.change;
BEGIN
    v_change := seats._begin_change(p_org, p_new_limit, p_key, 'upgrade', p_at);
    IF v_change.id IS NOT NULL THEN
        RETURN v_change;
    END IF;
    v_sub := seats._subscription(p_org);
    PERFORM seats._check_not_frozen(v_sub);
    PERFORM seats._check_upgrade(v_sub, p_new_limit);
    v_change := seats._price_upgrade(v_sub, p_new_limit, p_at);
    v_change.status := 'applied';
    v_change.requested_at := p_at;
    v_change.applied_at := p_at;
    v_change.effective_at := p_at;
    v_change.request_key := p_key;
    v_change := seats._insert_change(v_change);
    PERFORM seats._apply_upgrade(v_change, p_at);
    RETURN v_change;
END
$$;

CREATE FUNCTION seats.upgrade(org text, new_limit int, request_key text DEFAULT NULL, at timestamptz DEFAULT now())
    RETURNS seats.change LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM seats._upgrade($1, $2, $3, $4) $$;
COMMENT ON FUNCTION seats.upgrade(text, int, text, timestamptz) IS
    'Raises the seat limit at once; the added seats are charged pro rata for the rest of the cycle';

CREATE FUNCTION seats._request_upgrade(p_org text, p_new_limit int, p_key text)
    RETURNS seats.change LANGUAGE plpgsql
AS $$
DECLARE
    v_sub seats.subscription;
    v_change seats.change;
BEGIN
    v_change := seats._begin_change(p_org, p_new_limit, p_key, 'upgrade');
    IF v_change.id IS NOT NULL THEN
        RETURN v_change;
    END IF;
    v_sub := seats._subscription(p_org);
    PERFORM seats._check_not_frozen(v_sub);
    PERFORM seats._check_upgrade(v_sub, p_new_limit);
    v_change.org := p_org;
    v_change.kind := 'upgrade';
    v_change.from_limit := v_sub.seat_limit;
    v_change.to_limit := p_new_limit;
    v_change.status := 'requested';
    v_change.requested_at := now();
    v_change.request_key := p_key;
    v_change := seats._insert_change(v_change);
    PERFORM seats._log_event(p_org, 'upgrade_requested',
                             jsonb_build_object('from_limit', v_sub.seat_limit, 'to_limit', p_new_limit),
                             now(), v_change.id);
    RETURN v_change;
END
$$;

CREATE FUNCTION seats.request_upgrade(org text, new_limit int, request_key text DEFAULT NULL)
    RETURNS seats.change LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM seats._request_upgrade($1, $2, $3) $$;
COMMENT ON FUNCTION seats.request_upgrade(text, int, text) IS
    'Records an upgrade for manual execution (status requested); seats.apply_change() applies it';

-- A change by id, read again after taking its org's lock (so its status is
-- current); 22023 for an unknown id.
CREATE FUNCTION seats._locked_change(p_id bigint) RETURNS seats.change
    LANGUAGE plpgsql
AS $$
DECLARE
    v_org text;
    v_change seats.change;
BEGIN
    SELECT c.org INTO v_org FROM seats.change c WHERE c.id = p_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown change %', p_id USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM seats._lock_org(v_org);
    SELECT c.* INTO v_change FROM seats.change c WHERE c.id = p_id;
    RETURN v_change;
END
$$;

CREATE FUNCTION seats._apply_change(p_id bigint, p_at timestamptz)
    RETURNS seats.change LANGUAGE plpgsql
AS $$
DECLARE
    v_org text;
    v_sub seats.subscription;
    v_change seats.change;
    v_priced seats.change;
BEGIN
    PERFORM seats._require(p_id, 'change_id'), seats._require(p_at, 'at');
    v_change := seats._locked_change(p_id);
    v_org := v_change.org;
    IF v_change.kind <> 'upgrade' THEN
        RAISE EXCEPTION 'change % is a %: only requested upgrades are applied by hand', p_id, v_change.kind
            USING ERRCODE = 'SB004', HINT = 'Downgrades take effect at the cycle turnover.';
    END IF;
    IF v_change.status <> 'requested' THEN
        RAISE EXCEPTION 'change % is %, not requested', p_id, v_change.status USING ERRCODE = 'SB004';
    END IF;
    v_sub := seats._subscription(v_org);
    PERFORM seats._check_not_frozen(v_sub);
    PERFORM seats._check_upgrade(v_sub, v_change.to_limit);
    v_priced := seats._price_upgrade(v_sub, v_change.to_limit, p_at);
    UPDATE seats.change c
       SET status = 'applied', applied_at = p_at, effective_at = p_at, from_limit = v_priced.from_limit,
           plan = v_priced.plan, seat_price = v_priced.seat_price, currency = v_priced.currency,
           granularity = v_priced.granularity, units_remaining = v_priced.units_remaining,
           units_in_cycle = v_priced.units_in_cycle, cycle_start = v_priced.cycle_start,
           cycle_end = v_priced.cycle_end, amount = v_priced.amount
     WHERE c.id = p_id
    RETURNING c.* INTO v_change;
    PERFORM seats._apply_upgrade(v_change, p_at);
    RETURN v_change;
END
$$;

CREATE FUNCTION seats.apply_change(change_id bigint, at timestamptz DEFAULT now())
    RETURNS seats.change LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM seats._apply_change($1, $2) $$;
COMMENT ON FUNCTION seats.apply_change(bigint, timestamptz) IS
    'Applies a requested upgrade now, prorated from "at"';

------------------------------------------------------------------------------
-- Downgrades (runbook §4.3) and the cycle turnover (§9)
------------------------------------------------------------------------------

-- The end of the cycle containing p_at, from the anchor: where a change
-- requested at p_at takes effect, even while a turnover is overdue.
CREATE FUNCTION seats._cycle_end_at(p_sub seats.subscription, p_at timestamptz) RETURNS timestamptz
    LANGUAGE sql STABLE
AS $$
    SELECT seats._local_midnight(b.cycle_end, p_sub.time_zone)
      FROM seats.plan p,
           seats.cycle_bounds(p_sub.cycle_anchor, p.billing_period, (p_at AT TIME ZONE p_sub.time_zone)::date) b
     WHERE p.code = p_sub.plan
$$;

CREATE FUNCTION seats._schedule_downgrade(p_org text, p_new_limit int, p_key text)
    RETURNS seats.change LANGUAGE plpgsql
AS $$
DECLARE
    v_sub seats.subscription;
    v_change seats.change;
    v_superseded bigint;
BEGIN
    v_change := seats._begin_change(p_org, p_new_limit, p_key, 'downgrade');
    IF v_change.id IS NOT NULL THEN
        RETURN v_change;
    END IF;
    v_sub := seats._subscription(p_org);
    PERFORM seats._check_not_frozen(v_sub);
    IF p_new_limit < 0 THEN
        RAISE EXCEPTION 'new_limit must not be negative, got %', p_new_limit USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_new_limit >= v_sub.seat_limit THEN
        RAISE EXCEPTION 'a downgrade must lower the limit of "%" below %, got %', p_org, v_sub.seat_limit, p_new_limit
            USING ERRCODE = 'SB004', HINT = 'Raise a limit with seats.upgrade().';
    END IF;

    v_change.org := p_org;
    v_change.kind := 'downgrade';
    v_change.from_limit := v_sub.seat_limit;
    v_change.to_limit := p_new_limit;
    v_change.status := 'scheduled';
    v_change.requested_at := now();
    -- The end of the current cycle: the stored one, or the one containing
    -- now when a turnover is overdue (never earlier than the first cycle's end).
    v_change.effective_at := greatest(v_sub.cycle_end, seats._cycle_end_at(v_sub, now()));
    v_change.request_key := p_key;
    v_change.plan := v_sub.plan;
    v_change := seats._insert_change(v_change);

    -- A new request replaces the pending one.
    FOR v_superseded IN
        UPDATE seats.change c SET status = 'superseded'
         WHERE c.org = p_org AND c.kind = 'downgrade' AND c.status IN ('scheduled', 'blocked', 'held')
           AND c.id <> v_change.id
        RETURNING c.id
    LOOP
        PERFORM seats._log_event(p_org, 'downgrade_superseded', jsonb_build_object('by_change', v_change.id),
                                 now(), v_superseded);
    END LOOP;

    IF v_sub.seats_used > p_new_limit THEN
        RAISE NOTICE 'organization "%" has % active brokers, more than the new limit of %', p_org, v_sub.seats_used,
                     p_new_limit
            USING DETAIL = 'At the turnover the downgrade is applied only if active brokers <= the new limit; '
                           'otherwise it is recorded as blocked and tried again at the next turnover.',
                  HINT = format('Deactivate %s broker(s) before %s.', v_sub.seats_used - p_new_limit,
                                v_change.effective_at);
    END IF;
    PERFORM seats._log_event(p_org, 'downgrade_scheduled',
                             jsonb_build_object('from_limit', v_sub.seat_limit, 'to_limit', p_new_limit,
                                                'effective_at', v_change.effective_at,
                                                'seats_used', v_sub.seats_used),
                             now(), v_change.id);
    RETURN v_change;
END
$$;

CREATE FUNCTION seats.schedule_downgrade(org text, new_limit int, request_key text DEFAULT NULL)
    RETURNS seats.change LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM seats._schedule_downgrade($1, $2, $3) $$;
COMMENT ON FUNCTION seats.schedule_downgrade(text, int, text) IS
    'Lowers the seat limit at the end of the current cycle, if active brokers then fit';

CREATE FUNCTION seats._cancel_change(p_id bigint, p_reason text)
    RETURNS seats.change LANGUAGE plpgsql
AS $$
DECLARE
    v_org text;
    v_change seats.change;
BEGIN
    PERFORM seats._require(p_id, 'change_id'), seats._require(p_reason, 'reason');
    v_change := seats._locked_change(p_id);
    v_org := v_change.org;
    IF v_change.status NOT IN ('requested', 'scheduled', 'blocked', 'held') THEN
        RAISE EXCEPTION 'change % is %, not pending', p_id, v_change.status
            USING ERRCODE = 'SB004', HINT = 'Only requested upgrades and pending downgrades can be cancelled; '
                                            'use seats.revert_change() for applied ones.';
    END IF;
    UPDATE seats.change c SET status = 'cancelled', reason = p_reason WHERE c.id = p_id RETURNING c.* INTO v_change;
    PERFORM seats._log_event(v_org, 'change_cancelled',
                             jsonb_build_object('kind', v_change.kind, 'to_limit', v_change.to_limit,
                                                'reason', p_reason),
                             now(), p_id);
    RETURN v_change;
END
$$;

CREATE FUNCTION seats.cancel_change(change_id bigint, reason text)
    RETURNS seats.change LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM seats._cancel_change($1, $2) $$;

-- Subscriptions due for a turnover, oldest first.
CREATE FUNCTION seats._due_orgs(p_as_of timestamptz, p_limit int, p_skip text[])
    RETURNS SETOF text LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.org FROM seats.subscription s
     WHERE s.cycle_end <= p_as_of AND s.org <> ALL (p_skip)
     ORDER BY s.cycle_end, s.org
     LIMIT p_limit
$$;

-- Turns a batch of organizations over every cycle that ended by p_as_of,
-- set-based, under their org locks (the lock broker writes take: no seat can
-- be taken between the capacity check and the new limit). Each pass turns
-- every still-due org of the batch over one cycle: with the pending
-- downgrade applied (active brokers <= new limit), blocked (kept pending for
-- the next turnover) or held (frozen), one turnover row (the exactly-once
-- key), one audit event per downgrade outcome, and the subscription moved
-- to the next cycle; passes repeat to catch up missed cycles. Returns the
-- number of (org, cycle) turnovers; orgs another run already turned count 0.
CREATE FUNCTION seats._turn_over(p_orgs text[], p_as_of timestamptz) RETURNS int
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_frozen_all boolean := EXISTS (SELECT 1 FROM seats.global_freeze);
    v_pass int;
    v_turned int := 0;
BEGIN
    PERFORM seats._lock_org(o) FROM unnest(p_orgs) o ORDER BY o COLLATE "C";
    LOOP
        WITH due AS (
            SELECT s.org, s.cycle_start, s.cycle_end, s.seats_used, s.seat_limit, s.frozen OR v_frozen_all AS frozen,
                   seats._local_midnight(b.cycle_end, s.time_zone) AS next_end,
                   c.id AS change_id, c.from_limit, c.to_limit
              FROM seats.subscription s
              JOIN seats.plan p ON p.code = s.plan
              -- The cycle that starts at the boundary being crossed.
              CROSS JOIN LATERAL seats.cycle_bounds(s.cycle_anchor, p.billing_period,
                                                    (s.cycle_end AT TIME ZONE s.time_zone)::date) b
              LEFT JOIN LATERAL (
                    SELECT c.id, c.from_limit, c.to_limit FROM seats.change c
                     WHERE c.org = s.org AND c.kind = 'downgrade' AND c.status IN ('scheduled', 'blocked', 'held')
                       AND c.effective_at <= s.cycle_end
                     ORDER BY c.id DESC LIMIT 1) c ON true
             WHERE s.org = ANY (p_orgs) AND s.cycle_end <= p_as_of),
        decided AS (
            SELECT d.*, CASE WHEN d.change_id IS NULL THEN NULL
                             WHEN d.frozen THEN 'held'
                             WHEN d.seats_used <= d.to_limit THEN 'applied'
                             ELSE 'blocked' END AS outcome
              FROM due d),
        changes AS (
            UPDATE seats.change c
               SET status = d.outcome,
                   applied_at = CASE WHEN d.outcome = 'applied' THEN d.cycle_end END,
                   effective_at = CASE WHEN d.outcome = 'applied' THEN d.cycle_end ELSE d.next_end END,
                   from_limit = d.seat_limit
              FROM decided d WHERE c.id = d.change_id),
        numbered AS (
            SELECT d.*, nextval('seats.event_id_seq') AS event_id,
                   (SELECT e.hash FROM seats.event e WHERE e.org = d.org ORDER BY e.id DESC LIMIT 1) AS prev_hash,
                   jsonb_build_object('from_limit', d.from_limit, 'to_limit', d.to_limit, 'seats_used', d.seats_used,
                                      'cycle_end', d.cycle_end,
                                      'next_attempt', CASE WHEN d.outcome = 'applied' THEN NULL ELSE d.next_end END)
                       AS detail
              FROM decided d WHERE d.outcome IS NOT NULL),
        events AS (
            INSERT INTO seats.event (id, org, kind, at, actor, change_id, detail, prev_hash, hash)
            SELECT n.event_id, n.org, 'downgrade_' || n.outcome, n.cycle_end, session_user, n.change_id, n.detail,
                   n.prev_hash,
                   seats._event_hash(n.prev_hash, n.event_id, n.org, 'downgrade_' || n.outcome, n.cycle_end,
                                     session_user, n.change_id, n.detail)
              FROM numbered n),
        turnovers AS (
            INSERT INTO seats.turnover (org, cycle_start, cycle_end, as_of, downgrade, outcome)
            SELECT d.org, d.cycle_start, d.cycle_end, p_as_of, d.change_id, d.outcome FROM decided d)
        UPDATE seats.subscription s
           SET cycle_start = d.cycle_end, cycle_end = d.next_end, updated_at = now(),
               seat_limit = CASE WHEN d.outcome = 'applied' THEN d.to_limit ELSE s.seat_limit END
          FROM decided d WHERE s.org = d.org;
        GET DIAGNOSTICS v_pass = ROW_COUNT;
        EXIT WHEN v_pass = 0;
        v_turned := v_turned + v_pass;
    END LOOP;
    RETURN v_turned;
END
$$;

CREATE FUNCTION seats._turnover_failed(p_org text, p_as_of timestamptz, p_sqlstate text, p_message text)
    RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT seats._log_event(p_org, 'turnover_failed',
                            jsonb_build_object('sqlstate', p_sqlstate, 'message', p_message, 'as_of', p_as_of),
                            p_as_of);
$$;

CREATE FUNCTION seats._check_turnover_args(p_as_of timestamptz, p_batch_size int) RETURNS void
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM seats._require(p_as_of, 'as_of'), seats._require(p_batch_size, 'batch_size');
    IF p_batch_size < 1 THEN
        RAISE EXCEPTION 'batch_size must be at least 1, got %', p_batch_size USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT isfinite(p_as_of) THEN
        RAISE EXCEPTION 'as_of must be a finite timestamp' USING ERRCODE = 'datetime_field_overflow';
    END IF;
    -- Each org is checked after its lock with a fresh statement snapshot;
    -- a transaction snapshot would miss seats committed before the lock.
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'seats.close_due_cycles must run at READ COMMITTED, not %',
                        current_setting('transaction_isolation')
            USING ERRCODE = 'active_sql_transaction';
    END IF;
END
$$;

-- The turnover job (pg_cron every 15 minutes, or by hand). A procedure, so
-- it commits after every batch: interrupted, it resumes where it stopped.
-- Not SECURITY DEFINER (a procedure that is cannot COMMIT): it only calls
-- the SECURITY DEFINER functions above, schema-qualified.
CREATE PROCEDURE seats.close_due_cycles(as_of timestamptz DEFAULT now(), batch_size int DEFAULT 1000)
    LANGUAGE plpgsql
AS $$
DECLARE
    v_org text;
    v_batch text[];
    v_failed text[] := '{}';
    v_state text;
    v_message text;
BEGIN
    PERFORM seats._check_turnover_args(as_of, batch_size);
    LOOP
        v_batch := ARRAY(SELECT o FROM seats._due_orgs(as_of, batch_size, v_failed) o);
        EXIT WHEN pg_catalog.cardinality(v_batch) = 0;
        BEGIN
            -- The whole batch at once: one subtransaction, set-based.
            PERFORM seats._turn_over(v_batch, as_of);
        EXCEPTION WHEN OTHERS THEN
            -- Something in the batch failed: redo it org by org, so that each
            -- failure is recorded and does not stop the others.
            FOREACH v_org IN ARRAY v_batch LOOP
                BEGIN
                    PERFORM seats._turn_over(ARRAY[v_org], as_of);
                EXCEPTION WHEN OTHERS THEN
                    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT;
                    PERFORM seats._turnover_failed(v_org, as_of, v_state, v_message);
                    v_failed := pg_catalog.array_append(v_failed, v_org);
                END;
            END LOOP;
        END;
        COMMIT;
    END LOOP;
END
$$;
COMMENT ON PROCEDURE seats.close_due_cycles(timestamptz, int) IS
    'Turns over every subscription whose cycle ended by as_of (catching up), applying, blocking or holding downgrades';

CREATE FUNCTION seats._cycle_report(p_from timestamptz, p_to timestamptz)
    RETURNS TABLE (downgrades_applied bigint, downgrades_blocked bigint, downgrades_held bigint,
                   upgrades_applied bigint, upgrade_amount numeric, upgrade_amount_by_currency jsonb,
                   blocks bigint, mean_block_resolution interval)
    LANGUAGE plpgsql STABLE
AS $$
BEGIN
    PERFORM seats._require(p_from, 'from_ts'), seats._require(p_to, 'to_ts');
    RETURN QUERY
    WITH ev AS (
        SELECT e.kind, count(*) AS n FROM seats.event e
         WHERE e.at >= p_from AND e.at < p_to
           AND e.kind IN ('downgrade_applied', 'downgrade_blocked', 'downgrade_held', 'seat_blocked')
         GROUP BY e.kind),
    up AS (
        SELECT c.currency::text AS currency, count(*) AS n, sum(c.amount) AS amount FROM seats.change c
         WHERE c.kind = 'upgrade' AND c.applied_at >= p_from AND c.applied_at < p_to
           AND c.status IN ('applied', 'reverted')
         GROUP BY c.currency)
    SELECT coalesce((SELECT n FROM ev WHERE kind = 'downgrade_applied'), 0),
           coalesce((SELECT n FROM ev WHERE kind = 'downgrade_blocked'), 0),
           coalesce((SELECT n FROM ev WHERE kind = 'downgrade_held'), 0),
           coalesce((SELECT sum(n) FROM up), 0)::bigint,
           CASE WHEN (SELECT count(*) FROM up) <= 1 THEN coalesce((SELECT sum(amount) FROM up), 0) END,
           coalesce((SELECT jsonb_object_agg(currency, amount) FROM up), '{}'),
           coalesce((SELECT n FROM ev WHERE kind = 'seat_blocked'), 0),
           NULL::interval;
END
$$;

CREATE FUNCTION seats.cycle_report(from_ts timestamptz, to_ts timestamptz)
    RETURNS TABLE (downgrades_applied bigint, downgrades_blocked bigint, downgrades_held bigint,
                   upgrades_applied bigint, upgrade_amount numeric, upgrade_amount_by_currency jsonb,
                   blocks bigint, mean_block_resolution interval)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM seats._cycle_report($1, $2) $$;
COMMENT ON FUNCTION seats.cycle_report(timestamptz, timestamptz) IS
    'Runbook §9 closing report for [from_ts, to_ts): downgrades applied/blocked/held, upgrades and amount, blocks';

------------------------------------------------------------------------------
-- Monitoring and repair
------------------------------------------------------------------------------

CREATE VIEW seats.usage AS
    SELECT s.org,
           s.plan,
           s.seat_limit,
           s.seats_used,
           greatest(s.seat_limit - s.seats_used, 0) AS seats_free,
           s.seats_used > s.seat_limit AS over_limit,
           d.to_limit AS pending_downgrade_limit,
           d.effective_at AS pending_downgrade_effective_at,
           s.cycle_start,
           s.cycle_end,
           s.frozen
      FROM seats.subscription s
      LEFT JOIN LATERAL (
            SELECT c.to_limit, c.effective_at FROM seats.change c
             WHERE c.org = s.org AND c.kind = 'downgrade' AND c.status IN ('scheduled', 'blocked', 'held')
             ORDER BY c.id DESC LIMIT 1) d ON true;
COMMENT ON VIEW seats.usage IS 'Seats per organization: used/limit, free, over limit, pending downgrade, cycle';

CREATE FUNCTION seats._revalidate(p_org text)
    RETURNS TABLE (org text, counted int, recorded int, fixed boolean)
    LANGUAGE plpgsql
AS $$
BEGIN
    IF p_org IS NOT NULL AND NOT EXISTS (SELECT 1 FROM seats.subscription s WHERE s.org = p_org) THEN
        RAISE EXCEPTION 'organization "%" has no subscription', p_org
            USING ERRCODE = 'SB002', HINT = 'Onboard it first with seats.onboard().';
    END IF;
    RETURN QUERY SELECT * FROM seats._recount(p_org, 'revalidate');
END
$$;

-- SQL, not PL/pgSQL: the fixed signature reuses "org" for input and output.
CREATE FUNCTION seats.revalidate(org text DEFAULT NULL)
    RETURNS TABLE (org text, counted int, recorded int, fixed boolean)
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM seats._revalidate($1) $$;
COMMENT ON FUNCTION seats.revalidate(text) IS
    'Recounts seats from the attached tables, fixes drifted counters and audits each fix';

------------------------------------------------------------------------------
-- Privileges: PUBLIC gets nothing that writes.
------------------------------------------------------------------------------

REVOKE ALL ON ALL TABLES IN SCHEMA seats FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA seats FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA seats FROM PUBLIC;
REVOKE EXECUTE ON ALL PROCEDURES IN SCHEMA seats FROM PUBLIC;
GRANT USAGE ON SCHEMA seats TO PUBLIC;
-- Pure calculations and texts write nothing.
GRANT EXECUTE ON FUNCTION seats.customer_message(text, text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION seats.cycle_bounds(date, text, date) TO PUBLIC;
GRANT EXECUTE ON FUNCTION seats.prorate(int, numeric, timestamptz, timestamptz, timestamptz, text, text, text) TO PUBLIC;
