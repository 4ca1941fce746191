------------------------------------------------------------------------------
-- Downgrades (runbook §4.3) and the cycle turnover (§9)
------------------------------------------------------------------------------

-- The end of the cycle containing p_at, from the anchor: where a change
-- requested at p_at takes effect, even while a turnover is overdue.
CREATE FUNCTION seats._cycle_end_at(p_sub seats.subscription, p_at timestamptz) RETURNS timestamptz
    LANGUAGE sql SET search_path = pg_catalog, pg_temp STABLE
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
    IF NOT seats._org_here(seats._require(p_org, 'org')) THEN
        -- Citus: on the worker that holds the org (89_sharding.sql).
        SELECT * INTO v_change FROM seats._schedule_downgrade_at(p_org, p_new_limit, p_key);
        RETURN v_change;
    END IF;
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
    v_change.brokers_over_new_limit := greatest(v_sub.seats_used - p_new_limit, 0);
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
        PERFORM seats._notice(
            format('organization "%s" has %s active brokers, more than the new limit of %s', p_org,
                   v_sub.seats_used, p_new_limit),
            'At the turnover the downgrade is applied only if active brokers <= the new limit; '
            'otherwise it is recorded as blocked and tried again at the next turnover. '
            'The change''s brokers_over_new_limit column has the same number.',
            format('Deactivate %s broker(s) before %s.', v_sub.seats_used - p_new_limit, v_change.effective_at));
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

CREATE FUNCTION seats._cancel_change(p_id bigint, p_reason text, p_org text DEFAULT NULL)
    RETURNS seats.change LANGUAGE plpgsql
AS $$
DECLARE
    v_org text;
    v_change seats.change;
BEGIN
    PERFORM seats._require(p_id, 'change_id'), seats._require(p_reason, 'reason');
    IF seats._blank(p_reason) THEN
        RAISE EXCEPTION 'a cancellation needs a reason' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_org := seats._change_elsewhere(p_id, p_org);
    IF v_org IS NOT NULL THEN  -- Citus: on the worker that holds the org
        SELECT * INTO v_change FROM seats._cancel_change_at(v_org, p_id, p_reason);
        RETURN v_change;
    END IF;
    v_change := seats._locked_change(p_id, p_org);
    v_org := v_change.org;
    IF v_change.status NOT IN ('requested', 'scheduled', 'blocked', 'held') THEN
        RAISE EXCEPTION 'change % is %, not pending', p_id, v_change.status
            USING ERRCODE = 'SB004', HINT = 'Only requested upgrades and pending downgrades can be cancelled; '
                                            'use seats.revert_change() for applied ones.';
    END IF;
    UPDATE seats.change c SET status = 'cancelled', reason = p_reason WHERE c.org = v_org AND c.id = p_id
    RETURNING c.* INTO v_change;
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
-- (PL/pgSQL, not SQL: an inlined SQL function's parameters are not
-- constants that Citus can plan a distributed query with.)
CREATE FUNCTION seats._due_orgs(p_as_of timestamptz, p_limit int, p_skip text[])
    RETURNS SETOF text LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT s.org FROM seats.subscription s
     WHERE s.cycle_end <= p_as_of AND s.org <> ALL (p_skip)
     ORDER BY s.cycle_end, s.org
     LIMIT p_limit;
END
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
-- (Planned with the batch known, the statement would be costed as 1% of
-- each table and scan the tables whole at every pass; its lookups are by
-- key, a batch at a time, and the plans without sequential scans or hash
-- joins are the ones a generic plan took before the statement became
-- dynamic: measured 17 ms a pass against 3 on 100,000 due orgs.)
CREATE FUNCTION seats._turn_over(p_orgs text[], p_as_of timestamptz) RETURNS int
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off SET enable_hashjoin = off
AS $$
DECLARE
    v_frozen_all boolean;
    v_pass int;
    v_turned int := 0;
    v_statement text;
BEGIN
    PERFORM seats._lock_orgs(p_orgs);
    -- Their chains too (the events are written below, set-based), after the
    -- org locks as everywhere; and the global freeze read under them.
    PERFORM seats._lock_chains(p_orgs);
    v_frozen_all := EXISTS (SELECT 1 FROM seats.global_freeze);
    -- The tables by the relations that hold these orgs' rows here: the
    -- tables themselves, or under Citus (one org at a time, on its worker)
    -- their shards, so that the statement is a local one that Citus does
    -- not plan (a writable CTE over distributed tables it cannot run inside
    -- a delegated call).
    IF seats._distributed() AND pg_catalog.cardinality(p_orgs) <> 1 THEN
        RAISE EXCEPTION 'under Citus the turnover takes one organization at a time' USING ERRCODE = 'feature_not_supported';
    END IF;
    -- ($1 repeated where the batch is joined back: planned with the batch's
    -- size known, the joins would otherwise hash the whole table.)
    v_statement := format($turnover$
        WITH due AS (
            SELECT s.org, s.cycle_start, s.cycle_end, s.seats_used, s.seat_limit, s.frozen OR $3 AS frozen,
                   seats._local_midnight(b.cycle_end, s.time_zone) AS next_end,
                   c.id AS change_id, c.from_limit, c.to_limit, h.id AS head_id, h.hash AS head_hash
              FROM %1$s s
              JOIN %2$s p ON p.code = s.plan
              -- The cycle that starts at the boundary being crossed.
              CROSS JOIN LATERAL seats.cycle_bounds(s.cycle_anchor, p.billing_period,
                                                    (s.cycle_end AT TIME ZONE s.time_zone)::date) b
              LEFT JOIN LATERAL (
                    SELECT c.id, c.from_limit, c.to_limit FROM %3$s c
                     WHERE c.org = s.org AND c.kind = 'downgrade' AND c.status IN ('scheduled', 'blocked', 'held')
                       AND c.effective_at <= s.cycle_end
                     ORDER BY c.id DESC LIMIT 1) c ON true
              -- The audit chain's last event, for the downgrade's event (ids
              -- above it: see seats._log_event).
              LEFT JOIN LATERAL (
                    SELECT e.id, e.hash FROM %4$s e
                     WHERE e.org = s.org AND c.id IS NOT NULL
                     ORDER BY e.id DESC LIMIT 1) h ON true
             WHERE s.org = ANY ($1) AND s.cycle_end <= $2),
        decided AS (
            SELECT d.*, CASE WHEN d.change_id IS NULL THEN NULL
                             WHEN d.frozen THEN 'held'
                             WHEN d.seats_used <= d.to_limit THEN 'applied'
                             ELSE 'blocked' END AS outcome
              FROM due d),
        changes AS (
            UPDATE %3$s c
               SET status = d.outcome,
                   applied_at = CASE WHEN d.outcome = 'applied' THEN d.cycle_end END,
                   effective_at = CASE WHEN d.outcome = 'applied' THEN d.cycle_end ELSE d.next_end END,
                   from_limit = d.seat_limit
              FROM decided d WHERE c.org = ANY ($1) AND c.org = d.org AND c.id = d.change_id),
        numbered AS (
            SELECT d.*, GREATEST(nextval('seats.event_id_seq'), d.head_id + 1) AS event_id, d.head_hash AS prev_hash,
                   jsonb_build_object('from_limit', d.from_limit, 'to_limit', d.to_limit, 'seats_used', d.seats_used,
                                      'cycle_end', d.cycle_end,
                                      'next_attempt', CASE WHEN d.outcome = 'applied' THEN NULL ELSE d.next_end END)
                       AS detail
              FROM decided d WHERE d.outcome IS NOT NULL),
        events AS (
            INSERT INTO %4$s (id, org, kind, at, actor, change_id, detail, prev_hash, hash)
            SELECT n.event_id, n.org, 'downgrade_' || n.outcome, n.cycle_end, session_user, n.change_id, n.detail,
                   n.prev_hash,
                   seats._event_hash(n.prev_hash, n.event_id, n.org, 'downgrade_' || n.outcome, n.cycle_end,
                                     session_user, n.change_id, n.detail)
              FROM numbered n),
        turnovers AS (
            INSERT INTO %5$s (org, cycle_start, cycle_end, as_of, downgrade, outcome)
            SELECT d.org, d.cycle_start, d.cycle_end, $2, d.change_id, d.outcome FROM decided d)
        UPDATE %1$s s
           SET cycle_start = d.cycle_end, cycle_end = d.next_end, updated_at = now(),
               seat_limit = CASE WHEN d.outcome = 'applied' THEN d.to_limit ELSE s.seat_limit END
          FROM decided d WHERE s.org = ANY ($1) AND s.org = d.org
        $turnover$,
        seats._rows_of('seats.subscription', p_orgs[1]), seats._rows_of('seats.plan', NULL),
        seats._rows_of('seats.change', p_orgs[1]), seats._rows_of('seats.event', p_orgs[1]),
        seats._rows_of('seats.turnover', p_orgs[1]));
    LOOP
        EXECUTE v_statement USING p_orgs, p_as_of, v_frozen_all;
        GET DIAGNOSTICS v_pass = ROW_COUNT;
        EXIT WHEN v_pass = 0;
        v_turned := v_turned + v_pass;
    END LOOP;
    RETURN v_turned;
END
$$;

-- (PL/pgSQL: Citus plans no parameterized query of a SQL function over its tables.)
CREATE FUNCTION seats._turnover_failed(p_org text, p_as_of timestamptz, p_sqlstate text, p_message text)
    RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_cycle_end timestamptz;
BEGIN
    PERFORM seats._log_event(p_org, 'turnover_failed',
                             jsonb_build_object('sqlstate', p_sqlstate, 'message', p_message, 'as_of', p_as_of),
                             p_as_of);
    -- NOTIFY seats_alerts once per failed cycle (sent when the batch commits).
    -- (The cycle read first: under Citus, announcing writes a reference
    -- table, which cannot happen inside a query of a shard.)
    SELECT s.cycle_end INTO v_cycle_end FROM seats.subscription s WHERE s.org = p_org;
    IF FOUND THEN
        PERFORM seats._announce('turnover_failed', p_org,
                                pg_catalog.to_char(v_cycle_end AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                                jsonb_build_object('severity', 'critical', 'at', p_as_of, 'cycle_end', v_cycle_end,
                                                   'sqlstate', p_sqlstate, 'message', p_message));
    END IF;
END
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
    -- It commits after every batch, which a transaction block, a
    -- subtransaction (an EXCEPTION block around the CALL) and a function
    -- calling it (an atomic context) forbid: refuse up front, every time,
    -- not only when a batch is due. Asked here, in the procedure's own
    -- body: only its SPI connection knows whether it may commit.
    IF NOT seats._can_commit() THEN
        RAISE EXCEPTION 'seats.close_due_cycles cannot run inside a transaction block, a subtransaction or a function'
            USING ERRCODE = 'active_sql_transaction',
                  DETAIL = 'It commits after every batch of organizations.',
                  HINT = 'Run it in autocommit mode, as a statement of its own: in psql outside BEGIN '
                         '(\set AUTOCOMMIT on); psycopg2 conn.autocommit = True; psycopg 3 autocommit=True; '
                         'SQLAlchemy isolation_level="AUTOCOMMIT"; node-postgres without BEGIN.';
    END IF;
    -- Commit first thing: where PostgreSQL refuses a COMMIT for a reason
    -- SPI cannot tell (a loop over a query that writes, 55000), that is
    -- then every time and before any work, not at the first due batch.
    COMMIT;
    LOOP
        v_batch := ARRAY(SELECT o FROM seats._due_orgs(as_of, batch_size, v_failed) o);
        EXIT WHEN pg_catalog.cardinality(v_batch) = 0;
        IF seats._distributed() THEN
            -- Citus: org by org, each on the worker that holds it (its
            -- lock, counter and chain are there); a failure is the org's.
            FOREACH v_org IN ARRAY v_batch LOOP
                BEGIN
                    PERFORM * FROM seats._turn_over_at(v_org, as_of);
                EXCEPTION WHEN OTHERS THEN
                    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT;
                    PERFORM * FROM seats._turnover_failed(v_org, as_of, v_state, v_message);
                    v_failed := pg_catalog.array_append(v_failed, v_org);
                END;
            END LOOP;
            COMMIT;
            CONTINUE;
        END IF;
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
        SELECT e.kind, sum(seats._blocks_of(e.detail))::bigint AS n FROM seats.event e
         WHERE e.at >= p_from AND e.at < p_to
           AND e.kind IN ('downgrade_applied', 'downgrade_blocked', 'downgrade_held', 'seat_blocked')
         GROUP BY e.kind),
    episodes AS (
        SELECT avg((e.detail->>'resolution_seconds')::numeric) AS seconds FROM seats.event e
         WHERE e.kind = 'block_episode_closed' AND e.at >= p_from AND e.at < p_to),
    up AS (
        -- Net of the credits of the upgrades reverted in the period.
        SELECT c.currency::text AS currency, count(*) FILTER (WHERE c.kind = 'upgrade') AS n,
               sum(c.amount) AS amount FROM seats.change c
         WHERE c.applied_at >= p_from AND c.applied_at < p_to
           AND (c.kind = 'upgrade' AND c.status IN ('applied', 'reverted')
                OR c.kind = 'revert' AND c.amount IS NOT NULL)
         GROUP BY c.currency)
    SELECT coalesce((SELECT n FROM ev WHERE kind = 'downgrade_applied'), 0),
           coalesce((SELECT n FROM ev WHERE kind = 'downgrade_blocked'), 0),
           coalesce((SELECT n FROM ev WHERE kind = 'downgrade_held'), 0),
           coalesce((SELECT sum(n) FROM up), 0)::bigint,
           CASE WHEN (SELECT count(*) FROM up) <= 1 THEN coalesce((SELECT sum(amount) FROM up), 0) END,
           coalesce((SELECT jsonb_object_agg(currency, amount::text) FROM up), '{}'),
           coalesce((SELECT n FROM ev WHERE kind = 'seat_blocked'), 0),
           (SELECT make_interval(secs => seconds::double precision) FROM episodes);
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

