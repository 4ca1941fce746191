------------------------------------------------------------------------------
-- Blocks recorded across their rollback (SPEC §5)
------------------------------------------------------------------------------

-- Called by the block recorder (src/pg/block_worker.cpp) once per batch
-- of SB001s it drained from the shared-memory queue (the i-th element of
-- each array is one refusal, or under a storm p_blocks[i] refusals of one
-- org, table and role from p_at[i] to p_last_at[i]). Locks in the order
-- every writer takes them: first the org locks of the orgs whose block
-- episode opens here (the recorder's only write to their counter rows,
-- once per episode), then each org's audit chain in org order for its
-- seat_blocked events. An episode's blocks are counted from these events
-- when it closes.
CREATE FUNCTION seats._record_blocks(p_org text[], p_at timestamptz[], p_table oid[], p_role text[],
                                     p_requested bigint[], p_used bigint[], p_limit bigint[],
                                     p_blocks bigint[], p_last_at timestamptz[])
    RETURNS void LANGUAGE plpgsql
AS $$
DECLARE
    v_org text;
    v_first timestamptz;
    r record;
BEGIN
    -- Org by org, in key order (the order of the org locks), each query
    -- naming its org: under Citus the recorder runs on each worker, for the
    -- orgs it holds, and these are local queries of their shards.
    FOR v_org, v_first IN
        SELECT u.org, pg_catalog.min(u.at) FROM unnest(p_org, p_at) u(org, at) GROUP BY u.org ORDER BY u.org COLLATE "C"
    LOOP
        IF EXISTS (SELECT 1 FROM seats.subscription s WHERE s.org = v_org AND s.block_episode_started_at IS NULL) THEN
            PERFORM seats._lock_org(v_org);
            UPDATE seats.subscription s SET block_episode_started_at = v_first
             WHERE s.org = v_org AND s.block_episode_started_at IS NULL;
        END IF;
    END LOOP;
    FOR r IN
        SELECT u.* FROM unnest(p_org, p_at, p_table, p_role, p_requested, p_used, p_limit, p_blocks, p_last_at)
                        WITH ORDINALITY u(org, at, tbl, role, requested, used, lim, blocks, last_at, n)
         ORDER BY u.org COLLATE "C", u.n
    LOOP
        CONTINUE WHEN NOT EXISTS (SELECT 1 FROM seats.subscription s WHERE s.org = r.org);  -- offboarded since
        PERFORM seats._log_event(r.org, 'seat_blocked',
                                 -- Schema-qualified whatever the search_path (the recorder's is pinned).
                                 jsonb_build_object('table', coalesce((SELECT format('%I.%I', n.nspname, c.relname)
                                                                         FROM pg_catalog.pg_class c
                                                                         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                                                                        WHERE c.oid = r.tbl), r.tbl::text),
                                                    'role', r.role, 'requested', r.requested,
                                                    'used', r.used, 'limit', r.lim)
                                 || CASE WHEN coalesce(r.blocks, 1) > 1
                                         THEN jsonb_build_object('blocks', r.blocks, 'last_at', r.last_at)
                                         ELSE '{}' END,
                                 r.at);
    END LOOP;
END
$$;

-- One block (or p_blocks of a storm), for callers outside the recorder:
-- an episode that an acquisition or upgrade ended before it is written up
-- first. (The recorder writes up ended episodes in a transaction of its
-- own before each batch.)
CREATE FUNCTION seats._record_block(p_org text, p_at timestamptz, p_table oid, p_role text,
                                    p_requested bigint, p_used bigint, p_limit bigint,
                                    p_blocks bigint DEFAULT 1, p_last_at timestamptz DEFAULT NULL)
    RETURNS void LANGUAGE plpgsql
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM seats.subscription s
                WHERE s.org = p_org AND s.block_episode_resolved_at IS NOT NULL AND p_at > s.block_episode_resolved_at) THEN
        PERFORM seats._log_resolved_episodes(p_org);
    END IF;
    PERFORM seats._record_blocks(ARRAY[p_org], ARRAY[p_at], ARRAY[p_table], ARRAY[p_role], ARRAY[p_requested],
                                 ARRAY[p_used], ARRAY[p_limit], ARRAY[p_blocks], ARRAY[p_last_at]);
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
    v_orgs text[];
    v_done int := 0;
BEGIN
    -- Every org concerned locked first, in one order, then their chains
    -- (as every writer takes them): never an org lock after a chain lock.
    v_orgs := ARRAY(SELECT s.org FROM seats.subscription s
                     WHERE s.block_episode_resolved_at IS NOT NULL AND (p_org IS NULL OR s.org = p_org)
                     ORDER BY s.org COLLATE "C");
    -- Under Citus, the orgs this node holds: the recorder of each node
    -- writes up its own (seats._org_here is true for all on one node).
    v_orgs := ARRAY(SELECT o FROM pg_catalog.unnest(v_orgs) o WHERE seats._org_here(o));
    IF pg_catalog.cardinality(v_orgs) = 0 THEN
        RETURN 0;
    END IF;
    PERFORM seats._lock_orgs(v_orgs);
    -- Read again under the locks: a concurrent run may have written them.
    FOR r IN
        SELECT s.org, s.block_episode_started_at AS started_at, s.block_episode_resolved_at AS resolved_at,
               b.blocks, b.last_at
          FROM seats.subscription s,
               LATERAL (SELECT pg_catalog.sum(seats._blocks_of(e.detail)) AS blocks,
                               pg_catalog.max(coalesce((e.detail->>'last_at')::timestamptz, e.at)) AS last_at
                          FROM seats.event e
                         WHERE e.org = s.org AND e.kind = 'seat_blocked'
                           AND e.at >= s.block_episode_started_at AND e.at <= s.block_episode_resolved_at) b
         WHERE s.org = ANY (v_orgs) AND s.block_episode_resolved_at IS NOT NULL
         ORDER BY s.org COLLATE "C"
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
    RETURN v_done;
END
$$;

-- The recorder's state in this server: is it on (the library preloaded),
-- how many blocks wait in the queue, were dropped (full queue, or another
-- database) or were recorded since the server started.
CREATE FUNCTION seats._block_recording()
    RETURNS TABLE (enabled boolean, queued bigint, dropped bigint, recorded bigint, capacity bigint)
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'seats_block_recording';
