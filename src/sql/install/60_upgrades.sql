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

-- SB003 while the org is frozen (runbook §6: no new commercial changes),
-- judged in C on the latest committed state under the org lock the caller
-- holds: at REPEATABLE READ a freeze committed after the snapshot is not
-- missed. The message names the reason, DETAIL who froze it, when and the
-- incident.
CREATE FUNCTION seats._check_not_frozen(p_sub seats.subscription) RETURNS void
    LANGUAGE sql VOLATILE
AS $$ SELECT seats._check_not_frozen_now(p_sub.org) $$;

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
    IF seats._blank(p_key) THEN
        RAISE EXCEPTION 'request_key must not be empty or blank'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass NULL for a request without a key, or the ticket or request id that makes it idempotent.';
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
    -- A business time before the subscription existed and before its first
    -- cycle would price (and record) a change made before the organization
    -- was a customer: refused. Between onboarding and a first cycle that
    -- starts later, an upgrade is charged for the whole first cycle.
    v_at := seats._local_midnight(p_sub.cycle_anchor, p_sub.time_zone);
    IF p_at < least(v_at, p_sub.created_at) THEN
        RAISE EXCEPTION 'at % is before the subscription of organization "%" (first cycle from %)', p_at, p_sub.org, v_at
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give the business time of the change, at or after onboarding.';
    END IF;
    IF (p_at AT TIME ZONE p_sub.time_zone) NOT BETWEEN '1400-01-01' AND '9999-12-31 23:59:59.999999' THEN
        RAISE EXCEPTION 'at % is outside the supported calendar (1400-01-01 to 9999-12-31)', p_at
            USING ERRCODE = 'datetime_field_overflow';
    END IF;
    v_at := greatest(p_at, v_at);
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
    -- An upgrade ends the org's open block episode (SPEC §5).
    UPDATE seats.subscription s
       SET seat_limit = p_change.to_limit, updated_at = now(),
           block_episode_resolved_at = CASE WHEN s.block_episode_started_at IS NOT NULL
                                             AND s.block_episode_resolved_at IS NULL
                                            THEN greatest(p_at, s.block_episode_started_at)
                                            ELSE s.block_episode_resolved_at END
     WHERE s.org = p_change.org;
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
                           'amount', p_change.amount::text, 'currency', p_change.currency,
                           'seat_price', p_change.seat_price::text, 'granularity', p_change.granularity,
                           'units_remaining', p_change.units_remaining, 'units_in_cycle', p_change.units_in_cycle,
                           'cycle_start', p_change.cycle_start, 'cycle_end', p_change.cycle_end),
        p_at, p_change.id);
END
$$;

-- (PL/pgSQL: Citus plans no parameterized query of a SQL function over its tables.)
CREATE FUNCTION seats._insert_change(p_change seats.change) RETURNS seats.change
    LANGUAGE plpgsql
AS $$
DECLARE
    v_change seats.change;
BEGIN
    INSERT INTO seats.change (org, kind, from_limit, to_limit, status, requested_at, requested_by, applied_at,
                              effective_at, request_key, plan, seat_price, currency, granularity,
                              units_remaining, units_in_cycle, cycle_start, cycle_end, amount, reverts,
                              incident, reason, brokers_over_new_limit)
    VALUES (p_change.org, p_change.kind, p_change.from_limit, p_change.to_limit, p_change.status,
            p_change.requested_at, coalesce(p_change.requested_by, session_user), p_change.applied_at,
            p_change.effective_at, p_change.request_key, p_change.plan, p_change.seat_price, p_change.currency,
            p_change.granularity, p_change.units_remaining, p_change.units_in_cycle, p_change.cycle_start,
            p_change.cycle_end, p_change.amount, p_change.reverts, p_change.incident, p_change.reason,
            p_change.brokers_over_new_limit)
    RETURNING * INTO v_change;
    RETURN v_change;
END
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
    IF NOT seats._org_here(p_org) THEN
        -- Citus: on the worker that holds the org (89_sharding.sql).
        RETURN QUERY SELECT * FROM seats._quote_upgrade_at(p_org, p_new_limit, p_at);
        RETURN;
    END IF;
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
    IF NOT seats._org_here(seats._require(p_org, 'org')) THEN
        -- Citus: on the worker that holds the org (89_sharding.sql).
        SELECT * INTO v_change FROM seats._upgrade_at(p_org, p_new_limit, p_key, p_at);
        RETURN v_change;
    END IF;
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
    IF NOT seats._org_here(seats._require(p_org, 'org')) THEN
        -- Citus: on the worker that holds the org (89_sharding.sql).
        SELECT * INTO v_change FROM seats._request_upgrade_at(p_org, p_new_limit, p_key);
        RETURN v_change;
    END IF;
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
-- The change, read after its org's lock. With p_org (the org's node under
-- Citus, which knows it from the coordinator) every read names the org.
CREATE FUNCTION seats._locked_change(p_id bigint, p_org text DEFAULT NULL) RETURNS seats.change
    LANGUAGE plpgsql
AS $$
DECLARE
    v_org text := p_org;
    v_change seats.change;
BEGIN
    IF v_org IS NULL THEN
        SELECT c.org INTO v_org FROM seats.change c WHERE c.id = p_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'unknown change %', p_id USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;
    PERFORM seats._lock_org(v_org);
    SELECT c.* INTO v_change FROM seats.change c WHERE c.org = v_org AND c.id = p_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown change %', p_id USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN v_change;
END
$$;

CREATE FUNCTION seats._apply_change(p_id bigint, p_at timestamptz, p_org text DEFAULT NULL)
    RETURNS seats.change LANGUAGE plpgsql
AS $$
DECLARE
    v_org text;
    v_sub seats.subscription;
    v_change seats.change;
    v_priced seats.change;
BEGIN
    PERFORM seats._require(p_id, 'change_id'), seats._require(p_at, 'at');
    v_org := seats._change_elsewhere(p_id, p_org);
    IF v_org IS NOT NULL THEN  -- Citus: on the worker that holds the org
        SELECT * INTO v_change FROM seats._apply_change_at(v_org, p_id, p_at);
        RETURN v_change;
    END IF;
    v_change := seats._locked_change(p_id, p_org);
    v_org := v_change.org;
    IF v_change.kind <> 'upgrade' THEN
        RAISE EXCEPTION 'change % (%) is not an upgrade: only requested upgrades are applied by hand', p_id, v_change.kind
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
     WHERE c.org = v_org AND c.id = p_id
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

