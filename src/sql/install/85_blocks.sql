------------------------------------------------------------------------------
-- Blocks recorded across their rollback (SPEC §5)
------------------------------------------------------------------------------

-- Called by the block recorder (src/pg/block_worker.cpp) for each SB001 it
-- drained from the shared-memory queue: a seat_blocked event on the org's
-- chain, at the time of the refusal, and the org's block episode opened
-- until its next seat acquisition or upgrade. Under a storm the recorder
-- passes several blocks of one org, table and role at once (p_blocks, from
-- p_at to p_last_at): one event that says how many ("blocks").
CREATE FUNCTION seats._record_block(p_org text, p_at timestamptz, p_table oid, p_role text,
                                    p_requested bigint, p_used bigint, p_limit bigint,
                                    p_blocks bigint DEFAULT 1, p_last_at timestamptz DEFAULT NULL)
    RETURNS void LANGUAGE plpgsql
AS $$
DECLARE
    v_started timestamptz;
    v_resolved timestamptz;
BEGIN
    SELECT s.block_episode_started_at, s.block_episode_resolved_at INTO v_started, v_resolved
      FROM seats.subscription s WHERE s.org = p_org;
    IF NOT FOUND THEN
        RETURN;  -- offboarded since
    END IF;
    -- An episode that a later acquisition or upgrade ended is written up
    -- before a block after it opens the next one.
    IF v_resolved IS NOT NULL AND p_at > v_resolved THEN
        PERFORM seats._log_resolved_episodes(p_org);
        v_started := NULL;
    END IF;
    -- The first block opens the episode: the recorder's only write to the
    -- counter row, once per episode (the episode's blocks are counted from
    -- the events when it closes), so seat writers do not queue behind it.
    IF v_started IS NULL THEN
        UPDATE seats.subscription s SET block_episode_started_at = p_at
         WHERE s.org = p_org AND s.block_episode_started_at IS NULL;
    END IF;
    -- On the org's chain, under the chain's lock (not the org lock).
    PERFORM seats._log_event(p_org, 'seat_blocked',
                             jsonb_build_object('table', p_table::regclass::text,
                                                'role', p_role, 'requested', p_requested,
                                                'used', p_used, 'limit', p_limit)
                             || CASE WHEN p_blocks > 1
                                     THEN jsonb_build_object('blocks', p_blocks, 'last_at', p_last_at)
                                     ELSE '{}' END,
                             p_at);
END
$$;

-- Writes a block_episode_closed event for each episode a seat acquisition
-- or an upgrade ended (block_episode_resolved_at set in the same row
-- version, so an acquisition that rolled back ends nothing), with its
-- resolution time, and clears the episode. The block recorder calls it
-- after every drain; one org, or all.
CREATE FUNCTION seats._log_resolved_episodes(p_org text DEFAULT NULL) RETURNS int
    LANGUAGE plpgsql
AS $$
DECLARE
    r record;
    v_done int := 0;
BEGIN
    FOR r IN
        SELECT s.org FROM seats.subscription s
         WHERE s.block_episode_resolved_at IS NOT NULL AND (p_org IS NULL OR s.org = p_org)
         ORDER BY s.org COLLATE "C"
    LOOP
        PERFORM seats._lock_orgs(ARRAY[r.org]);
        -- Read again under the lock: a concurrent run may have written it.
        FOR r IN
            SELECT s.org, s.block_episode_started_at AS started_at, s.block_episode_resolved_at AS resolved_at,
                   b.blocks, b.last_at
              FROM seats.subscription s,
                   LATERAL (SELECT pg_catalog.sum(seats._blocks_of(e.detail)) AS blocks,
                                   pg_catalog.max(coalesce((e.detail->>'last_at')::timestamptz, e.at)) AS last_at
                              FROM seats.event e
                             WHERE e.org = s.org AND e.kind = 'seat_blocked'
                               AND e.at >= s.block_episode_started_at AND e.at <= s.block_episode_resolved_at) b
             WHERE s.org = r.org AND s.block_episode_resolved_at IS NOT NULL
        LOOP
            PERFORM seats._log_event(r.org, 'block_episode_closed',
                jsonb_build_object('started_at', r.started_at, 'resolved_at', r.resolved_at, 'blocks', r.blocks,
                                   'resolution_seconds',
                                   extract(epoch FROM r.resolved_at - r.started_at)::numeric::text),
                r.resolved_at);
            UPDATE seats.subscription s
               SET block_episode_started_at = NULL, block_episode_resolved_at = NULL, block_episode_blocks = 0,
                   last_block_at = greatest(s.last_block_at, r.last_at)
             WHERE s.org = r.org;
            v_done := v_done + 1;
        END LOOP;
    END LOOP;
    RETURN v_done;
END
$$;

-- The recorder's state in this server: is it on (the library preloaded),
-- how many blocks wait in the queue, were dropped (full queue, or another
-- database) or were recorded since the server started.
CREATE FUNCTION seats._block_recording()
    RETURNS TABLE (enabled boolean, queued bigint, dropped bigint, recorded bigint, capacity bigint)
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'seats_block_recording';
