------------------------------------------------------------------------------
-- Blocks recorded across their rollback (SPEC §5)
------------------------------------------------------------------------------

-- Called by the block recorder (src/pg/block_worker.cpp) for each SB001 it
-- drained from the shared-memory queue: a seat_blocked event on the org's
-- chain, at the time of the refusal, and the org's block episode opened (or
-- counted) until its next seat acquisition or upgrade.
CREATE FUNCTION seats._record_block(p_org text, p_at timestamptz, p_table oid, p_role text,
                                    p_requested bigint, p_used bigint, p_limit bigint)
    RETURNS void LANGUAGE plpgsql
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM seats.subscription s WHERE s.org = p_org) THEN
        RETURN;  -- offboarded since
    END IF;
    PERFORM seats._log_event(p_org, 'seat_blocked',
                             jsonb_build_object('table', p_table::regclass::text,
                                                'role', p_role, 'requested', p_requested,
                                                'used', p_used, 'limit', p_limit),
                             p_at);
    UPDATE seats.subscription s
       SET block_episode_started_at = coalesce(s.block_episode_started_at, p_at),
           block_episode_blocks = s.block_episode_blocks + 1,
           last_block_at = greatest(s.last_block_at, p_at)
     WHERE s.org = p_org;
END
$$;

-- The recorder's state in this server: is it on (the library preloaded),
-- how many blocks wait in the queue, were dropped (full queue, or another
-- database) or were recorded since the server started.
CREATE FUNCTION seats._block_recording()
    RETURNS TABLE (enabled boolean, queued bigint, dropped bigint, recorded bigint, capacity bigint)
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'seats_block_recording';
