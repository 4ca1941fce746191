------------------------------------------------------------------------------
-- Incidents and freezes (runbook §6, §7)
------------------------------------------------------------------------------

CREATE FUNCTION seats._open_incident(p_severity text, p_impact text, p_org text) RETURNS seats.incident
    LANGUAGE plpgsql
AS $$
DECLARE
    v_incident seats.incident;
BEGIN
    PERFORM seats._require(p_severity, 'severity'), seats._require(p_impact, 'impact');
    IF p_severity NOT IN ('P0', 'P1', 'P2') THEN
        RAISE EXCEPTION 'unknown severity "%"', p_severity USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use P0 (total outage or wrong charges), P1 (partial) or P2 (minor), runbook §6.1.';
    END IF;
    IF seats._blank(p_impact) THEN
        RAISE EXCEPTION 'impact must describe the incident' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_org IS NOT NULL THEN
        PERFORM seats._subscription(p_org);  -- SB002 for an unknown org
    END IF;
    INSERT INTO seats.incident (severity, org, impact) VALUES (p_severity, p_org, p_impact)
        RETURNING * INTO v_incident;
    PERFORM seats._log_event(p_org, 'incident_opened',
                             jsonb_build_object('incident', v_incident.id, 'severity', p_severity, 'impact', p_impact));
    RETURN v_incident;
END
$$;

CREATE FUNCTION seats.open_incident(severity text, impact text, org text DEFAULT NULL) RETURNS seats.incident
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT seats._open_incident($1, $2, $3) $$;
COMMENT ON FUNCTION seats.open_incident(text, text, text) IS
    'Opens a P0, P1 or P2 incident (runbook §6), for one organization or all; audited';

CREATE FUNCTION seats._close_incident(p_id bigint, p_postmortem text) RETURNS seats.incident
    LANGUAGE plpgsql
AS $$
DECLARE
    v_incident seats.incident;
BEGIN
    PERFORM seats._require(p_id, 'id');
    SELECT * INTO v_incident FROM seats.incident i WHERE i.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'incident % does not exist', p_id USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_incident.closed_at IS NOT NULL THEN
        RAISE EXCEPTION 'incident % is already closed', p_id USING ERRCODE = 'SB004',
            DETAIL = format('Closed at %s by %s.', pg_catalog.to_char(v_incident.closed_at, 'YYYY-MM-DD HH24:MI:SSOF'),
                            v_incident.closed_by);
    END IF;
    IF v_incident.severity IN ('P0', 'P1') THEN
        IF p_postmortem IS NULL THEN
            RAISE EXCEPTION 'postmortem must not be null: closing a % incident needs one', v_incident.severity
                USING ERRCODE = 'null_value_not_allowed';
        ELSIF seats._blank(p_postmortem) THEN
            RAISE EXCEPTION 'closing a % incident needs a postmortem', v_incident.severity
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Say what happened, the impact, the cause and what prevents it next time.';
        END IF;
    END IF;
    UPDATE seats.incident i SET closed_at = now(), closed_by = session_user, postmortem = p_postmortem
     WHERE i.id = p_id RETURNING * INTO v_incident;
    PERFORM seats._log_event(v_incident.org, 'incident_closed',
                             jsonb_build_object('incident', p_id, 'severity', v_incident.severity,
                                                'postmortem', p_postmortem));
    RETURN v_incident;
END
$$;

CREATE FUNCTION seats.close_incident(id bigint, postmortem text) RETURNS seats.incident
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT seats._close_incident($1, $2) $$;
COMMENT ON FUNCTION seats.close_incident(bigint, text) IS
    'Closes an incident; a P0 or P1 needs its postmortem; audited';

-- Freezing one org takes its lock; a global freeze takes every org's (the
-- all-organizations lock), so a change in flight finishes first and none
-- starts after it without seeing the freeze.
CREATE FUNCTION seats._freeze(p_reason text, p_org text, p_incident bigint) RETURNS void
    LANGUAGE plpgsql
AS $$
BEGIN
    IF p_org IS NOT NULL AND NOT seats._org_here(p_org) THEN
        -- Citus: on the worker that holds the org (89_sharding.sql).
        PERFORM * FROM seats._freeze_at(p_org, p_reason, p_incident);
        RETURN;
    END IF;
    PERFORM seats._require(p_reason, 'reason');
    IF seats._blank(p_reason) THEN
        RAISE EXCEPTION 'a freeze needs a reason' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_incident IS NOT NULL AND NOT EXISTS (SELECT 1 FROM seats.incident i WHERE i.id = p_incident) THEN
        RAISE EXCEPTION 'incident % does not exist', p_incident USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_org IS NULL THEN
        PERFORM seats._lock_all_orgs();
        -- (The time and the user as values: Citus plans no volatile
        -- function in DO UPDATE SET of a reference table.)
        INSERT INTO seats.global_freeze AS g (reason, incident, frozen_at, frozen_by)
            VALUES (p_reason, p_incident, pg_catalog.now(), session_user)
            ON CONFLICT (singleton) DO UPDATE
            SET reason = excluded.reason, incident = excluded.incident, frozen_at = excluded.frozen_at,
                frozen_by = excluded.frozen_by;
    ELSE
        PERFORM seats._lock_org(p_org);
        PERFORM seats._subscription(p_org);
        UPDATE seats.subscription s
           SET frozen = true, frozen_reason = p_reason, frozen_incident = p_incident,
               frozen_by = session_user, frozen_at = now(), updated_at = now()
         WHERE s.org = p_org;
    END IF;
    PERFORM seats._log_event(p_org, 'frozen', jsonb_build_object('reason', p_reason, 'incident', p_incident));
END
$$;

CREATE FUNCTION seats.freeze(reason text, org text DEFAULT NULL, incident bigint DEFAULT NULL) RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT seats._freeze($1, $2, $3) $$;
COMMENT ON FUNCTION seats.freeze(text, text, bigint) IS
    'Freezes commercial changes of one organization, or of all (NULL); downgrades are held at turnover; audited';

CREATE FUNCTION seats._unfreeze(p_org text) RETURNS void
    LANGUAGE plpgsql
AS $$
DECLARE
    v_was text;
BEGIN
    IF p_org IS NOT NULL AND NOT seats._org_here(p_org) THEN
        -- Citus: on the worker that holds the org (89_sharding.sql).
        PERFORM * FROM seats._unfreeze_at(p_org);
        RETURN;
    END IF;
    IF p_org IS NULL THEN
        PERFORM seats._lock_all_orgs();
        DELETE FROM seats.global_freeze g RETURNING g.reason INTO v_was;
    ELSE
        PERFORM seats._lock_org(p_org);
        PERFORM seats._subscription(p_org);
        SELECT s.frozen_reason INTO v_was FROM seats.subscription s WHERE s.org = p_org AND s.frozen;
        UPDATE seats.subscription s
           SET frozen = false, frozen_reason = NULL, frozen_incident = NULL, frozen_by = NULL, frozen_at = NULL,
               updated_at = now()
         WHERE s.org = p_org AND s.frozen;
    END IF;
    IF FOUND THEN
        PERFORM seats._log_event(p_org, 'unfrozen', jsonb_build_object('was', v_was));
    END IF;
END
$$;

-- Runbook §7 step 5, gradual resumption: freeze the orgs concerned one by
-- one (or keep their own freezes), lift the global freeze, then unfreeze
-- them one at a time.
CREATE FUNCTION seats.unfreeze(org text DEFAULT NULL) RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT seats._unfreeze($1) $$;
COMMENT ON FUNCTION seats.unfreeze(text) IS
    'Lifts the freeze of one organization, or the global one (NULL); audited';
