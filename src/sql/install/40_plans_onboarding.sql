------------------------------------------------------------------------------
-- Plans and onboarding
------------------------------------------------------------------------------


-- A plan as an event payload: money as the exact decimal string (JSON
-- numbers become floats in most drivers).
CREATE FUNCTION seats._plan_json(p_plan seats.plan) RETURNS jsonb
    LANGUAGE sql IMMUTABLE
AS $$ SELECT pg_catalog.to_jsonb(p_plan) OPERATOR(pg_catalog.||)
             pg_catalog.jsonb_build_object('seat_price', p_plan.seat_price::text) $$;

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
    IF seats._blank(code) THEN
        RAISE EXCEPTION 'plan code must not be empty or blank' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF seat_price IN ('NaN'::numeric, 'Infinity'::numeric, '-Infinity'::numeric) THEN
        RAISE EXCEPTION 'seat_price must be a finite amount, got %', seat_price
            USING ERRCODE = 'invalid_parameter_value';
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
    v_plan.seat_price := seats._check_price(seat_price);
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
                                 jsonb_build_object('plan', v_plan.code, 'before', seats._plan_json(v_old),
                                                    'after', seats._plan_json(v_plan)));
    ELSE
        INSERT INTO seats.plan (code, name, seat_price, currency, billing_period, proration)
        VALUES (v_plan.code, v_plan.name, v_plan.seat_price, v_plan.currency, v_plan.billing_period,
                v_plan.proration)
        RETURNING * INTO v_plan;
        PERFORM seats._log_event(NULL, 'plan_created', jsonb_build_object('plan', seats._plan_json(v_plan)));
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
    IF org <> '' AND NOT seats._org_here(org) THEN
        -- Citus: on the worker that holds the org (89_sharding.sql).
        SELECT * INTO v_sub FROM seats._onboard_at(org, plan, seat_limit, cycle_start, time_zone);
        RETURN v_sub;
    END IF;
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
    time_zone := seats._check_time_zone(time_zone);   -- as the time zone database spells it
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
      FROM seats._count_seats(org) c;

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

