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
-- chain's own lock (seats._lock_chain, not the org lock: the block recorder
-- appends without making seat writers wait) keeps writers from forking it.
CREATE FUNCTION seats._log_event(p_org text, p_kind text, p_detail jsonb DEFAULT '{}',
                                 p_at timestamptz DEFAULT now(), p_change bigint DEFAULT NULL)
    RETURNS seats.event LANGUAGE plpgsql
AS $$
DECLARE
    v_prev bytea;
    v_event seats.event;
BEGIN
    -- The global chain's key is '' (no organization has it); its events
    -- hash as before 1.1, with no org.
    PERFORM seats._lock_chain(coalesce(p_org, ''));
    -- The head with the latest snapshot: at REPEATABLE READ the transaction's
    -- own may not show an event committed since (the block recorder's).
    -- Its id above the chain's last: the chain's order is its ids' order,
    -- and under Citus an org's events come from the sequence of whichever
    -- node holds it (docs/citus.md); on one node nextval is already above.
    SELECT h.hash, GREATEST(nextval('seats.event_id_seq'), h.id + 1) INTO v_prev, v_event.id
      FROM seats._chain_head(coalesce(p_org, '')) h;
    v_event.org := coalesce(p_org, '');
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

-- How many blocks a seat_blocked event stands for (1 unless the block
-- recorder grouped a storm's blocks into it).
CREATE FUNCTION seats._blocks_of(p_detail jsonb) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT coalesce((p_detail->>'blocks')::bigint, 1) $$;

CREATE FUNCTION seats._event_append_only() RETURNS trigger LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM seats._loaded();
    RAISE EXCEPTION 'seats.event is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Audit events are never changed; record a new event instead.';
END
$$;
CREATE TRIGGER event_append_only BEFORE UPDATE OR DELETE ON seats.event
    FOR EACH ROW EXECUTE FUNCTION seats._event_append_only();
CREATE TRIGGER event_no_truncate BEFORE TRUNCATE ON seats.event
    FOR EACH STATEMENT EXECUTE FUNCTION seats._event_append_only();


-- Walks each org's hash chain (and the global one, reported with a NULL
-- org) in id order: every event must carry the previous event's hash and a
-- hash of its own fields. Names the first event that does not. Reads only;
-- takes no lock, so it never holds up writers. An org named that has
-- neither a subscription nor an event is a typo: SB002.
-- (PL/pgSQL: Citus plans no parameterized query of a SQL function over its tables.)
CREATE FUNCTION seats._verify_audit(p_org text)
    RETURNS TABLE (org text, events bigint, ok boolean, first_bad_event bigint)
    LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
BEGIN
    PERFORM seats._loaded();
    IF p_org IS NOT NULL AND NOT EXISTS (SELECT 1 FROM seats.subscription s WHERE s.org OPERATOR(pg_catalog.=) p_org)
       AND NOT EXISTS (SELECT 1 FROM seats.event e WHERE e.org OPERATOR(pg_catalog.=) p_org) THEN
        RAISE EXCEPTION 'organization "%" has no subscription and no audit events', p_org USING ERRCODE = 'SB002';
    END IF;
    RETURN QUERY
    WITH chain AS (
        SELECT e.org, e.id,
               e.prev_hash IS NOT DISTINCT FROM pg_catalog.lag(e.hash) OVER w
               AND e.hash OPERATOR(pg_catalog.=)
                   seats._event_hash(e.prev_hash, e.id, NULLIF(e.org, ''), e.kind, e.at, e.actor,
                                     e.change_id, e.detail) AS sound
          FROM seats.event e
         WHERE p_org IS NULL OR e.org OPERATOR(pg_catalog.=) p_org
        WINDOW w AS (PARTITION BY e.org ORDER BY e.id)
    )
    SELECT NULLIF(c.org, ''), pg_catalog.count(*), pg_catalog.bool_and(c.sound),
           pg_catalog.min(c.id) FILTER (WHERE NOT c.sound)
      FROM chain c
     GROUP BY c.org
     ORDER BY c.org COLLATE "C";
END
$$;

-- SQL, not PL/pgSQL: the fixed signature reuses "org" for input and output.
-- A public SQL function only forwards to its internal twin of the same name
-- (seats.x over seats._x): that is how the error hook knows its CONTEXT
-- frame is the extension's (core::internal_context_length).
CREATE FUNCTION seats.verify_audit(org text DEFAULT NULL)
    RETURNS TABLE (org text, events bigint, ok boolean, first_bad_event bigint)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM seats._verify_audit($1) $$;
COMMENT ON FUNCTION seats.verify_audit(text) IS
    'Walks the per-org hash chains of seats.event (and the global one, org NULL) and names the first bad event';
