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
    -- The global chain's key is '' (no organization has it); its events
    -- hash as before 1.1, with no org.
    PERFORM seats._lock_org(coalesce(p_org, ''));
    SELECT e.hash INTO v_prev FROM seats.event e WHERE e.org = coalesce(p_org, '') ORDER BY e.id DESC LIMIT 1;
    v_event.id := nextval('seats.event_id_seq');
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

