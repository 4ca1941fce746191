------------------------------------------------------------------------------
-- Rollback with evidence (runbook §7)
------------------------------------------------------------------------------

-- The incident and reason every revert needs, checked before anything
-- (a dry run too).
CREATE FUNCTION seats._check_revert_args(p_incident bigint, p_reason text) RETURNS void
    LANGUAGE plpgsql STABLE
AS $$
BEGIN
    PERFORM seats._require(p_incident, 'incident'), seats._require(p_reason, 'reason');
    IF NOT EXISTS (SELECT 1 FROM seats.incident i WHERE i.id = p_incident) THEN
        RAISE EXCEPTION 'incident % does not exist', p_incident USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Open one first: SELECT seats.open_incident(''P1'', ''<impact>'', <org>);';
    END IF;
    IF seats._blank(p_reason) THEN
        RAISE EXCEPTION 'a revert needs a reason' USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$$;

-- When a change was applied, as the id of its upgrade_applied or
-- downgrade_applied event (NULL while pending): the order of application.
-- When each change was applied: the id of its applied event, the order in
-- which limits were changed (a requested upgrade may be applied after a
-- younger one). A view, joined where it is needed: under Citus a function
-- that reads seats.event cannot be called inside a query of seats.change.
CREATE VIEW seats.applied_order AS
    SELECT e.org, e.change_id, pg_catalog.max(e.id) AS seq
      FROM seats.event e
     WHERE e.kind IN ('upgrade_applied', 'downgrade_applied') AND e.change_id IS NOT NULL
     GROUP BY e.org, e.change_id;

-- A change and its money as exact decimal strings, for the evidence.
CREATE FUNCTION seats._change_json(p_change seats.change) RETURNS jsonb
    LANGUAGE sql IMMUTABLE
AS $$
    SELECT pg_catalog.to_jsonb(p_change) || jsonb_build_object('amount', p_change.amount::text,
                                                              'seat_price', p_change.seat_price::text)
$$;

-- Reverts one change of an org whose lock is held: an applied upgrade or
-- downgrade gives the limit back (an upgrade with a credit of minus its
-- amount, stored like a charge with the same inputs); a pending one is
-- cancelled. Nobody is deactivated. Returns the reverted change; a change
-- already reverted is returned as it is (a second call reverts nothing).
CREATE FUNCTION seats._revert_locked(p_change seats.change, p_incident bigint, p_reason text)
    RETURNS seats.change LANGUAGE plpgsql
AS $$
DECLARE
    v_sub seats.subscription;
    v_revert seats.change;
    v_later bigint;
    v_applied boolean := p_change.status = 'applied';
BEGIN
    IF p_change.status = 'reverted' THEN
        RETURN p_change;
    END IF;
    IF p_change.kind NOT IN ('upgrade', 'downgrade') THEN
        RAISE EXCEPTION 'change % is an %, which cannot be reverted', p_change.id, p_change.kind
            USING ERRCODE = 'SB004';
    END IF;
    IF p_change.status NOT IN ('applied', 'requested', 'scheduled', 'blocked', 'held') THEN
        RAISE EXCEPTION 'change % is %: there is nothing to revert', p_change.id, p_change.status
            USING ERRCODE = 'SB004';
    END IF;
    v_sub := seats._subscription(p_change.org);
    IF v_applied THEN
        -- Later in the order the changes were applied (a requested upgrade
        -- may be applied after a younger one), not in id order.
        SELECT c.id INTO v_later
          FROM seats.change c
          JOIN seats.applied_order a ON a.org = c.org AND a.change_id = c.id
          JOIN seats.applied_order mine ON mine.org = c.org AND mine.change_id = p_change.id
         WHERE c.org = p_change.org AND c.id <> p_change.id AND c.kind IN ('upgrade', 'downgrade')
           AND c.status = 'applied' AND a.seq > mine.seq
         ORDER BY a.seq LIMIT 1;
        IF v_later IS NOT NULL OR v_sub.seat_limit <> p_change.to_limit THEN
            RAISE EXCEPTION 'change % is not the last limit change of organization "%"', p_change.id, p_change.org
                USING ERRCODE = 'SB004',
                      DETAIL = format('The limit is %s now%s.', v_sub.seat_limit,
                                      coalesce(format('; change %s came after it', v_later), '')),
                      HINT = 'Revert the later changes first, or all of them with seats.revert_changes_since().';
        END IF;
    END IF;
    v_revert.org := p_change.org;
    v_revert.kind := 'revert';
    v_revert.from_limit := v_sub.seat_limit;
    v_revert.to_limit := CASE WHEN v_applied THEN p_change.from_limit ELSE v_sub.seat_limit END;
    v_revert.status := 'applied';
    v_revert.requested_at := now();
    v_revert.applied_at := now();
    v_revert.reverts := p_change.id;
    v_revert.incident := p_incident;
    v_revert.reason := p_reason;
    IF v_applied AND p_change.kind = 'upgrade' THEN
        -- The credit: the charge's inputs, the amount negated.
        v_revert.plan := p_change.plan;
        v_revert.seat_price := p_change.seat_price;
        v_revert.currency := p_change.currency;
        v_revert.granularity := p_change.granularity;
        v_revert.units_remaining := p_change.units_remaining;
        v_revert.units_in_cycle := p_change.units_in_cycle;
        v_revert.cycle_start := p_change.cycle_start;
        v_revert.cycle_end := p_change.cycle_end;
        v_revert.amount := -p_change.amount;
    END IF;
    v_revert := seats._insert_change(v_revert);
    IF v_applied THEN
        UPDATE seats.subscription s SET seat_limit = p_change.from_limit, updated_at = now()
         WHERE s.org = p_change.org;
        -- A pending downgrade no longer below the limit given back would
        -- raise it at the turnover: cancelled, with the revert as reason.
        WITH cancelled AS (
            UPDATE seats.change c SET status = 'cancelled', reason = format('revert of change %s', p_change.id)
             WHERE c.org = p_change.org AND c.kind = 'downgrade' AND c.status IN ('scheduled', 'blocked', 'held')
               AND c.to_limit >= p_change.from_limit
            RETURNING c.id, c.to_limit)
        SELECT count(*) INTO v_later FROM cancelled;
        IF v_later > 0 THEN
            PERFORM seats._log_event(p_change.org, 'change_cancelled',
                                     jsonb_build_object('reason', format('revert of change %s', p_change.id),
                                                        'downgrades', v_later));
        END IF;
    END IF;
    UPDATE seats.change c SET status = 'reverted' WHERE c.org = p_change.org AND c.id = p_change.id
        RETURNING c.* INTO p_change;
    PERFORM seats._log_event(p_change.org, 'change_reverted',
                             jsonb_build_object('change', p_change.id, 'revert', v_revert.id,
                                                'from_limit', v_revert.from_limit, 'to_limit', v_revert.to_limit,
                                                'credit', v_revert.amount::text, 'currency', v_revert.currency,
                                                'incident', p_incident, 'reason', p_reason,
                                                'evidence', seats._change_json(p_change)),
                             now(), v_revert.id);
    RETURN p_change;
END
$$;

CREATE FUNCTION seats._revert_change(p_id bigint, p_incident bigint, p_reason text, p_org text DEFAULT NULL)
    RETURNS seats.change LANGUAGE plpgsql
AS $$
DECLARE
    v_org text;
    v_change seats.change;
BEGIN
    PERFORM seats._require(p_id, 'change_id');
    PERFORM seats._check_revert_args(p_incident, p_reason);
    v_org := seats._change_elsewhere(p_id, p_org);
    IF v_org IS NOT NULL THEN  -- Citus: on the worker that holds the org
        SELECT * INTO v_change FROM seats._revert_change_at(v_org, p_id, p_incident, p_reason);
        RETURN v_change;
    END IF;
    v_change := seats._locked_change(p_id, p_org);  -- the org lock, then the change as it is now
    v_change := seats._revert_locked(v_change, p_incident, p_reason);
    PERFORM seats._recount(v_change.org, 'revalidate');
    RETURN v_change;
END
$$;

CREATE FUNCTION seats.revert_change(change_id bigint, incident bigint, reason text) RETURNS seats.change
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM seats._revert_change($1, $2, $3) $$;
COMMENT ON FUNCTION seats.revert_change(bigint, bigint, text) IS
    'Reverts a change (limit back, credit of an upgrade, pending ones cancelled) with an incident and a reason; nobody is deactivated';

-- The changes a revert since `since` takes back: upgrades and downgrades
-- not reverted that were requested, applied or written since then — by
-- business time or by the clock (an upgrade backdated with `at`, a downgrade
-- a late turnover applied at its cycle end) — per org pending ones first,
-- then the applied ones from the last applied back.
-- (PL/pgSQL: Citus plans no parameterized query of a SQL function over its tables.)
CREATE FUNCTION seats._revert_candidates(p_since timestamptz, p_orgs text[])
    RETURNS SETOF seats.change LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT c.* FROM seats.change c
      LEFT JOIN seats.applied_order a ON a.org = c.org AND a.change_id = c.id
     WHERE c.kind IN ('upgrade', 'downgrade')
       AND c.status IN ('applied', 'requested', 'scheduled', 'blocked', 'held')
       AND (greatest(c.requested_at, c.applied_at, c.created_at) >= p_since
            OR EXISTS (SELECT 1 FROM seats.event e
                        WHERE e.org = c.org AND e.change_id = c.id
                          AND (e.at >= p_since OR e.created_at >= p_since)))
       AND (p_orgs IS NULL OR c.org = ANY (p_orgs))
     ORDER BY c.org COLLATE "C", a.seq DESC NULLS FIRST, c.id DESC;
END
$$;

CREATE FUNCTION seats._revert_changes_since(p_since timestamptz, p_incident bigint, p_reason text,
                                            p_orgs text[], p_dry_run boolean)
    RETURNS SETOF seats.change LANGUAGE plpgsql
AS $$
DECLARE
    v_orgs text[];
    v_change seats.change;
    v_org text;
BEGIN
    PERFORM seats._require(p_since, 'since'), seats._require(p_dry_run, 'dry_run');
    PERFORM seats._check_revert_args(p_incident, p_reason);
    IF p_dry_run THEN
        -- Writes nothing, takes no lock: what a real run now would revert.
        RETURN QUERY SELECT * FROM seats._revert_candidates(p_since, p_orgs);
        RETURN;
    END IF;
    -- The orgs' locks in one order, then the candidates again under them.
    v_orgs := ARRAY(SELECT o.org FROM (SELECT DISTINCT c.org FROM seats._revert_candidates(p_since, p_orgs) c) o
                     ORDER BY o.org COLLATE "C");
    PERFORM seats._lock_orgs(v_orgs);
    FOR v_change IN SELECT * FROM seats._revert_candidates(p_since, v_orgs) LOOP
        RETURN NEXT seats._revert_locked(v_change, p_incident, p_reason);
    END LOOP;
    -- Then a recount of every org touched; its fixes are audited.
    FOREACH v_org IN ARRAY v_orgs LOOP
        PERFORM seats._recount(v_org, 'revalidate');
    END LOOP;
END
$$;

CREATE FUNCTION seats.revert_changes_since(since timestamptz, incident bigint, reason text,
                                           orgs text[] DEFAULT NULL, dry_run boolean DEFAULT true)
    RETURNS SETOF seats.change
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM seats._revert_changes_since($1, $2, $3, $4, $5) $$;
COMMENT ON FUNCTION seats.revert_changes_since(timestamptz, bigint, text, text[], boolean) IS
    'Reverts every upgrade and downgrade since a time (dry run by default: returns what it would revert)';
