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
           s.frozen OR EXISTS (SELECT 1 FROM seats.global_freeze) AS frozen,
           s.time_zone,
           s.language
      FROM seats.subscription s
      LEFT JOIN LATERAL (
            SELECT c.to_limit, c.effective_at FROM seats.change c
             WHERE c.org = s.org AND c.kind = 'downgrade' AND c.status IN ('scheduled', 'blocked', 'held')
             ORDER BY c.id DESC LIMIT 1) d ON true;
COMMENT ON VIEW seats.usage IS 'Seats per organization: used/limit, free, over limit, pending downgrade, cycle, time zone, customer language';

CREATE FUNCTION seats._revalidate(p_org text)
    RETURNS TABLE (org text, counted int, recorded int, fixed boolean)
    LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM seats._loaded();
    IF p_org IS NOT NULL THEN
        PERFORM seats._subscription(p_org);  -- SB002 for an unknown org
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


-- The runbook §5 daily indicators for one calendar day in the session's
-- TimeZone: limit blocks (recorded by the block recorder), upgrades
-- applied, downgrades scheduled, and the mean time from an org's first
-- block to its next seat acquisition or upgrade (episodes closed that day).
-- (PL/pgSQL: Citus plans no parameterized query of a SQL function over its tables.)
CREATE FUNCTION seats._daily_kpis(p_day date)
    RETURNS TABLE (day date, blocks bigint, upgrades_applied bigint, downgrades_scheduled bigint,
                   mean_block_resolution interval)
    LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
BEGIN
    IF NOT isfinite(seats._require(p_day, 'day')) THEN
        RAISE EXCEPTION 'day must be a finite date, got %', p_day USING ERRCODE = 'datetime_field_overflow';
    END IF;
    RETURN QUERY
    WITH bounds AS (
        SELECT p_day::timestamp::timestamptz AS day_start,
               (p_day + 1)::timestamp::timestamptz AS day_end)
    SELECT p_day,
           (SELECT coalesce(pg_catalog.sum(seats._blocks_of(e.detail)), 0)::bigint FROM seats.event e, bounds b
             WHERE e.kind = 'seat_blocked' AND e.at >= b.day_start AND e.at < b.day_end),
           (SELECT pg_catalog.count(*) FROM seats.change c, bounds b
             WHERE c.kind = 'upgrade' AND c.status IN ('applied', 'reverted')
               AND c.applied_at >= b.day_start AND c.applied_at < b.day_end),
           (SELECT pg_catalog.count(*) FROM seats.change c, bounds b
             WHERE c.kind = 'downgrade' AND c.requested_at >= b.day_start AND c.requested_at < b.day_end),
           (SELECT pg_catalog.make_interval(secs => pg_catalog.avg((e.detail->>'resolution_seconds')::numeric)::double precision)
              FROM seats.event e, bounds b
             WHERE e.kind = 'block_episode_closed' AND e.at >= b.day_start AND e.at < b.day_end);
END
$$;

CREATE FUNCTION seats.daily_kpis(day date DEFAULT current_date)
    RETURNS TABLE (day date, blocks bigint, upgrades_applied bigint, downgrades_scheduled bigint,
                   mean_block_resolution interval)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM seats._daily_kpis($1) $$;
COMMENT ON FUNCTION seats.daily_kpis(date) IS
    'Runbook §5 indicators of one day (session TimeZone): blocks, upgrades applied, downgrades scheduled, mean block resolution';
