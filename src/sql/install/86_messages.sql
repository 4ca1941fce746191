------------------------------------------------------------------------------
-- Customer texts (runbook §10) and each customer's language
------------------------------------------------------------------------------

-- The texts, filled with the organization's numbers (used/limit, the new
-- limit, a pending downgrade and its date in the org's time zone) for a
-- caller who may read seats.usage; others, and an org without a
-- subscription, get the runbook's words alone. The language: lang, else
-- the org's (seats.set_customer_language), else broker_seats.language.
-- Runs with the caller's rights: it reads only what seats.usage shows them.
CREATE FUNCTION seats.customer_message(kind text, org text, lang text DEFAULT NULL) RETURNS text
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u record;
BEGIN
    IF $2 IS NULL OR NOT pg_catalog.has_table_privilege('seats.usage'::regclass, 'SELECT') THEN
        RETURN seats._customer_text($1, $3, NULL, NULL, NULL, NULL);
    END IF;
    SELECT v.seats_used, v.seat_limit, v.language, v.pending_downgrade_limit,
           (v.pending_downgrade_effective_at AT TIME ZONE v.time_zone)::date AS pending_on
      INTO u FROM seats.usage v WHERE v.org = $2;
    IF NOT FOUND THEN
        RETURN seats._customer_text($1, $3, NULL, NULL, NULL, NULL);
    END IF;
    RETURN seats._customer_text($1, coalesce($3, u.language), u.seats_used, u.seat_limit,
                                u.pending_downgrade_limit, u.pending_on);
END
$$;
COMMENT ON FUNCTION seats.customer_message(text, text, text) IS
    'Runbook §10 customer text (limit_reached, upgrade_applied, downgrade_scheduled) with the org''s numbers; pt_BR or en';

CREATE FUNCTION seats._set_customer_language(p_org text, p_lang text) RETURNS seats.subscription
    LANGUAGE plpgsql
AS $$
DECLARE
    v_sub seats.subscription;
    v_lang text;
BEGIN
    IF NOT seats._org_here(seats._require(p_org, 'org')) THEN
        -- Citus: on the worker that holds the org (89_sharding.sql).
        SELECT * INTO v_sub FROM seats._set_customer_language_at(p_org, p_lang);
        RETURN v_sub;
    END IF;
    PERFORM seats._require(p_org, 'org');
    v_lang := seats._language(p_lang);  -- the canonical name, or 22023
    PERFORM seats._lock_org(p_org);
    v_sub := seats._subscription(p_org);
    IF v_sub.language IS NOT DISTINCT FROM v_lang THEN
        RETURN v_sub;
    END IF;
    UPDATE seats.subscription s SET language = v_lang, updated_at = now()
     WHERE s.org = p_org RETURNING s.* INTO v_sub;
    PERFORM seats._log_event(p_org, 'language_set', jsonb_build_object('language', v_lang));
    RETURN v_sub;
END
$$;

-- NULL follows broker_seats.language again.
CREATE FUNCTION seats.set_customer_language(org text, lang text) RETURNS seats.subscription
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT seats._set_customer_language($1, $2) $$;
COMMENT ON FUNCTION seats.set_customer_language(text, text) IS
    'Sets the language of an organization''s SB001 and customer texts (pt_BR, en; NULL: broker_seats.language)';
