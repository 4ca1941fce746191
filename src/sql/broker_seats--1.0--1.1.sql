-- broker_seats 1.0 -> 1.1
\echo Use "ALTER EXTENSION broker_seats UPDATE TO '1.1'" to load this file. \quit

-- Enforcement nothing can get around (see docs/design.md): the recount is
-- C over the trigger's own column rules (the SQL-text recount helpers go),
-- org locks escalate, and the DDL guard judges catalog state.

-- Per-organization tables lead their keys with the org, so that they can be
-- distributed by it; the global audit chain gets the key '' instead of a
-- NULL org (its events keep their hashes: they hash with no org, as before).
ALTER TABLE seats.turnover DROP CONSTRAINT turnover_downgrade_fkey;
ALTER TABLE seats.change DROP CONSTRAINT change_reverts_fkey;
ALTER TABLE seats.change DROP CONSTRAINT change_pkey;
ALTER TABLE seats.change ADD PRIMARY KEY (org, id);
ALTER TABLE seats.change ADD FOREIGN KEY (org, reverts) REFERENCES seats.change (org, id);
CREATE INDEX change_id ON seats.change (id);
ALTER TABLE seats.turnover ADD FOREIGN KEY (org, downgrade) REFERENCES seats.change (org, id);
ALTER TABLE seats.event DISABLE TRIGGER event_append_only;
UPDATE seats.event SET org = '' WHERE org IS NULL;
ALTER TABLE seats.event ENABLE TRIGGER event_append_only;
ALTER TABLE seats.event ALTER COLUMN org SET NOT NULL;
ALTER TABLE seats.event DROP CONSTRAINT event_pkey;
ALTER TABLE seats.event ADD PRIMARY KEY (org, id);
DROP INDEX seats.event_org_id;
ALTER TABLE seats.subscription ADD COLUMN block_episode_resolved_at timestamptz;
CREATE INDEX subscription_resolved_episode ON seats.subscription (block_episode_resolved_at);
COMMENT ON TABLE seats.event IS 'Append-only audit trail, hash-chained per organization (org '''': the global chain)';

-- Issue 13: due orgs in (cycle_end, org) order without a sort per batch.
DROP INDEX seats.subscription_cycle_end;
CREATE INDEX subscription_cycle_end ON seats.subscription (cycle_end, org);

-- Issue 12: a downgrade's brokers above its new limit, as a column.
ALTER TABLE seats.change ADD COLUMN brokers_over_new_limit integer;

-- Issue 10: each customer's language, alert thresholds, alerts announced.
ALTER TABLE seats.subscription ADD COLUMN language text CHECK (language IN ('pt_BR', 'en'));
CREATE TABLE seats.setting (
    name            text PRIMARY KEY,
    value           text NOT NULL,
    changed_at      timestamptz NOT NULL DEFAULT now(),
    changed_by      text NOT NULL DEFAULT session_user
);
COMMENT ON TABLE seats.setting IS 'Alert and checklist thresholds changed from their defaults (see seats.settings)';
CREATE TABLE seats.alert_sent (
    kind            text NOT NULL,
    org             text NOT NULL,
    key             text NOT NULL,
    sent_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (kind, org, key)
);
COMMENT ON TABLE seats.alert_sent IS 'Alerts announced on NOTIFY seats_alerts (each once)';
SELECT pg_catalog.pg_extension_config_dump('seats.setting', '');
SELECT pg_catalog.pg_extension_config_dump('seats.alert_sent', '');
-- Issue 11: who froze an org and when; who closed an incident.
ALTER TABLE seats.subscription ADD COLUMN frozen_by text, ADD COLUMN frozen_at timestamptz;
ALTER TABLE seats.incident ADD COLUMN closed_by text;

DROP FUNCTION seats._seat_counts(text);
DROP FUNCTION seats._count_sql(text);
DROP FUNCTION seats._member_count_sql(regclass, text, text, text, text[], boolean, text);
DROP FUNCTION seats._recount(text, text);
DROP FUNCTION seats._check_mapping(regclass, name, name, name);
-- Under Citus these take the org known on its worker (89_sharding.sql).
DROP FUNCTION seats._locked_change(bigint);
DROP FUNCTION seats._apply_change(bigint, timestamptz);
DROP FUNCTION seats._cancel_change(bigint, text);
-- Issue 12: a subscription's time zone is checked (and spelled) in C.
DROP FUNCTION seats._time_zone_known(text);

CREATE OR REPLACE FUNCTION seats._customer_text(kind text, lang text, used int, seat_limit int,
                                     pending_limit int, pending_on date) RETURNS text
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'seats_customer_text';

CREATE OR REPLACE FUNCTION seats._language(name text) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'seats_language_name';

CREATE OR REPLACE FUNCTION seats._business_time(from_local timestamp, to_local timestamp, open time, close time, days text)
    RETURNS interval LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'seats_business_time';

CREATE OR REPLACE FUNCTION seats.cycle_bounds(anchor date, billing_period text, at date)
    RETURNS TABLE (cycle_start date, cycle_end date)
    LANGUAGE c IMMUTABLE PARALLEL SAFE ROWS 1 AS 'MODULE_PATHNAME', 'seats_cycle_bounds';

CREATE OR REPLACE FUNCTION seats._check_time_zone(p_time_zone text) RETURNS text
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'seats_check_time_zone';

CREATE OR REPLACE FUNCTION seats._lock_orgs(orgs text[]) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'seats_lock_orgs';

CREATE OR REPLACE FUNCTION seats._invoker() RETURNS oid
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'seats_invoker';

CREATE OR REPLACE FUNCTION seats._lock_chain(org text) RETURNS void
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'seats_lock_chain';

CREATE OR REPLACE FUNCTION seats._lock_chains(orgs text[]) RETURNS void
    LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    o text;
BEGIN
    FOR o IN SELECT x FROM pg_catalog.unnest(orgs) x ORDER BY x COLLATE "C" LOOP
        PERFORM seats._lock_chain(o);
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION seats._check_not_frozen_now(org text) RETURNS void
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'seats_check_not_frozen';

CREATE OR REPLACE FUNCTION seats._chain_head(org text, OUT id bigint, OUT hash bytea)
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'seats_chain_head';

CREATE OR REPLACE FUNCTION seats._distributed() RETURNS boolean
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'seats_distributed';

CREATE OR REPLACE FUNCTION seats._org_here(org text) RETURNS boolean
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'seats_org_here';

CREATE OR REPLACE FUNCTION seats._is_citus_table(tbl regclass) RETURNS boolean
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'seats_is_citus_table';

CREATE OR REPLACE FUNCTION seats._rows_of(tbl regclass, org text) RETURNS regclass
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'seats_rows_of';

CREATE OR REPLACE FUNCTION seats._lock_all_orgs() RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'seats_lock_all_orgs';

CREATE OR REPLACE FUNCTION seats._relation_seats(member_table regclass, org_column name, role_column name,
                                      active_column name, seat_roles text[], org text DEFAULT NULL,
                                      statement_snapshot boolean DEFAULT false)
    RETURNS TABLE (org text, counted bigint)
    LANGUAGE c VOLATILE ROWS 100 AS 'MODULE_PATHNAME', 'seats_relation_seats';

CREATE OR REPLACE FUNCTION seats._check_member_columns(member_table regclass, org_column name, role_column name,
                                            active_column name, seat_roles text[])
    RETURNS text LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'seats_check_member_columns';

CREATE OR REPLACE FUNCTION seats._ddl_start_guard() RETURNS event_trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'seats_ddl_start_guard';

CREATE OR REPLACE FUNCTION seats._require(p_value anyelement, p_name text) RETURNS anyelement
    LANGUAGE c IMMUTABLE AS 'MODULE_PATHNAME', 'seats_require';

CREATE OR REPLACE FUNCTION seats._notice(p_message text, p_detail text DEFAULT NULL, p_hint text DEFAULT NULL) RETURNS void
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'seats_notice';

CREATE OR REPLACE FUNCTION seats._check_price(p_price numeric) RETURNS numeric
    LANGUAGE c IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'seats_check_price';

CREATE OR REPLACE FUNCTION seats._blank(p_value text) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'seats_blank';

CREATE OR REPLACE FUNCTION seats._loaded() RETURNS void
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'seats_loaded';

CREATE OR REPLACE FUNCTION seats._can_commit() RETURNS boolean
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'seats_can_commit';

CREATE OR REPLACE FUNCTION seats._log_event(p_org text, p_kind text, p_detail jsonb DEFAULT '{}',
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

CREATE OR REPLACE FUNCTION seats._blocks_of(p_detail jsonb) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT coalesce((p_detail->>'blocks')::bigint, 1) $$;

CREATE OR REPLACE FUNCTION seats._event_append_only() RETURNS trigger LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM seats._loaded();
    RAISE EXCEPTION 'seats.event is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Audit events are never changed; record a new event instead.';
END
$$;

CREATE OR REPLACE FUNCTION seats._verify_audit(p_org text)
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

CREATE OR REPLACE FUNCTION seats.verify_audit(org text DEFAULT NULL)
    RETURNS TABLE (org text, events bigint, ok boolean, first_bad_event bigint)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM seats._verify_audit($1) $$;

CREATE OR REPLACE FUNCTION seats._plan_json(p_plan seats.plan) RETURNS jsonb
    LANGUAGE sql IMMUTABLE
AS $$ SELECT pg_catalog.to_jsonb(p_plan) OPERATOR(pg_catalog.||)
             pg_catalog.jsonb_build_object('seat_price', p_plan.seat_price::text) $$;

CREATE OR REPLACE FUNCTION seats.create_plan(code text, seat_price numeric, currency text DEFAULT 'BRL',
                                  billing_period text DEFAULT 'monthly', proration text DEFAULT 'day',
                                  name text DEFAULT NULL)
    RETURNS seats.plan LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_plan seats.plan;
    v_old seats.plan;
BEGIN
    PERFORM seats._require(code, 'code'), seats._require(seat_price, 'seat_price'),
            seats._require(currency, 'currency'), seats._require(billing_period, 'billing_period'),
            seats._require(proration, 'proration');
    IF seats._blank(code) THEN
        RAISE EXCEPTION 'plan code must not be empty or blank' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF seat_price IN ('NaN'::numeric, 'Infinity'::numeric, '-Infinity'::numeric) THEN
        RAISE EXCEPTION 'seat_price must be a finite amount, got %', seat_price
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF seat_price < 0 THEN
        RAISE EXCEPTION 'seat_price must not be negative, got %', seat_price
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF proration NOT IN ('day', 'second') THEN
        RAISE EXCEPTION 'unknown proration "%"', proration
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use day or second.';
    END IF;
    v_plan.code := code;
    v_plan.name := coalesce(name, code);
    v_plan.seat_price := seats._check_price(seat_price);
    v_plan.currency := seats._currency(currency);
    v_plan.billing_period := seats._billing_period(billing_period);
    v_plan.proration := proration;

    SELECT p.* INTO v_old FROM seats.plan p WHERE p.code = v_plan.code FOR UPDATE;
    IF FOUND THEN
        IF (v_old.name, v_old.seat_price, v_old.currency, v_old.billing_period, v_old.proration)
           IS NOT DISTINCT FROM
           (v_plan.name, v_plan.seat_price, v_plan.currency, v_plan.billing_period, v_plan.proration) THEN
            RETURN v_old;  -- same plan again: nothing to do
        END IF;
        UPDATE seats.plan p SET name = v_plan.name, seat_price = v_plan.seat_price,
               currency = v_plan.currency, billing_period = v_plan.billing_period,
               proration = v_plan.proration, updated_at = now()
         WHERE p.code = v_plan.code RETURNING p.* INTO v_plan;
        PERFORM seats._log_event(NULL, 'plan_changed',
                                 jsonb_build_object('plan', v_plan.code, 'before', seats._plan_json(v_old),
                                                    'after', seats._plan_json(v_plan)));
    ELSE
        INSERT INTO seats.plan (code, name, seat_price, currency, billing_period, proration)
        VALUES (v_plan.code, v_plan.name, v_plan.seat_price, v_plan.currency, v_plan.billing_period,
                v_plan.proration)
        RETURNING * INTO v_plan;
        PERFORM seats._log_event(NULL, 'plan_created', jsonb_build_object('plan', seats._plan_json(v_plan)));
    END IF;
    RETURN v_plan;
END
$$;

CREATE OR REPLACE FUNCTION seats.onboard(org text, plan text, seat_limit int,
                              cycle_start date DEFAULT current_date,
                              time_zone text DEFAULT 'America/Sao_Paulo')
    RETURNS seats.subscription LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_plan seats.plan;
    v_sub seats.subscription;
    v_today date;
    v_start date;
    v_end date;
    v_used bigint;
    v_change seats.change;
BEGIN
    PERFORM seats._require(org, 'org'), seats._require(plan, 'plan'),
            seats._require(seat_limit, 'seat_limit'), seats._require(cycle_start, 'cycle_start');
    IF org <> '' AND NOT seats._org_here(org) THEN
        -- Citus: on the worker that holds the org (89_sharding.sql).
        SELECT * INTO v_sub FROM seats._onboard_at(org, plan, seat_limit, cycle_start, time_zone);
        RETURN v_sub;
    END IF;
    IF org = '' THEN
        RAISE EXCEPTION 'org must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF seat_limit < 0 THEN
        RAISE EXCEPTION 'seat_limit must not be negative, got %', seat_limit
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT isfinite(cycle_start) THEN
        RAISE EXCEPTION 'cycle_start must be a finite date, got %', cycle_start
            USING ERRCODE = 'datetime_field_overflow';
    END IF;
    time_zone := seats._check_time_zone(time_zone);   -- as the time zone database spells it
    SELECT p.* INTO v_plan FROM seats.plan p WHERE p.code = onboard.plan;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown plan "%"', plan
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Create it first with seats.create_plan().';
    END IF;

    PERFORM seats._lock_org(org);
    SELECT s.* INTO v_sub FROM seats.subscription s WHERE s.org = onboard.org;
    IF FOUND THEN
        IF v_sub.plan = v_plan.code AND v_sub.seat_limit = onboard.seat_limit
           AND v_sub.cycle_anchor = onboard.cycle_start AND v_sub.time_zone = onboard.time_zone THEN
            RETURN v_sub;  -- the same onboarding replayed
        END IF;
        RAISE EXCEPTION 'organization "%" is already onboarded (plan %, % seats)', org, v_sub.plan,
                        v_sub.seat_limit
            USING ERRCODE = 'SB004',
                  HINT = 'Change its seats with seats.upgrade() or seats.schedule_downgrade().';
    END IF;

    -- SPEC §7: a start today or later opens the first cycle there; a start
    -- in the past makes the current cycle the one containing today (local).
    v_today := (now() AT TIME ZONE time_zone)::date;
    IF cycle_start >= v_today THEN
        v_start := cycle_start;
        v_end := seats._cycle_boundary(cycle_start, v_plan.billing_period, 1);
    ELSE
        SELECT b.cycle_start, b.cycle_end INTO v_start, v_end
          FROM seats.cycle_bounds(cycle_start, v_plan.billing_period, v_today) b;
    END IF;

    -- Brokers already in attached tables are counted (and may exceed the limit).
    SELECT coalesce(sum(c.counted), 0) INTO v_used
      FROM seats._count_seats(org) c;

    INSERT INTO seats.subscription (org, plan, seat_limit, seats_used, cycle_anchor, cycle_start,
                                    cycle_end, time_zone)
    VALUES (org, v_plan.code, seat_limit, v_used, cycle_start,
            seats._local_midnight(v_start, time_zone), seats._local_midnight(v_end, time_zone), time_zone)
    RETURNING * INTO v_sub;

    INSERT INTO seats.change (org, kind, from_limit, to_limit, status, requested_at, applied_at,
                              effective_at, plan, seat_price, currency, cycle_start, cycle_end)
    VALUES (org, 'onboard', NULL, seat_limit, 'applied', now(), now(), v_sub.cycle_start, v_plan.code,
            v_plan.seat_price, v_plan.currency, v_sub.cycle_start, v_sub.cycle_end)
    RETURNING * INTO v_change;

    PERFORM seats._log_event(org, 'onboard',
                             jsonb_build_object('plan', v_plan.code, 'seat_limit', seat_limit,
                                                'seats_used', v_used, 'cycle_start', v_sub.cycle_start,
                                                'cycle_end', v_sub.cycle_end, 'time_zone', time_zone),
                             now(), v_change.id);
    RETURN v_sub;
END
$$;

CREATE OR REPLACE FUNCTION seats._relation_tree(p_rel regclass) RETURNS SETOF regclass
    LANGUAGE sql STABLE
AS $$
    WITH RECURSIVE tree(relid) AS (
        SELECT p_rel::oid
        UNION
        SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN tree t ON i.inhparent OPERATOR(pg_catalog.=) t.relid
    )
    SELECT relid::regclass FROM tree
$$;

CREATE OR REPLACE FUNCTION seats._attachments() RETURNS SETOF seats.attachment
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY EXECUTE format('SELECT a.relid, a.org_column, a.role_column, a.active_column, a.active_kind, '
                                'a.seat_roles, a.attached_at FROM %s a', seats._rows_of('seats.attachment', NULL));
END
$$;

CREATE OR REPLACE VIEW seats.attached_relation AS
    SELECT a.relid AS attachment, t.relation
      FROM seats._attachments() a, seats._relation_tree(a.relid) AS t(relation);

CREATE OR REPLACE FUNCTION seats._count_seats(p_org text DEFAULT NULL, p_statement_snapshot boolean DEFAULT false)
    RETURNS TABLE (org text, counted bigint)
    LANGUAGE sql STABLE SET jit = off
AS $$
    SELECT c.org, pg_catalog.sum(c.counted)::bigint
      FROM seats.attached_relation ar
      JOIN seats._attachments() a ON a.relid OPERATOR(pg_catalog.=) ar.attachment,
           LATERAL seats._relation_seats(ar.relation, a.org_column, a.role_column, a.active_column,
                                         a.seat_roles, p_org, p_statement_snapshot) c
     GROUP BY c.org
$$;

CREATE OR REPLACE FUNCTION seats._recount(p_org text, p_reason text, p_refuse_over boolean DEFAULT false)
    RETURNS TABLE (org text, counted int, recorded int, fixed boolean)
    LANGUAGE plpgsql
AS $$
DECLARE
    r record;
    v_org text;
BEGIN
    -- Citus: each org on the worker that holds it, one at a time (its
    -- members, counter and lock are there; docs/citus.md).
    IF seats._distributed() AND (p_org IS NULL OR NOT seats._org_here(p_org)) THEN
        FOR v_org IN SELECT s.org FROM seats.subscription s
                      WHERE p_org IS NULL OR s.org OPERATOR(pg_catalog.=) p_org ORDER BY s.org COLLATE "C" LOOP
            RETURN QUERY SELECT * FROM seats._recount_at(v_org, p_reason, p_refuse_over);
        END LOOP;
        RETURN;
    END IF;
    -- Lock first, then count: the counts then include every seat committed
    -- before the locks. All orgs: one lock, not one per org.
    IF p_org IS NULL THEN
        PERFORM seats._lock_all_orgs();
    ELSE
        PERFORM seats._lock_orgs(ARRAY[p_org]);
    END IF;
    FOR r IN
        SELECT s.org, coalesce(c.counted, 0)::int AS counted, s.seats_used AS recorded, s.seat_limit
          FROM seats.subscription s
          LEFT JOIN seats._count_seats(p_org) c ON c.org OPERATOR(pg_catalog.=) s.org
         WHERE p_org IS NULL OR s.org OPERATOR(pg_catalog.=) p_org
         ORDER BY s.org COLLATE "C"
    LOOP
        org := r.org;
        counted := r.counted;
        recorded := r.recorded;
        fixed := r.counted <> r.recorded;
        IF fixed THEN
            IF p_refuse_over AND r.counted > r.recorded AND r.counted > r.seat_limit THEN
                RAISE EXCEPTION 'the brokers this change brings under enforcement do not fit organization "%"', r.org
                    USING ERRCODE = 'object_in_use',
                          DETAIL = format('%s/%s after the change, %s before.', r.counted, r.seat_limit, r.recorded),
                          HINT = 'Upgrade the organization or deactivate brokers first.';
            END IF;
            UPDATE seats.subscription s SET seats_used = r.counted, updated_at = now() WHERE s.org = r.org;
            PERFORM seats._log_event(r.org, 'counter_fixed',
                                     jsonb_build_object('recorded', r.recorded, 'counted', r.counted,
                                                        'reason', p_reason));
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION seats._trigger_args(p_att seats.attachment) RETURNS bytea
    LANGUAGE sql STABLE
AS $$
    SELECT pg_catalog.string_agg(pg_catalog.convert_to(x, pg_catalog.getdatabaseencoding())
                                 OPERATOR(pg_catalog.||) '\x00'::bytea, ''::bytea ORDER BY n)
      FROM unnest(ARRAY[p_att.org_column::text, p_att.role_column::text, p_att.active_column::text]
                  OPERATOR(pg_catalog.||) p_att.seat_roles) WITH ORDINALITY AS u(x, n)
$$;

CREATE OR REPLACE VIEW seats.enforcement_trigger AS
    SELECT tg.oid, tg.tgrelid::regclass AS relation, tg.tgname, tg.tgtype, tg.tgenabled, tg.tgargs,
           p.proname AS function
      FROM pg_catalog.pg_trigger tg
      JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) tg.tgfoid
     WHERE p.pronamespace OPERATOR(pg_catalog.=) 'seats'::regnamespace
       AND p.proname IN ('member_change_trigger', 'member_truncate_trigger');

CREATE OR REPLACE FUNCTION seats._drop_triggers(p_rel regclass) RETURNS void
    LANGUAGE plpgsql
AS $$
DECLARE
    t name;
BEGIN
    FOR t IN SELECT et.tgname FROM seats.enforcement_trigger et WHERE et.relation OPERATOR(pg_catalog.=) p_rel LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', t, p_rel);
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION seats._trigger_count(p_rel regclass) RETURNS int
    LANGUAGE sql SET search_path = pg_catalog, pg_temp STABLE
AS $$
    SELECT count(*)::int FROM seats.enforcement_trigger et WHERE et.relation OPERATOR(pg_catalog.=) p_rel
$$;

CREATE OR REPLACE FUNCTION seats._sync_triggers() RETURNS boolean
    LANGUAGE plpgsql
AS $$
DECLARE
    r record;
    v_changed boolean := false;
BEGIN
    PERFORM set_config('broker_seats.internal_ddl', 'on', true);
    -- Only where the attached table itself has its triggers: while
    -- pg_restore rebuilds a database the table and its partitions have none
    -- yet (triggers come in post-data), and restoring them must not collide.
    FOR r IN
        SELECT ar.relation, a AS att
          FROM seats.attached_relation ar JOIN seats._attachments() a ON a.relid = ar.attachment
         WHERE seats._trigger_count(ar.relation) < 4
           AND seats._trigger_count(a.relid) = 4
    LOOP
        PERFORM seats._drop_triggers(r.relation);
        PERFORM seats._install_triggers(r.relation, r.att);
        v_changed := true;
    END LOOP;
    FOR r IN
        SELECT DISTINCT et.relation FROM seats.enforcement_trigger et
         WHERE et.relation NOT IN (SELECT ar.relation FROM seats.attached_relation ar)
    LOOP
        PERFORM seats._drop_triggers(r.relation);
        v_changed := true;
    END LOOP;
    PERFORM set_config('broker_seats.internal_ddl', 'off', true);
    RETURN v_changed;
END
$$;

CREATE OR REPLACE FUNCTION seats._check_mapping(member_table regclass, org_column name, role_column name,
                                     active_column name, seat_roles text[])
    RETURNS text LANGUAGE plpgsql STABLE
AS $$
BEGIN
    PERFORM seats._column_type(member_table, org_column, 'org_column'),
            seats._column_type(member_table, role_column, 'role_column'),
            seats._column_type(member_table, active_column, 'active_column');
    RETURN seats._check_member_columns(member_table, org_column, role_column, active_column, seat_roles);
END
$$;

CREATE OR REPLACE FUNCTION seats._relation_ancestors(p_rel regclass) RETURNS SETOF regclass
    LANGUAGE sql STABLE
AS $$
    WITH RECURSIVE up(relid) AS (
        SELECT i.inhparent FROM pg_catalog.pg_inherits i WHERE i.inhrelid OPERATOR(pg_catalog.=) p_rel::oid
        UNION
        SELECT i.inhparent FROM pg_catalog.pg_inherits i JOIN up u ON i.inhrelid OPERATOR(pg_catalog.=) u.relid
    )
    SELECT relid::regclass FROM up
$$;

CREATE OR REPLACE FUNCTION seats._check_may_attach(p_table regclass) RETURNS void
    LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_invoker oid := seats._invoker();
    v_owner oid;
BEGIN
    IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid = v_invoker) THEN
        RETURN;
    END IF;
    SELECT c.relowner INTO v_owner FROM pg_catalog.pg_class c WHERE c.oid = p_table;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = 'seats_operator')
       OR NOT pg_catalog.pg_has_role(v_invoker, 'seats_operator', 'USAGE')
       OR v_owner IS NULL OR NOT pg_catalog.pg_has_role(v_invoker, v_owner, 'USAGE') THEN
        RAISE EXCEPTION 'permission denied to attach or detach table %', p_table
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Only the table''s owner with the seats_operator role, or a superuser, may.',
                  HINT = 'SELECT seats.create_standard_roles(); GRANT seats_operator TO <the table''s owner>;';
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION seats.attach(member_table regclass, org_column name DEFAULT 'org_id',
                             role_column name DEFAULT 'role', active_column name DEFAULT 'active',
                             seat_roles text[] DEFAULT '{broker}')
    RETURNS void LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_kind "char";
    v_active_kind text;
    v_att seats.attachment;
BEGIN
    PERFORM seats._require(member_table, 'member_table'), seats._require(org_column, 'org_column'),
            seats._require(role_column, 'role_column'), seats._require(active_column, 'active_column'),
            seats._check_may_attach(member_table),
            -- Every org (its recount needs them), before any chain lock.
            seats._lock_all_orgs(),
            seats._require(seat_roles, 'seat_roles');
    SELECT c.relkind INTO v_kind FROM pg_catalog.pg_class c WHERE c.oid = member_table;
    IF v_kind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION 'member_table % must be a table or a partitioned table', member_table
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = member_table AND c.relpersistence = 't') THEN
        RAISE EXCEPTION 'member_table % is a temporary table', member_table
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A temporary table disappears with its session without any DDL event, and its seats would never be given back.';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_class c
                WHERE c.oid = member_table AND c.relnamespace = 'seats'::regnamespace)
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                   WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = member_table
                     AND d.deptype = 'e') THEN
        RAISE EXCEPTION 'member_table % belongs to an extension', member_table
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Attach the application''s member tables, not tables of broker_seats or another extension.';
    END IF;
    IF EXISTS (SELECT 1 FROM seats._relation_ancestors(member_table) x
                WHERE x IN (SELECT a.relid FROM seats._attachments() a)) THEN
        RAISE EXCEPTION 'member_table % inherits from an attached table', member_table
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Its rows are already enforced through the attached parent.';
    END IF;
    -- Statements naming a parent fire only the parent's statement triggers:
    -- a partition or child attached alone would be written around.
    IF EXISTS (SELECT 1 FROM seats._relation_ancestors(member_table)) THEN
        RAISE EXCEPTION 'member_table % is a partition or inheritance child of %', member_table,
                        (SELECT x FROM seats._relation_ancestors(member_table) x LIMIT 1)
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Writes through the parent would not fire its triggers.',
                  HINT = 'Attach the root of the tree: its partitions and children are enforced with it.';
    END IF;
    IF EXISTS (SELECT 1 FROM seats._relation_tree(member_table) x
                WHERE x <> member_table AND x IN (SELECT a.relid FROM seats._attachments() a)) THEN
        RAISE EXCEPTION 'a partition or child of member_table % is attached on its own', member_table
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Detach it first (in the same transaction), then attach the parent: its rows would be counted twice.';
    END IF;
    IF cardinality(seat_roles) = 0 OR array_position(seat_roles, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'seat_roles must name at least one role and no NULL'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.unnest(seat_roles) r WHERE seats._blank(r)) THEN
        RAISE EXCEPTION 'seat_roles must not hold an empty or blank role name, got %', seat_roles
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Name the roles whose active members use a seat, e.g. ''{broker}''.';
    END IF;

    -- Citus: a distributed member table needs the seats tables distributed
    -- with it first, and Citus wants triggers on it allowed.
    IF seats._is_citus_table(member_table) THEN
        IF NOT seats._distributed() THEN
            RAISE EXCEPTION 'member_table % is distributed by Citus, the seats tables are not', member_table
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = format('SELECT seats.distribute(%L) first (docs/citus.md).', member_table::text);
        END IF;
        IF (SELECT p.colocationid FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = member_table)
           IS DISTINCT FROM (SELECT p.colocationid FROM pg_catalog.pg_dist_partition p
                              WHERE p.logicalrelid = 'seats.subscription'::regclass) THEN
            RAISE EXCEPTION 'member_table % is not colocated with seats.subscription', member_table
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'Its triggers run where its rows are, and must find the counters of their organizations there.',
                      HINT = format('Distribute it by its text org column: SELECT create_distributed_table(%L, ''<org column>'', '
                                    'colocate_with => ''seats.subscription'') (docs/citus.md).', member_table::text);
        END IF;
        PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);
    END IF;
    v_active_kind := seats._check_mapping(member_table, org_column, role_column, active_column, seat_roles);
    v_att := ROW(member_table, org_column, role_column, active_column,
                 v_active_kind, seat_roles, now())::seats.attachment;

    PERFORM seats._replace_triggers(member_table, v_att);
    INSERT INTO seats.attachment VALUES (v_att.*)
        ON CONFLICT (relid) DO UPDATE SET org_column = EXCLUDED.org_column,
            role_column = EXCLUDED.role_column, active_column = EXCLUDED.active_column,
            active_kind = EXCLUDED.active_kind, seat_roles = EXCLUDED.seat_roles,
            attached_at = EXCLUDED.attached_at;
    PERFORM seats._log_event(NULL, 'attach', jsonb_build_object('table', member_table::text,
        'org_column', org_column, 'role_column', role_column, 'active_column', active_column,
        'seat_roles', seat_roles));
    -- Like onboarding, attaching counts the brokers that are there, even
    -- above a limit (the DBA's explicit act; such an org blocks new seats
    -- until it is back under). DDL that brings rows in is refused instead.
    PERFORM seats._recount(NULL, 'attach ' || member_table::text);
END
$$;

CREATE OR REPLACE FUNCTION seats.detach(member_table regclass) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM seats._require(member_table, 'member_table'), seats._check_may_attach(member_table),
            seats._lock_all_orgs();  -- every org, before any chain lock
    IF NOT EXISTS (SELECT 1 FROM seats.attachment a WHERE a.relid = member_table) THEN
        RAISE EXCEPTION 'table % is not attached', member_table USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM seats._replace_triggers(member_table, NULL);
    DELETE FROM seats.attachment a WHERE a.relid = member_table;
    PERFORM seats._log_event(NULL, 'detach', jsonb_build_object('table', member_table::text));
    PERFORM seats._recount(NULL, 'detach ' || member_table::text);
END
$$;

CREATE OR REPLACE FUNCTION seats._enforcement_trigger_shape(p_trigger oid) RETURNS boolean
    LANGUAGE sql STABLE
AS $$
    SELECT tg.tgqual IS NULL AND tg.tgconstraint OPERATOR(pg_catalog.=) 0
           AND CASE p.proname
               WHEN 'member_change_trigger' THEN
                   (tg.tgtype OPERATOR(pg_catalog.=) 4 AND tg.tgnewtable IS NOT NULL AND tg.tgoldtable IS NULL)
                OR (tg.tgtype OPERATOR(pg_catalog.=) 8 AND tg.tgoldtable IS NOT NULL AND tg.tgnewtable IS NULL)
                OR (tg.tgtype OPERATOR(pg_catalog.=) 16 AND tg.tgoldtable IS NOT NULL AND tg.tgnewtable IS NOT NULL)
               WHEN 'member_truncate_trigger' THEN tg.tgtype OPERATOR(pg_catalog.=) 34
               ELSE false END
      FROM pg_catalog.pg_trigger tg JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) tg.tgfoid
     WHERE tg.oid OPERATOR(pg_catalog.=) p_trigger
$$;

CREATE OR REPLACE FUNCTION seats._tampered_trigger() RETURNS TABLE (relation regclass, tgname name, problem text)
    LANGUAGE sql SET search_path = pg_catalog, pg_temp STABLE
AS $$
    SELECT et.relation, et.tgname,
           CASE WHEN a.relid IS NULL THEN 'is on a relation that is not attached'
                WHEN et.tgenabled NOT IN ('O', 'A') THEN 'cannot be disabled'
                WHEN NOT seats._enforcement_trigger_shape(et.oid) THEN 'is not of the kind seats.attach() installs'
                WHEN et.tgargs OPERATOR(pg_catalog.<>) seats._trigger_args(a) THEN 'has arguments seats.attach() did not give it'
                WHEN pg_catalog.count(*) OVER (PARTITION BY et.relation, et.tgtype) > 1 THEN 'duplicates another enforcement trigger'
                ELSE 'cannot depend on an extension' END
      FROM seats.enforcement_trigger et
      LEFT JOIN seats.attached_relation ar ON ar.relation OPERATOR(pg_catalog.=) et.relation
      LEFT JOIN seats._attachments() a ON a.relid OPERATOR(pg_catalog.=) ar.attachment
     WHERE a.relid IS NULL OR et.tgenabled NOT IN ('O', 'A') OR NOT seats._enforcement_trigger_shape(et.oid)
        OR et.tgargs OPERATOR(pg_catalog.<>) seats._trigger_args(a)
        OR EXISTS (SELECT 1 FROM seats.enforcement_trigger o
                    WHERE o.relation OPERATOR(pg_catalog.=) et.relation AND o.tgtype OPERATOR(pg_catalog.=) et.tgtype
                      AND o.oid OPERATOR(pg_catalog.<>) et.oid)
        OR EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::regclass
                      AND d.objid OPERATOR(pg_catalog.=) et.oid AND d.deptype = 'x')
$$;

CREATE OR REPLACE FUNCTION seats._ddl_guard() RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_rel regclass;
    v_parent regclass;
    v_problem text;
    v_tree_changed boolean;
    r record;
BEGIN
    -- Apart: the attachments are not read during our own DDL (Citus
    -- distributing seats.attachment itself, say).
    IF seats._internal_ddl() THEN
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM seats._attachments()) THEN
        RETURN;
    END IF;
    -- An attached relation under a parent that is not attached: statements
    -- naming the parent fire only the parent's statement triggers, so its
    -- writes would go around enforcement.
    SELECT ar.relation, x INTO v_rel, v_parent
      FROM seats.attached_relation ar, seats._relation_ancestors(ar.relation) x
     WHERE x NOT IN (SELECT ar2.relation FROM seats.attached_relation ar2)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '% is under seat enforcement and cannot become a partition or child of %, which is not', v_rel, v_parent
            USING ERRCODE = 'object_in_use',
                  HINT = 'Attach the parent with seats.attach() instead (detach the child first, in the same transaction).';
    END IF;
    IF tg_tag = 'DROP TRIGGER' THEN
        SELECT ar.relation INTO v_rel FROM seats.attached_relation ar
         WHERE seats._trigger_count(ar.relation) < 4 LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'enforcement triggers on % cannot be dropped', v_rel
                USING ERRCODE = 'object_in_use', HINT = 'Use seats.detach() to stop enforcing seats on a table.';
        END IF;
    END IF;
    -- A seat column renamed, dropped or retyped to a type the trigger cannot
    -- read, or an enum label that is a seat role renamed, would silently
    -- change who holds a seat: refuse, and say how to change it.
    FOR r IN SELECT a.* FROM seats._attachments() a WHERE seats._trigger_count(a.relid) = 4 LOOP
        BEGIN
            PERFORM seats._check_mapping(r.relid, r.org_column, r.role_column, r.active_column, r.seat_roles);
        EXCEPTION WHEN undefined_column OR datatype_mismatch OR invalid_parameter_value THEN
            GET STACKED DIAGNOSTICS v_problem = MESSAGE_TEXT;
            RAISE EXCEPTION 'this change would break seat enforcement on %', r.relid
                USING ERRCODE = 'object_in_use', DETAIL = v_problem,
                      HINT = 'Run seats.detach() first, change the table, then seats.attach() again.';
        END;
    END LOOP;
    -- New partitions and children get triggers, relations that left a tree
    -- lose them (only commands that can move a relation into or out of a
    -- tree: while pg_restore creates the triggers one by one, other commands
    -- must not install them first); then every trigger of ours must be
    -- exactly as attach made it.
    v_tree_changed := tg_tag IN ('CREATE TABLE', 'ALTER TABLE', 'CREATE FOREIGN TABLE', 'ALTER FOREIGN TABLE')
                      AND seats._sync_triggers();
    SELECT t.relation, t.tgname, t.problem INTO r FROM seats._tampered_trigger() t LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'enforcement trigger "%" on % %', r.tgname, r.relation, r.problem
            USING ERRCODE = 'object_in_use', HINT = 'Use seats.detach() to stop enforcing seats on a table.';
    END IF;
    -- Rows moved in or out of enforcement without row events (ATTACH or
    -- DETACH PARTITION, INHERIT, NO INHERIT), or rewritten in place (ALTER
    -- COLUMN ... USING, noted by the table_rewrite guard): recount, and
    -- refuse when the rows brought in do not fit.
    IF v_tree_changed OR pg_catalog.current_setting('broker_seats.recount_pending') = 'on' THEN
        PERFORM pg_catalog.set_config('broker_seats.recount_pending', 'off', true);
        PERFORM seats._recount(NULL, 'member table changed by ' || tg_tag, true);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION seats._rewrite_guard() RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT seats._internal_ddl()
       AND pg_catalog.pg_event_trigger_table_rewrite_oid() IN (SELECT ar.relation::oid FROM seats.attached_relation ar) THEN
        PERFORM pg_catalog.set_config('broker_seats.recount_pending', 'on', true);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION seats._drop_guard() RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_rel regclass;
BEGIN
    -- Apart: the attachments are not read during our own DDL (Citus
    -- distributing seats.attachment itself, say).
    IF seats._internal_ddl() THEN
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM seats._attachments()) THEN
        RETURN;
    END IF;
    -- Enforcement triggers dropped while their table stays (DROP TRIGGER, or
    -- DROP EXTENSION of an extension one was made to depend on).
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger_dropped_objects() d WHERE d.object_type = 'trigger') THEN
        SELECT ar.relation INTO v_rel FROM seats.attached_relation ar
         WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) ar.relation)
           AND seats._trigger_count(ar.relation) < 4
           AND seats._trigger_count(ar.attachment) = 4
         LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'enforcement triggers on % cannot be dropped', v_rel
                USING ERRCODE = 'object_in_use', HINT = 'Use seats.detach() to stop enforcing seats on a table.';
        END IF;
    END IF;
    -- A dropped attached table (DROP TABLE, DROP SCHEMA ... CASCADE, DROP
    -- OWNED) leaves no attachment behind, and a dropped table or partition
    -- took its seats with it: recount.
    DELETE FROM seats.attachment a
     WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) a.relid);
    -- (A dropped table's triggers are among the dropped objects.)
    IF FOUND OR EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger_dropped_objects() d
                         WHERE d.object_type = 'trigger') THEN
        PERFORM seats._recount(NULL, 'member table or partition dropped');
    END IF;
END
$$;

CREATE EVENT TRIGGER broker_seats_trigger_guard ON ddl_command_start
    WHEN TAG IN ('CREATE TRIGGER')
    EXECUTE FUNCTION seats._ddl_start_guard();

DROP EVENT TRIGGER broker_seats_ddl_guard;
CREATE EVENT TRIGGER broker_seats_ddl_guard ON ddl_command_end
    EXECUTE FUNCTION seats._ddl_guard();

CREATE EVENT TRIGGER broker_seats_rewrite_guard ON table_rewrite
    EXECUTE FUNCTION seats._rewrite_guard();

DROP EVENT TRIGGER broker_seats_drop_guard;
CREATE EVENT TRIGGER broker_seats_drop_guard ON sql_drop
    EXECUTE FUNCTION seats._drop_guard();

CREATE OR REPLACE FUNCTION seats._check_not_frozen(p_sub seats.subscription) RETURNS void
    LANGUAGE sql VOLATILE
AS $$ SELECT seats._check_not_frozen_now(p_sub.org) $$;

CREATE OR REPLACE FUNCTION seats._replay(p_org text, p_key text, p_kind text, p_to_limit int) RETURNS seats.change
    LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_change seats.change;
BEGIN
    IF p_key IS NULL THEN
        RETURN NULL;
    END IF;
    IF seats._blank(p_key) THEN
        RAISE EXCEPTION 'request_key must not be empty or blank'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass NULL for a request without a key, or the ticket or request id that makes it idempotent.';
    END IF;
    SELECT c.* INTO v_change FROM seats.change c WHERE c.org = p_org AND c.request_key = p_key;
    IF FOUND AND (v_change.kind <> p_kind OR v_change.to_limit IS DISTINCT FROM p_to_limit) THEN
        RAISE EXCEPTION 'request_key "%" was already used by change % (% to %)', p_key, v_change.id,
                        v_change.kind, v_change.to_limit
            USING ERRCODE = 'SB004', HINT = 'Use a new request_key for a different request.';
    END IF;
    RETURN v_change;
END
$$;

CREATE OR REPLACE FUNCTION seats._price_upgrade(p_sub seats.subscription, p_new_limit int, p_at timestamptz)
    RETURNS seats.change LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_plan seats.plan;
    v_start date;
    v_end date;
    v_change seats.change;
    v_proration seats.proration;
    v_at timestamptz;
BEGIN
    PERFORM seats._require(p_at, 'at');
    IF NOT isfinite(p_at) THEN
        RAISE EXCEPTION 'at must be a finite timestamp' USING ERRCODE = 'datetime_field_overflow';
    END IF;
    SELECT p.* INTO STRICT v_plan FROM seats.plan p WHERE p.code = p_sub.plan;
    -- A business time before the subscription existed and before its first
    -- cycle would price (and record) a change made before the organization
    -- was a customer: refused. Between onboarding and a first cycle that
    -- starts later, an upgrade is charged for the whole first cycle.
    v_at := seats._local_midnight(p_sub.cycle_anchor, p_sub.time_zone);
    IF p_at < least(v_at, p_sub.created_at) THEN
        RAISE EXCEPTION 'at % is before the subscription of organization "%" (first cycle from %)', p_at, p_sub.org, v_at
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give the business time of the change, at or after onboarding.';
    END IF;
    IF (p_at AT TIME ZONE p_sub.time_zone) NOT BETWEEN '1400-01-01' AND '9999-12-31 23:59:59.999999' THEN
        RAISE EXCEPTION 'at % is outside the supported calendar (1400-01-01 to 9999-12-31)', p_at
            USING ERRCODE = 'datetime_field_overflow';
    END IF;
    v_at := greatest(p_at, v_at);
    SELECT b.cycle_start, b.cycle_end INTO v_start, v_end
      FROM seats.cycle_bounds(p_sub.cycle_anchor, v_plan.billing_period, (v_at AT TIME ZONE p_sub.time_zone)::date) b;
    v_change.org := p_sub.org;
    v_change.kind := 'upgrade';
    v_change.from_limit := p_sub.seat_limit;
    v_change.to_limit := p_new_limit;
    v_change.plan := v_plan.code;
    v_change.seat_price := v_plan.seat_price;
    v_change.currency := v_plan.currency;
    v_change.granularity := v_plan.proration;
    v_change.cycle_start := seats._local_midnight(v_start, p_sub.time_zone);
    v_change.cycle_end := seats._local_midnight(v_end, p_sub.time_zone);
    v_proration := seats._proration(p_new_limit - p_sub.seat_limit, v_plan.seat_price, v_change.cycle_start,
                                    v_change.cycle_end, v_at, v_plan.proration, p_sub.time_zone, v_plan.currency);
    v_change.amount := v_proration.amount;
    v_change.units_remaining := v_proration.units_remaining;
    v_change.units_in_cycle := v_proration.units_in_cycle;
    RETURN v_change;
END
$$;

CREATE OR REPLACE FUNCTION seats._apply_upgrade(p_change seats.change, p_at timestamptz) RETURNS void
    LANGUAGE plpgsql
AS $$
DECLARE
    v_superseded bigint;
BEGIN
    -- An upgrade ends the org's open block episode (SPEC §5).
    UPDATE seats.subscription s
       SET seat_limit = p_change.to_limit, updated_at = now(),
           block_episode_resolved_at = CASE WHEN s.block_episode_started_at IS NOT NULL
                                             AND s.block_episode_resolved_at IS NULL
                                            THEN greatest(p_at, s.block_episode_started_at)
                                            ELSE s.block_episode_resolved_at END
     WHERE s.org = p_change.org;
    FOR v_superseded IN
        UPDATE seats.change c SET status = 'superseded'
         WHERE c.org = p_change.org AND c.kind = 'downgrade' AND c.status IN ('scheduled', 'blocked', 'held')
        RETURNING c.id
    LOOP
        PERFORM seats._log_event(p_change.org, 'downgrade_superseded',
                                 jsonb_build_object('by_change', p_change.id), p_at, v_superseded);
    END LOOP;
    PERFORM seats._log_event(p_change.org, 'upgrade_applied',
        jsonb_build_object('from_limit', p_change.from_limit, 'to_limit', p_change.to_limit,
                           'amount', p_change.amount::text, 'currency', p_change.currency,
                           'seat_price', p_change.seat_price::text, 'granularity', p_change.granularity,
                           'units_remaining', p_change.units_remaining, 'units_in_cycle', p_change.units_in_cycle,
                           'cycle_start', p_change.cycle_start, 'cycle_end', p_change.cycle_end),
        p_at, p_change.id);
END
$$;

CREATE OR REPLACE FUNCTION seats._insert_change(p_change seats.change) RETURNS seats.change
    LANGUAGE plpgsql
AS $$
DECLARE
    v_change seats.change;
BEGIN
    INSERT INTO seats.change (org, kind, from_limit, to_limit, status, requested_at, requested_by, applied_at,
                              effective_at, request_key, plan, seat_price, currency, granularity,
                              units_remaining, units_in_cycle, cycle_start, cycle_end, amount, reverts,
                              incident, reason, brokers_over_new_limit)
    VALUES (p_change.org, p_change.kind, p_change.from_limit, p_change.to_limit, p_change.status,
            p_change.requested_at, coalesce(p_change.requested_by, session_user), p_change.applied_at,
            p_change.effective_at, p_change.request_key, p_change.plan, p_change.seat_price, p_change.currency,
            p_change.granularity, p_change.units_remaining, p_change.units_in_cycle, p_change.cycle_start,
            p_change.cycle_end, p_change.amount, p_change.reverts, p_change.incident, p_change.reason,
            p_change.brokers_over_new_limit)
    RETURNING * INTO v_change;
    RETURN v_change;
END
$$;

CREATE OR REPLACE FUNCTION seats._quote_upgrade(p_org text, p_new_limit int, p_at timestamptz)
    RETURNS TABLE (amount numeric, currency text, units_remaining int, units_in_cycle int)
    LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_sub seats.subscription;
    v_change seats.change;
BEGIN
    PERFORM seats._require(p_org, 'org');
    IF NOT seats._org_here(p_org) THEN
        -- Citus: on the worker that holds the org (89_sharding.sql).
        RETURN QUERY SELECT * FROM seats._quote_upgrade_at(p_org, p_new_limit, p_at);
        RETURN;
    END IF;
    v_sub := seats._subscription(p_org);
    PERFORM seats._check_upgrade(v_sub, p_new_limit);
    v_change := seats._price_upgrade(v_sub, p_new_limit, p_at);
    amount := v_change.amount;
    currency := v_change.currency;
    units_remaining := v_change.units_remaining;
    units_in_cycle := v_change.units_in_cycle;
    RETURN NEXT;
END
$$;

CREATE OR REPLACE FUNCTION seats._upgrade(p_org text, p_new_limit int, p_key text, p_at timestamptz)
    RETURNS seats.change LANGUAGE plpgsql
AS $$
DECLARE
    v_sub seats.subscription;
    v_change seats.change;
BEGIN
    IF NOT seats._org_here(seats._require(p_org, 'org')) THEN
        -- Citus: on the worker that holds the org (89_sharding.sql).
        SELECT * INTO v_change FROM seats._upgrade_at(p_org, p_new_limit, p_key, p_at);
        RETURN v_change;
    END IF;
    v_change := seats._begin_change(p_org, p_new_limit, p_key, 'upgrade', p_at);
    IF v_change.id IS NOT NULL THEN
        RETURN v_change;
    END IF;
    v_sub := seats._subscription(p_org);
    PERFORM seats._check_not_frozen(v_sub);
    PERFORM seats._check_upgrade(v_sub, p_new_limit);
    v_change := seats._price_upgrade(v_sub, p_new_limit, p_at);
    v_change.status := 'applied';
    v_change.requested_at := p_at;
    v_change.applied_at := p_at;
    v_change.effective_at := p_at;
    v_change.request_key := p_key;
    v_change := seats._insert_change(v_change);
    PERFORM seats._apply_upgrade(v_change, p_at);
    RETURN v_change;
END
$$;

CREATE OR REPLACE FUNCTION seats._request_upgrade(p_org text, p_new_limit int, p_key text)
    RETURNS seats.change LANGUAGE plpgsql
AS $$
DECLARE
    v_sub seats.subscription;
    v_change seats.change;
BEGIN
    IF NOT seats._org_here(seats._require(p_org, 'org')) THEN
        -- Citus: on the worker that holds the org (89_sharding.sql).
        SELECT * INTO v_change FROM seats._request_upgrade_at(p_org, p_new_limit, p_key);
        RETURN v_change;
    END IF;
    v_change := seats._begin_change(p_org, p_new_limit, p_key, 'upgrade');
    IF v_change.id IS NOT NULL THEN
        RETURN v_change;
    END IF;
    v_sub := seats._subscription(p_org);
    PERFORM seats._check_not_frozen(v_sub);
    PERFORM seats._check_upgrade(v_sub, p_new_limit);
    v_change.org := p_org;
    v_change.kind := 'upgrade';
    v_change.from_limit := v_sub.seat_limit;
    v_change.to_limit := p_new_limit;
    v_change.status := 'requested';
    v_change.requested_at := now();
    v_change.request_key := p_key;
    v_change := seats._insert_change(v_change);
    PERFORM seats._log_event(p_org, 'upgrade_requested',
                             jsonb_build_object('from_limit', v_sub.seat_limit, 'to_limit', p_new_limit),
                             now(), v_change.id);
    RETURN v_change;
END
$$;

CREATE OR REPLACE FUNCTION seats._locked_change(p_id bigint, p_org text DEFAULT NULL) RETURNS seats.change
    LANGUAGE plpgsql
AS $$
DECLARE
    v_org text := p_org;
    v_change seats.change;
BEGIN
    IF v_org IS NULL THEN
        SELECT c.org INTO v_org FROM seats.change c WHERE c.id = p_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'unknown change %', p_id USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;
    PERFORM seats._lock_org(v_org);
    SELECT c.* INTO v_change FROM seats.change c WHERE c.org = v_org AND c.id = p_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown change %', p_id USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN v_change;
END
$$;

CREATE OR REPLACE FUNCTION seats._apply_change(p_id bigint, p_at timestamptz, p_org text DEFAULT NULL)
    RETURNS seats.change LANGUAGE plpgsql
AS $$
DECLARE
    v_org text;
    v_sub seats.subscription;
    v_change seats.change;
    v_priced seats.change;
BEGIN
    PERFORM seats._require(p_id, 'change_id'), seats._require(p_at, 'at');
    v_org := seats._change_elsewhere(p_id, p_org);
    IF v_org IS NOT NULL THEN  -- Citus: on the worker that holds the org
        SELECT * INTO v_change FROM seats._apply_change_at(v_org, p_id, p_at);
        RETURN v_change;
    END IF;
    v_change := seats._locked_change(p_id, p_org);
    v_org := v_change.org;
    IF v_change.kind <> 'upgrade' THEN
        RAISE EXCEPTION 'change % (%) is not an upgrade: only requested upgrades are applied by hand', p_id, v_change.kind
            USING ERRCODE = 'SB004', HINT = 'Downgrades take effect at the cycle turnover.';
    END IF;
    IF v_change.status <> 'requested' THEN
        RAISE EXCEPTION 'change % is %, not requested', p_id, v_change.status USING ERRCODE = 'SB004';
    END IF;
    v_sub := seats._subscription(v_org);
    PERFORM seats._check_not_frozen(v_sub);
    PERFORM seats._check_upgrade(v_sub, v_change.to_limit);
    v_priced := seats._price_upgrade(v_sub, v_change.to_limit, p_at);
    UPDATE seats.change c
       SET status = 'applied', applied_at = p_at, effective_at = p_at, from_limit = v_priced.from_limit,
           plan = v_priced.plan, seat_price = v_priced.seat_price, currency = v_priced.currency,
           granularity = v_priced.granularity, units_remaining = v_priced.units_remaining,
           units_in_cycle = v_priced.units_in_cycle, cycle_start = v_priced.cycle_start,
           cycle_end = v_priced.cycle_end, amount = v_priced.amount
     WHERE c.org = v_org AND c.id = p_id
    RETURNING c.* INTO v_change;
    PERFORM seats._apply_upgrade(v_change, p_at);
    RETURN v_change;
END
$$;

CREATE OR REPLACE FUNCTION seats._cycle_end_at(p_sub seats.subscription, p_at timestamptz) RETURNS timestamptz
    LANGUAGE sql SET search_path = pg_catalog, pg_temp STABLE
AS $$
    SELECT seats._local_midnight(b.cycle_end, p_sub.time_zone)
      FROM seats.plan p,
           seats.cycle_bounds(p_sub.cycle_anchor, p.billing_period, (p_at AT TIME ZONE p_sub.time_zone)::date) b
     WHERE p.code = p_sub.plan
$$;

CREATE OR REPLACE FUNCTION seats._schedule_downgrade(p_org text, p_new_limit int, p_key text)
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

CREATE OR REPLACE FUNCTION seats._cancel_change(p_id bigint, p_reason text, p_org text DEFAULT NULL)
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

CREATE OR REPLACE FUNCTION seats._due_orgs(p_as_of timestamptz, p_limit int, p_skip text[])
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

CREATE OR REPLACE FUNCTION seats._turn_over(p_orgs text[], p_as_of timestamptz) RETURNS int
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

CREATE OR REPLACE FUNCTION seats._turnover_failed(p_org text, p_as_of timestamptz, p_sqlstate text, p_message text)
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

CREATE OR REPLACE PROCEDURE seats.close_due_cycles(as_of timestamptz DEFAULT now(), batch_size int DEFAULT 1000)
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

CREATE OR REPLACE FUNCTION seats._cycle_report(p_from timestamptz, p_to timestamptz)
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

CREATE OR REPLACE VIEW seats.usage AS
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

CREATE OR REPLACE FUNCTION seats._revalidate(p_org text)
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

CREATE OR REPLACE FUNCTION seats._daily_kpis(p_day date)
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

CREATE OR REPLACE FUNCTION seats.daily_kpis(day date DEFAULT current_date)
    RETURNS TABLE (day date, blocks bigint, upgrades_applied bigint, downgrades_scheduled bigint,
                   mean_block_resolution interval)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM seats._daily_kpis($1) $$;

CREATE OR REPLACE FUNCTION seats._record_blocks(p_org text[], p_at timestamptz[], p_table oid[], p_role text[],
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

CREATE OR REPLACE FUNCTION seats._record_block(p_org text, p_at timestamptz, p_table oid, p_role text,
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

CREATE OR REPLACE FUNCTION seats._log_resolved_episodes(p_org text DEFAULT NULL) RETURNS int
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

CREATE OR REPLACE FUNCTION seats._block_recording()
    RETURNS TABLE (enabled boolean, queued bigint, dropped bigint, recorded bigint, capacity bigint)
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'seats_block_recording';

CREATE OR REPLACE FUNCTION seats.customer_message(kind text, org text, lang text DEFAULT NULL) RETURNS text
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

CREATE OR REPLACE FUNCTION seats._set_customer_language(p_org text, p_lang text) RETURNS seats.subscription
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

CREATE OR REPLACE FUNCTION seats.set_customer_language(org text, lang text) RETURNS seats.subscription
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT seats._set_customer_language($1, $2) $$;

CREATE OR REPLACE FUNCTION seats._setting_defaults()
    RETURNS TABLE (name text, default_value text, kind text, description text)
    LANGUAGE sql IMMUTABLE
AS $$
    VALUES
      ('block_spike_factor', '3', 'numeric',
       'block_spike: today''s blocks must exceed this many times the median of the baseline days'),
      ('block_spike_min_blocks', '10', 'integer',
       'block_spike: today''s blocks must also be at least this many'),
      ('block_spike_baseline_days', '7', 'integer',
       'block_spike: the days before today whose daily blocks give the median (days without blocks count as 0)'),
      ('upgrade_sla', '30 minutes', 'interval',
       'upgrade_sla: business time a requested upgrade may wait for seats.apply_change'),
      ('business_hours_open', '09:00', 'time',
       'upgrade_sla: business hours open, in each organization''s time zone'),
      ('business_hours_close', '18:00', 'time',
       'upgrade_sla: business hours close'),
      ('business_days', '1-5', 'days',
       'upgrade_sla: business days, ISO weekday numbers (1 = Monday .. 7 = Sunday), e.g. 1-5'),
      ('turnover_grace', '1 hour', 'interval',
       'turnover_overdue: how long after its cycle end a subscription may wait for close_due_cycles'),
      ('downgrade_notice', '3 days', 'interval',
       'daily_checklist: downgrades taking effect within this time after the day are listed')
$$;

CREATE OR REPLACE VIEW seats.settings AS
    SELECT d.name, coalesce(s.value, d.default_value) AS value, d.default_value, d.kind, d.description,
           s.changed_at, s.changed_by
      FROM seats._setting_defaults() d
      LEFT JOIN seats.setting s ON s.name = d.name;

CREATE OR REPLACE FUNCTION seats._setting_value(p_name text) RETURNS text
    LANGUAGE sql SET search_path = pg_catalog, pg_temp STABLE
AS $$ SELECT v.value FROM seats.settings v WHERE v.name = p_name $$;

CREATE OR REPLACE FUNCTION seats._set_setting(p_name text, p_value text)
    RETURNS TABLE (name text, value text, default_value text)
    LANGUAGE plpgsql
AS $$
DECLARE
    d record;
    v_old text;
    v_new text;
BEGIN
    PERFORM seats._require(p_name, 'name');
    SELECT * INTO d FROM seats._setting_defaults() x WHERE x.name = p_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown setting "%"', p_name USING ERRCODE = 'invalid_parameter_value',
            HINT = 'SELECT name, value, description FROM seats.settings lists them.';
    END IF;
    -- Validated and stored in canonical form; NULL resets to the default.
    BEGIN
        v_new := CASE d.kind
            WHEN 'numeric' THEN CASE WHEN p_value::numeric > 0 AND p_value::numeric < 1000000
                                     THEN (p_value::numeric)::text END
            WHEN 'integer' THEN CASE WHEN p_value::int BETWEEN 1 AND 1000000 THEN (p_value::int)::text END
            WHEN 'interval' THEN CASE WHEN p_value::interval >= interval '0' THEN (p_value::interval)::text END
            WHEN 'time' THEN (p_value::time)::text
            WHEN 'days' THEN p_value
        END;
    EXCEPTION WHEN data_exception THEN
        v_new := NULL;
    END;
    IF p_value IS NOT NULL AND v_new IS NULL THEN
        RAISE EXCEPTION 'invalid value "%" for setting "%"', p_value, p_name
            USING ERRCODE = 'invalid_parameter_value', DETAIL = d.description,
                  HINT = format('Give a positive %s, or NULL for the default %s.', d.kind, d.default_value);
    END IF;
    PERFORM seats._lock_chain('');  -- one writer of settings at a time, on the global chain's lock
    SELECT s.value INTO v_old FROM seats.setting s WHERE s.name = p_name;
    IF v_new IS NULL THEN
        DELETE FROM seats.setting s WHERE s.name = p_name;
    ELSE
        INSERT INTO seats.setting AS s (name, value, changed_at, changed_by)
            VALUES (p_name, v_new, pg_catalog.now(), session_user)
            ON CONFLICT ON CONSTRAINT setting_pkey
            DO UPDATE SET value = excluded.value, changed_at = excluded.changed_at, changed_by = excluded.changed_by;
    END IF;
    -- Business hours are checked as a whole (open before close, days).
    PERFORM seats._business_hours_check();
    PERFORM seats._log_event(NULL, 'setting_changed',
                             jsonb_build_object('name', p_name, 'old', v_old, 'new', v_new,
                                                'default', d.default_value));
    RETURN QUERY SELECT v.name, v.value, v.default_value FROM seats.settings v WHERE v.name = p_name;
END
$$;

CREATE OR REPLACE FUNCTION seats.set_setting(name text, value text)
    RETURNS TABLE (name text, value text, default_value text)
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM seats._set_setting($1, $2) $$;

CREATE OR REPLACE FUNCTION seats._business_time_between(p_from timestamptz, p_to timestamptz, p_time_zone text)
    RETURNS interval LANGUAGE sql STABLE
AS $$
    SELECT seats._business_time(p_from AT TIME ZONE p_time_zone, p_to AT TIME ZONE p_time_zone,
                                seats._setting_value('business_hours_open')::time,
                                seats._setting_value('business_hours_close')::time,
                                seats._setting_value('business_days'))
$$;

CREATE OR REPLACE FUNCTION seats._business_hours_check() RETURNS void
    LANGUAGE sql STABLE
AS $$ SELECT seats._business_time_between(now(), now(), 'UTC') $$;

CREATE OR REPLACE FUNCTION seats._block_spikes(p_as_of timestamptz, p_orgs text[] DEFAULT NULL, p_all boolean DEFAULT true)
    RETURNS TABLE (org text, blocks bigint, baseline_median numeric, spike boolean)
    LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
DECLARE
    v_day_start timestamptz := pg_catalog.date_trunc('day', seats._require(p_as_of, 'as_of'));
    v_days int := seats._setting_value('block_spike_baseline_days')::int;
    v_factor numeric := seats._setting_value('block_spike_factor')::numeric;
    v_min_blocks int := seats._setting_value('block_spike_min_blocks')::int;
    v_orgs text[];
    v_day timestamptz[];
    v_n numeric[];
BEGIN
    -- The blocks per org (and in all, org NULL) and day, read apart: under
    -- Citus one aggregate over the distributed audit trail.
    SELECT pg_catalog.array_agg(b.org), pg_catalog.array_agg(b.day), pg_catalog.array_agg(b.n)
      INTO v_orgs, v_day, v_n
      FROM (SELECT k.org, pg_catalog.date_trunc('day', e.at) AS day, pg_catalog.sum(seats._blocks_of(e.detail)) AS n
              FROM seats.event e, LATERAL (VALUES (e.org), (NULL)) k(org)
             WHERE e.kind = 'seat_blocked'
               AND e.at >= v_day_start - v_days * interval '1 day' AND e.at <= p_as_of
               AND (p_all OR e.org = ANY (p_orgs))
               AND CASE WHEN k.org IS NULL THEN p_all ELSE p_orgs IS NULL OR k.org = ANY (p_orgs) END
             GROUP BY 1, 2) b;
    RETURN QUERY
    WITH blocked AS (
        SELECT u.org, u.day, u.n
          FROM ROWS FROM (pg_catalog.unnest(v_orgs), pg_catalog.unnest(v_day), pg_catalog.unnest(v_n)) AS u(org, day, n)),
    today AS (
        SELECT b.org, b.n FROM blocked b WHERE b.day = v_day_start),
    judged AS (
        SELECT t.org, t.n,
               (SELECT pg_catalog.percentile_cont(0.5) WITHIN GROUP (ORDER BY coalesce(b.n, 0))
                  FROM pg_catalog.generate_series(1, v_days) g(k)
                  LEFT JOIN blocked b ON b.org IS NOT DISTINCT FROM t.org
                                     AND b.day = v_day_start - g.k * interval '1 day')::numeric AS median
          FROM today t)
    SELECT j.org, j.n::bigint, j.median, j.n >= v_min_blocks AND j.n > v_factor * j.median
      FROM judged j;
END
$$;

CREATE OR REPLACE FUNCTION seats._recording_alerts()
    RETURNS TABLE (kind text, org text, severity text, detail text)
    LANGUAGE plpgsql
AS $$
DECLARE
    v_rec record;
BEGIN
    SELECT * INTO v_rec FROM seats._block_recording();
    IF NOT v_rec.enabled THEN
        RETURN QUERY SELECT 'block_recording_off', NULL::text, 'warning',
            'Blocked attempts are refused but not recorded (daily_kpis and block_spike miss them): '
            'add broker_seats to shared_preload_libraries and restart the server.';
    ELSIF current_setting('broker_seats.database') <> current_database() THEN
        RETURN QUERY SELECT 'block_recording_off', NULL::text, 'warning',
            format('The block recorder writes to database %s, not to this one (%s): blocks here are dropped. '
                   'Set broker_seats.database = %L and restart the server.',
                   current_setting('broker_seats.database'), current_database(), current_database());
    END IF;
    IF v_rec.dropped > 0 THEN
        RETURN QUERY SELECT 'blocks_dropped', NULL::text, 'warning',
            format('%s blocked attempt(s) were not recorded since the server started (queue full or another '
                   'database); the queue holds %s. Raise broker_seats.block_queue_size (restart needed).',
                   v_rec.dropped, v_rec.capacity);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION seats._counter_drift(p_org text)
    RETURNS TABLE (kind text, org text, severity text, detail text)
    LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_counted bigint;
BEGIN
    IF p_org IS NOT NULL THEN
        -- Counted apart (under Citus, on the org's worker: the count reads
        -- the attachments, which must not run inside a query of a shard).
        SELECT coalesce(pg_catalog.sum(c.counted), 0) INTO v_counted FROM seats._count_seats(p_org, true) c;
        RETURN QUERY
        SELECT 'counter_drift', s.org, 'critical',
               format('seats_used says %s, the attached tables hold %s active brokers. '
                      'Recount and fix (audited): SELECT * FROM seats.revalidate(%L);',
                      s.seats_used, v_counted, s.org)
          FROM seats.subscription s
         WHERE s.org = p_org AND v_counted <> s.seats_used;
        RETURN;
    END IF;
    RETURN QUERY
    SELECT 'counter_drift', s.org, 'critical',
           format('seats_used says %s, the attached tables hold %s active brokers. '
                  'Recount and fix (audited): SELECT * FROM seats.revalidate(%L);',
                  s.seats_used, coalesce(c.counted, 0), s.org)
      FROM seats.subscription s
      LEFT JOIN seats._count_seats(NULL, true) c ON c.org = s.org
     WHERE coalesce(c.counted, 0) <> s.seats_used
     ORDER BY s.org COLLATE "C";
END
$$;

CREATE OR REPLACE FUNCTION seats._alerts(p_as_of timestamptz)
    RETURNS TABLE (kind text, org text, severity text, detail text)
    LANGUAGE plpgsql
AS $$
DECLARE
    -- The thresholds, read once: under Citus the queries below run on the
    -- workers, where a function reading the settings inside them would be
    -- a distributed query nested in a shard's.
    v_grace text := seats._setting_value('turnover_grace');
    v_sla text := seats._setting_value('upgrade_sla');
    v_open time := seats._setting_value('business_hours_open')::time;
    v_close time := seats._setting_value('business_hours_close')::time;
    v_days text := seats._setting_value('business_days');
    v_org text;
BEGIN
    PERFORM seats._require(p_as_of, 'as_of');
    IF NOT isfinite(p_as_of) THEN
        RAISE EXCEPTION 'as_of must be a finite timestamp' USING ERRCODE = 'datetime_field_overflow';
    END IF;

    RETURN QUERY
    SELECT 'block_spike', b.org, 'warning',
           format('%s limit blocks today (by %s) for %s, median %s per day over the previous %s days '
                  '(rule: above %s times the median and at least %s). Offer an upgrade: '
                  'SELECT * FROM seats.quote_upgrade(%s, <new limit>);',
                  b.blocks, p_as_of, coalesce('organization ' || b.org, 'all organizations'), b.baseline_median,
                  seats._setting_value('block_spike_baseline_days'), seats._setting_value('block_spike_factor'),
                  seats._setting_value('block_spike_min_blocks'), coalesce(quote_literal(b.org), '<org>'))
      FROM seats._block_spikes(p_as_of) b
     WHERE b.spike
     ORDER BY b.org COLLATE "C" NULLS FIRST;

    -- An open P0 (runbook §6.1).
    RETURN QUERY
    SELECT 'incident_p0', i.org, 'critical',
           format('P0 incident #%s open since %s (by %s): %s. Follow runbook §6.2; close it with its postmortem: '
                  'SELECT seats.close_incident(%s, ''<postmortem>'');', i.id, i.opened_at, i.opened_by, i.impact, i.id)
      FROM seats.incident i
     WHERE i.severity = 'P0' AND i.closed_at IS NULL AND i.opened_at <= p_as_of
     ORDER BY i.id;

    -- Turnovers: failed (the last attempt on the cycle still due failed) and
    -- overdue (a cycle ended longer ago than the grace, not turned over).
    RETURN QUERY
    SELECT 'turnover_failed', s.org, 'critical',
           format('The turnover of the cycle that ended %s failed at %s: %s (SQLSTATE %s). Fix the cause, '
                  'then CALL seats.close_due_cycles(); every run tries the organization again.',
                  s.cycle_end, f.at, f.detail->>'message', f.detail->>'sqlstate')
      FROM seats.subscription s
      JOIN LATERAL (SELECT e.at, e.detail FROM seats.event e
                     WHERE e.org = s.org AND e.kind = 'turnover_failed' AND e.at <= p_as_of
                     ORDER BY e.id DESC LIMIT 1) f ON f.at >= s.cycle_end
     WHERE s.cycle_end <= p_as_of
     ORDER BY s.org COLLATE "C";

    RETURN QUERY
    SELECT 'turnover_overdue', s.org, 'critical',
           format('The cycle ended %s, %s before %s, and has not been turned over (grace %s). '
                  'Check the pg_cron job, then CALL seats.close_due_cycles();',
                  s.cycle_end, date_trunc('second', p_as_of - s.cycle_end), p_as_of, v_grace)
      FROM seats.subscription s
     WHERE s.cycle_end + v_grace::interval <= p_as_of
     ORDER BY s.org COLLATE "C";

    -- The counters against the attached tables, in one snapshot: a member
    -- change and its counter commit together, so any difference is drift.
    IF seats._distributed() THEN
        -- Citus: org by org, each counted on its worker.
        FOR v_org IN SELECT s.org FROM seats.subscription s ORDER BY s.org COLLATE "C" LOOP
            RETURN QUERY SELECT * FROM seats._counter_drift_at(v_org);
        END LOOP;
    ELSE
        RETURN QUERY SELECT * FROM seats._counter_drift(NULL);
    END IF;

    RETURN QUERY
    SELECT 'over_limit', s.org, 'warning',
           format('%s/%s seats in use, %s above the limit: new seats are blocked until it is back under. '
                  'Deactivate %s broker(s) or upgrade: SELECT * FROM seats.quote_upgrade(%L, %s);',
                  s.seats_used, s.seat_limit, s.seats_used - s.seat_limit, s.seats_used - s.seat_limit,
                  s.org, s.seats_used)
      FROM seats.subscription s
     WHERE s.seats_used > s.seat_limit
     ORDER BY s.org COLLATE "C";

    RETURN QUERY
    SELECT 'upgrade_sla', c.org, 'warning',
           format('Upgrade %s (to %s seats), requested %s by %s, has waited %s business time (SLA %s). '
                  'Apply it: SELECT seats.apply_change(%s);',
                  c.id, c.to_limit, c.requested_at, c.requested_by, pg_catalog.date_trunc('second', w.waited),
                  w.sla, c.id)
      FROM seats.change c
      JOIN seats.subscription s ON s.org = c.org
      CROSS JOIN LATERAL (SELECT seats._business_time(c.requested_at AT TIME ZONE s.time_zone,
                                                      p_as_of AT TIME ZONE s.time_zone, v_open, v_close, v_days) AS waited,
                                 v_sla AS sla) w
     WHERE c.kind = 'upgrade' AND c.status = 'requested' AND c.requested_at <= p_as_of
       AND w.waited > w.sla::interval
     ORDER BY c.id;

    RETURN QUERY SELECT * FROM seats._recording_alerts();
END
$$;

CREATE OR REPLACE FUNCTION seats.alerts(as_of timestamptz DEFAULT now())
    RETURNS TABLE (kind text, org text, severity text, detail text)
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM seats._alerts($1) $$;

CREATE OR REPLACE FUNCTION seats._announce(p_kind text, p_org text, p_key text, p_payload jsonb) RETURNS boolean
    LANGUAGE plpgsql
AS $$
BEGIN
    -- Under Citus, announced from the coordinator only, where the clients
    -- that LISTEN are connected (a worker's NOTIFY reaches no one of them,
    -- and seats.alert_sent is a reference table that a worker's function
    -- cannot write): seats.alerts() still reports every alert.
    IF seats._distributed() AND NOT seats._on_coordinator() THEN
        RETURN false;
    END IF;
    INSERT INTO seats.alert_sent (kind, org, key) VALUES (p_kind, coalesce(p_org, ''), p_key)
        ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM pg_catalog.pg_notify('seats_alerts',
        (jsonb_build_object('kind', p_kind, 'org', p_org) || p_payload)::text);
    RETURN true;
END
$$;

CREATE OR REPLACE FUNCTION seats._announce_block_spikes(p_as_of timestamptz DEFAULT now()) RETURNS int
    LANGUAGE plpgsql
AS $$
DECLARE
    v_day text := pg_catalog.to_char(p_as_of, 'YYYY-MM-DD');
    v_all boolean;
    v_orgs text[];
BEGIN
    -- Under Citus, announced by the coordinator's recorder (seats._announce).
    IF seats._distributed() AND NOT seats._on_coordinator() THEN
        RETURN 0;
    END IF;
    v_all := NOT EXISTS (SELECT 1 FROM seats.alert_sent a
                          WHERE a.kind = 'block_spike' AND a.org = '' AND a.key = v_day);
    v_orgs := ARRAY(SELECT DISTINCT e.org FROM seats.event e
                     WHERE e.kind = 'seat_blocked' AND e.at >= pg_catalog.date_trunc('day', p_as_of)
                       AND e.at <= p_as_of
                       AND NOT EXISTS (SELECT 1 FROM seats.alert_sent a
                                        WHERE a.kind = 'block_spike' AND a.org = e.org AND a.key = v_day));
    IF NOT v_all AND pg_catalog.cardinality(v_orgs) = 0 THEN
        RETURN 0;
    END IF;
    RETURN (SELECT pg_catalog.count(*) FILTER (WHERE seats._announce('block_spike', b.org, v_day,
                       jsonb_build_object('severity', 'warning', 'at', p_as_of, 'day', v_day,
                                          'blocks', b.blocks, 'baseline_median', b.baseline_median::text)))::int
              FROM seats._block_spikes(p_as_of, v_orgs, v_all) b
             WHERE b.spike);
END
$$;

CREATE OR REPLACE FUNCTION seats._daily_checklist(p_day date)
    RETURNS TABLE (item text, status text, detail text)
    LANGUAGE plpgsql
AS $$
DECLARE
    -- Read once, outside the queries (under Citus they run on the workers).
    v_notice text := seats._setting_value('downgrade_notice');
    v_start timestamptz := seats._require(p_day, 'day')::timestamp::timestamptz;
    v_end timestamptz := (p_day + 1)::timestamp::timestamptz;
    v_as_of timestamptz := CASE WHEN now() >= v_start AND now() < v_end THEN now()
                                ELSE v_end - interval '1 microsecond' END;
    v_list text;
    v_n bigint;
    v_rec record;
BEGIN
    IF NOT isfinite(p_day) THEN
        RAISE EXCEPTION 'day must be a finite date, got %', p_day USING ERRCODE = 'datetime_field_overflow';
    END IF;
    -- 1. Open incidents.
    SELECT pg_catalog.count(*),
           pg_catalog.string_agg(format('#%s %s%s: %s (opened %s by %s)', i.id, i.severity,
                                        coalesce(' ' || i.org, ''), i.impact, i.opened_at, i.opened_by),
                                 '; ' ORDER BY i.severity, i.id)
      INTO v_n, v_list
      FROM seats.incident i
     WHERE i.opened_at < v_end AND (i.closed_at IS NULL OR i.closed_at >= v_end);
    item := 'open_incidents';
    status := CASE WHEN v_n = 0 THEN 'ok' ELSE 'attention' END;
    detail := CASE WHEN v_n = 0 THEN 'No open seats/billing incident.'
                   ELSE format('%s open: %s. Close each with its postmortem: '
                               'SELECT seats.close_incident(<id>, ''<postmortem>'');', v_n, v_list) END;
    -- What is frozen, as it stands now (runbook §7).
    SELECT concat_ws('; ',
               (SELECT format('everything frozen since %s by %s: %s', g.frozen_at, g.frozen_by, g.reason)
                  FROM seats.global_freeze g),
               (SELECT format('%s organization(s) frozen: %s', pg_catalog.count(*),
                              pg_catalog.string_agg(format('%s (%s)', s.org, s.frozen_reason), ', ' ORDER BY s.org COLLATE "C"))
                  FROM seats.subscription s WHERE s.frozen HAVING pg_catalog.count(*) > 0))
      INTO v_list;
    IF v_list <> '' THEN
        status := 'attention';
        detail := detail || format(' Frozen: %s. Lift with SELECT seats.unfreeze(<org>); (NULL: the global freeze).', v_list);
    END IF;
    RETURN NEXT;

    -- 2. Blocks above the baseline.
    SELECT pg_catalog.string_agg(format('%s: %s blocks (median %s)', coalesce(b.org, 'all organizations'),
                                        b.blocks, b.baseline_median), '; ' ORDER BY b.org COLLATE "C" NULLS FIRST)
               FILTER (WHERE b.spike) AS list,
           pg_catalog.max(b.blocks) FILTER (WHERE b.org IS NULL) AS total
      INTO v_rec
      FROM seats._block_spikes(v_as_of) b;
    item := 'blocks_above_baseline';
    status := CASE WHEN v_rec.list IS NULL THEN 'ok' ELSE 'attention' END;
    detail := CASE WHEN v_rec.list IS NULL
                   THEN format('%s limit blocks, none above the baseline (%s times the %s-day median, at least %s).',
                               coalesce(v_rec.total, 0), seats._setting_value('block_spike_factor'),
                               seats._setting_value('block_spike_baseline_days'), seats._setting_value('block_spike_min_blocks'))
                   ELSE format('Above the baseline: %s. Contact them with seats.customer_message(''limit_reached'', '
                               '<org>) and offer SELECT * FROM seats.quote_upgrade(<org>, <new limit>);', v_rec.list) END;
    RETURN NEXT;

    -- 3. Upgrades waiting for manual execution.
    SELECT pg_catalog.count(*),
           pg_catalog.string_agg(format('change %s (%s to %s seats, requested %s by %s): SELECT seats.apply_change(%s);',
                                        c.id, c.org, c.to_limit, c.requested_at, c.requested_by, c.id),
                                 ' ' ORDER BY c.id)
      INTO v_n, v_list
      FROM seats.change c
     WHERE c.kind = 'upgrade' AND c.status = 'requested' AND c.requested_at < v_end;
    item := 'pending_manual_upgrades';
    status := CASE WHEN v_n = 0 THEN 'ok' ELSE 'attention' END;
    detail := CASE WHEN v_n = 0 THEN 'No upgrade waits for manual execution.'
                   ELSE format('%s waiting: %s', v_n, v_list) END;
    RETURN NEXT;

    -- 4. Downgrades turning soon: attention when one would not apply.
    SELECT pg_catalog.count(*) AS n,
           pg_catalog.count(*) FILTER (WHERE s.seats_used > c.to_limit OR s.frozen) AS failing,
           pg_catalog.string_agg(format('change %s (%s: %s to %s seats on %s, %s)', c.id, c.org, s.seat_limit,
                                        c.to_limit, c.effective_at,
                                        CASE WHEN s.frozen THEN 'frozen: it will be held'
                                             WHEN s.seats_used > c.to_limit
                                             THEN format('%s active brokers today: it will be blocked unless %s are '
                                                         'deactivated or SELECT seats.cancel_change(%s, ''<reason>'');',
                                                         s.seats_used, s.seats_used - c.to_limit, c.id)
                                             ELSE format('%s active brokers: it will apply', s.seats_used) END),
                                 '; ' ORDER BY c.effective_at, c.id) AS list
      INTO v_rec
      FROM seats.change c
      JOIN seats.subscription s ON s.org = c.org
     WHERE c.kind = 'downgrade' AND c.status IN ('scheduled', 'blocked', 'held')
       AND c.effective_at < v_end + v_notice::interval;
    item := 'downgrades_turning_soon';
    status := CASE WHEN v_rec.failing = 0 THEN 'ok' ELSE 'attention' END;
    detail := CASE WHEN v_rec.n = 0
                   THEN format('No downgrade takes effect within %s.', v_notice)
                   ELSE format('%s within %s: %s', v_rec.n, v_notice, v_rec.list) END;
    RETURN NEXT;

    -- 5. The audit trail: every chain verifies, and blocks are recorded.
    SELECT pg_catalog.count(*) FILTER (WHERE NOT a.ok) AS broken,
           pg_catalog.string_agg(format('%s: first bad event %s', coalesce(a.org, 'global chain'), a.first_bad_event),
                                 '; ' ORDER BY a.org COLLATE "C" NULLS FIRST) FILTER (WHERE NOT a.ok) AS list,
           pg_catalog.sum(a.events) AS events
      INTO v_rec
      FROM seats._verify_audit(NULL) a;
    item := 'audit_integrity';
    IF v_rec.broken > 0 THEN
        status := 'attention';
        detail := format('Broken hash chains: %s. Inspect with SELECT * FROM seats.verify_audit(<org>); and open an '
                         'incident: SELECT seats.open_incident(''P1'', ''audit trail altered'', <org>);', v_rec.list);
    ELSE
        SELECT pg_catalog.string_agg(a.detail, ' ') INTO v_list FROM seats._recording_alerts() a;
        status := CASE WHEN v_list IS NULL THEN 'ok' ELSE 'attention' END;
        detail := format('%s events, every hash chain verifies.%s', coalesce(v_rec.events, 0), ' ' || v_list);
    END IF;
    RETURN NEXT;
END
$$;

CREATE OR REPLACE FUNCTION seats.daily_checklist(day date DEFAULT current_date)
    RETURNS TABLE (item text, status text, detail text)
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM seats._daily_checklist($1) $$;

CREATE OR REPLACE FUNCTION seats._open_incident(p_severity text, p_impact text, p_org text) RETURNS seats.incident
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

CREATE OR REPLACE FUNCTION seats.open_incident(severity text, impact text, org text DEFAULT NULL) RETURNS seats.incident
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT seats._open_incident($1, $2, $3) $$;

CREATE OR REPLACE FUNCTION seats._close_incident(p_id bigint, p_postmortem text) RETURNS seats.incident
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

CREATE OR REPLACE FUNCTION seats.close_incident(id bigint, postmortem text) RETURNS seats.incident
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT seats._close_incident($1, $2) $$;

CREATE OR REPLACE FUNCTION seats._freeze(p_reason text, p_org text, p_incident bigint) RETURNS void
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

CREATE OR REPLACE FUNCTION seats.freeze(reason text, org text DEFAULT NULL, incident bigint DEFAULT NULL) RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT seats._freeze($1, $2, $3) $$;

CREATE OR REPLACE FUNCTION seats._unfreeze(p_org text) RETURNS void
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

CREATE OR REPLACE FUNCTION seats.unfreeze(org text DEFAULT NULL) RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT seats._unfreeze($1) $$;

CREATE OR REPLACE FUNCTION seats._check_revert_args(p_incident bigint, p_reason text) RETURNS void
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

CREATE OR REPLACE VIEW seats.applied_order AS
    SELECT e.org, e.change_id, pg_catalog.max(e.id) AS seq
      FROM seats.event e
     WHERE e.kind IN ('upgrade_applied', 'downgrade_applied') AND e.change_id IS NOT NULL
     GROUP BY e.org, e.change_id;

CREATE OR REPLACE FUNCTION seats._change_json(p_change seats.change) RETURNS jsonb
    LANGUAGE sql IMMUTABLE
AS $$
    SELECT pg_catalog.to_jsonb(p_change) || jsonb_build_object('amount', p_change.amount::text,
                                                              'seat_price', p_change.seat_price::text)
$$;

CREATE OR REPLACE FUNCTION seats._revert_locked(p_change seats.change, p_incident bigint, p_reason text)
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

CREATE OR REPLACE FUNCTION seats._revert_change(p_id bigint, p_incident bigint, p_reason text, p_org text DEFAULT NULL)
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

CREATE OR REPLACE FUNCTION seats.revert_change(change_id bigint, incident bigint, reason text) RETURNS seats.change
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM seats._revert_change($1, $2, $3) $$;

CREATE OR REPLACE FUNCTION seats._revert_candidates(p_since timestamptz, p_orgs text[])
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

CREATE OR REPLACE FUNCTION seats._revert_changes_since(p_since timestamptz, p_incident bigint, p_reason text,
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

CREATE OR REPLACE FUNCTION seats.revert_changes_since(since timestamptz, incident bigint, reason text,
                                           orgs text[] DEFAULT NULL, dry_run boolean DEFAULT true)
    RETURNS SETOF seats.change
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM seats._revert_changes_since($1, $2, $3, $4, $5) $$;

CREATE OR REPLACE FUNCTION seats.create_standard_roles() RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    g record;
BEGIN
    FOR r IN SELECT unnest(ARRAY['seats_commercial', 'seats_support', 'seats_operator', 'seats_app']) AS name LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r.name) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r.name);
        END IF;
        EXECUTE format('GRANT USAGE ON SCHEMA seats TO %I', r.name);
    END LOOP;
    FOR g IN
        SELECT * FROM (VALUES
            -- Commercial: plans, onboarding, quotes, upgrades, downgrades.
            ('seats_commercial', 'FUNCTION seats.create_plan(text, numeric, text, text, text, text)'),
            ('seats_commercial', 'FUNCTION seats.onboard(text, text, int, date, text)'),
            ('seats_commercial', 'FUNCTION seats.quote_upgrade(text, int, timestamptz)'),
            ('seats_commercial', 'FUNCTION seats.upgrade(text, int, text, timestamptz)'),
            ('seats_commercial', 'FUNCTION seats.request_upgrade(text, int, text)'),
            ('seats_commercial', 'FUNCTION seats.apply_change(bigint, timestamptz)'),
            ('seats_commercial', 'FUNCTION seats.schedule_downgrade(text, int, text)'),
            ('seats_commercial', 'FUNCTION seats.cancel_change(bigint, text)'),
            ('seats_commercial', 'FUNCTION seats.set_customer_language(text, text)'),
            ('seats_commercial', 'TABLE seats.usage'),
            -- Support: reads usage, KPIs, alerts, checklist and messages; incidents.
            ('seats_support', 'TABLE seats.usage'),
            ('seats_support', 'TABLE seats.settings'),
            ('seats_support', 'FUNCTION seats.daily_kpis(date)'),
            ('seats_support', 'FUNCTION seats.alerts(timestamptz)'),
            ('seats_support', 'FUNCTION seats.daily_checklist(date)'),
            ('seats_support', 'FUNCTION seats.cycle_report(timestamptz, timestamptz)'),
            ('seats_support', 'FUNCTION seats.open_incident(text, text, text)'),
            ('seats_support', 'FUNCTION seats.close_incident(bigint, text)'),
            -- Operator: turnover, freeze, revalidate, audit, incidents, thresholds.
            ('seats_operator', 'PROCEDURE seats.close_due_cycles(timestamptz, int)'),
            ('seats_operator', 'FUNCTION seats._check_turnover_args(timestamptz, int)'),
            ('seats_operator', 'FUNCTION seats._require(anyelement, text)'),
            ('seats_operator', 'FUNCTION seats._can_commit()'),
            ('seats_operator', 'FUNCTION seats._due_orgs(timestamptz, int, text[])'),
            ('seats_operator', 'FUNCTION seats._turn_over(text[], timestamptz)'),
            ('seats_operator', 'FUNCTION seats._turnover_failed(text, timestamptz, text, text)'),
            ('seats_operator', 'FUNCTION seats.freeze(text, text, bigint)'),
            ('seats_operator', 'FUNCTION seats.revert_change(bigint, bigint, text)'),
            ('seats_operator', 'FUNCTION seats.revert_changes_since(timestamptz, bigint, text, text[], boolean)'),
            ('seats_operator', 'FUNCTION seats.unfreeze(text)'),
            ('seats_operator', 'FUNCTION seats.revalidate(text)'),
            ('seats_operator', 'FUNCTION seats.verify_audit(text)'),
            ('seats_operator', 'FUNCTION seats.open_incident(text, text, text)'),
            ('seats_operator', 'FUNCTION seats.close_incident(bigint, text)'),
            ('seats_operator', 'FUNCTION seats.set_setting(text, text)'),
            ('seats_operator', 'FUNCTION seats.attach(regclass, name, name, name, text[])'),
            ('seats_operator', 'FUNCTION seats.detach(regclass)'),
            ('seats_operator', 'FUNCTION seats.daily_kpis(date)'),
            ('seats_operator', 'FUNCTION seats.alerts(timestamptz)'),
            ('seats_operator', 'FUNCTION seats.daily_checklist(date)'),
            ('seats_operator', 'FUNCTION seats.cycle_report(timestamptz, timestamptz)'),
            ('seats_operator', 'TABLE seats.usage'),
            ('seats_operator', 'TABLE seats.settings'),
            -- The CRM application: reads usage, quotes, customer texts. Its
            -- writes to its own member table need no grant from here.
            ('seats_app', 'TABLE seats.usage'),
            ('seats_app', 'FUNCTION seats.quote_upgrade(text, int, timestamptz)')
        ) v(role_name, object)
    LOOP
        IF g.object LIKE 'TABLE %' THEN
            EXECUTE format('GRANT SELECT ON %s TO %I', g.object, g.role_name);
        ELSE
            EXECUTE format('GRANT EXECUTE ON %s TO %I', g.object, g.role_name);
        END IF;
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION seats._on_coordinator() RETURNS boolean
    LANGUAGE plpgsql STABLE
AS $$
BEGIN
    RETURN (SELECT g.groupid OPERATOR(pg_catalog.=) 0 FROM pg_catalog.pg_dist_local_group g);
END
$$;

CREATE OR REPLACE FUNCTION seats._change_elsewhere(p_id bigint, p_org text) RETURNS text
    LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_org text;
BEGIN
    IF p_org IS NOT NULL OR NOT seats._distributed() THEN
        RETURN NULL;
    END IF;
    SELECT c.org INTO v_org FROM seats.change c WHERE c.id OPERATOR(pg_catalog.=) p_id;
    IF v_org IS NULL OR seats._org_here(v_org) THEN
        RETURN NULL;
    END IF;
    RETURN v_org;
END
$$;

CREATE OR REPLACE FUNCTION seats._onboard_at(p_org text, p_plan text, p_seat_limit int, p_cycle_start date, p_time_zone text)
    RETURNS seats.subscription LANGUAGE plpgsql
AS $$
DECLARE
    v_result seats.subscription;
BEGIN
    SELECT * INTO v_result FROM seats.onboard(p_org, p_plan, p_seat_limit, p_cycle_start, p_time_zone);
    RETURN v_result;
END
$$;

CREATE OR REPLACE FUNCTION seats._quote_upgrade_at(p_org text, p_new_limit int, p_at timestamptz)
    RETURNS TABLE (amount numeric, currency text, units_remaining int, units_in_cycle int) LANGUAGE plpgsql
AS $$
BEGIN
    RETURN QUERY SELECT * FROM seats._quote_upgrade(p_org, p_new_limit, p_at);
END
$$;

CREATE OR REPLACE FUNCTION seats._upgrade_at(p_org text, p_new_limit int, p_key text, p_at timestamptz)
    RETURNS seats.change LANGUAGE plpgsql
AS $$
DECLARE
    v_result seats.change;
BEGIN
    SELECT * INTO v_result FROM seats._upgrade(p_org, p_new_limit, p_key, p_at);
    RETURN v_result;
END
$$;

CREATE OR REPLACE FUNCTION seats._request_upgrade_at(p_org text, p_new_limit int, p_key text)
    RETURNS seats.change LANGUAGE plpgsql
AS $$
DECLARE
    v_result seats.change;
BEGIN
    SELECT * INTO v_result FROM seats._request_upgrade(p_org, p_new_limit, p_key);
    RETURN v_result;
END
$$;

CREATE OR REPLACE FUNCTION seats._schedule_downgrade_at(p_org text, p_new_limit int, p_key text)
    RETURNS seats.change LANGUAGE plpgsql
AS $$
DECLARE
    v_result seats.change;
BEGIN
    SELECT * INTO v_result FROM seats._schedule_downgrade(p_org, p_new_limit, p_key);
    RETURN v_result;
END
$$;

CREATE OR REPLACE FUNCTION seats._set_customer_language_at(p_org text, p_lang text)
    RETURNS seats.subscription LANGUAGE plpgsql
AS $$
DECLARE
    v_result seats.subscription;
BEGIN
    SELECT * INTO v_result FROM seats._set_customer_language(p_org, p_lang);
    RETURN v_result;
END
$$;

CREATE OR REPLACE FUNCTION seats._freeze_at(p_org text, p_reason text, p_incident bigint)
    RETURNS void LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM seats._freeze(p_reason, p_org, p_incident);
END
$$;

CREATE OR REPLACE FUNCTION seats._unfreeze_at(p_org text)
    RETURNS void LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM seats._unfreeze(p_org);
END
$$;

CREATE OR REPLACE FUNCTION seats._counter_drift_at(p_org text)
    RETURNS TABLE (kind text, org text, severity text, detail text) LANGUAGE plpgsql
AS $$
BEGIN
    RETURN QUERY SELECT * FROM seats._counter_drift(p_org);
END
$$;

CREATE OR REPLACE FUNCTION seats._apply_change_at(p_org text, p_id bigint, p_at timestamptz)
    RETURNS seats.change LANGUAGE plpgsql
AS $$
DECLARE
    v_result seats.change;
BEGIN
    SELECT * INTO v_result FROM seats._apply_change(p_id, p_at, p_org);
    RETURN v_result;
END
$$;

CREATE OR REPLACE FUNCTION seats._cancel_change_at(p_org text, p_id bigint, p_reason text)
    RETURNS seats.change LANGUAGE plpgsql
AS $$
DECLARE
    v_result seats.change;
BEGIN
    SELECT * INTO v_result FROM seats._cancel_change(p_id, p_reason, p_org);
    RETURN v_result;
END
$$;

CREATE OR REPLACE FUNCTION seats._revert_change_at(p_org text, p_id bigint, p_incident bigint, p_reason text)
    RETURNS seats.change LANGUAGE plpgsql
AS $$
DECLARE
    v_result seats.change;
BEGIN
    SELECT * INTO v_result FROM seats._revert_change(p_id, p_incident, p_reason, p_org);
    RETURN v_result;
END
$$;

CREATE OR REPLACE FUNCTION seats._recount_at(p_org text, p_reason text, p_refuse_over boolean)
    RETURNS TABLE (org text, counted int, recorded int, fixed boolean) LANGUAGE plpgsql
AS $$
BEGIN
    RETURN QUERY SELECT * FROM seats._recount(p_org, p_reason, p_refuse_over);
END
$$;

CREATE OR REPLACE FUNCTION seats._turn_over_at(p_org text, p_as_of timestamptz)
    RETURNS int LANGUAGE plpgsql
AS $$
BEGIN
    RETURN (SELECT seats._turn_over(ARRAY[p_org], p_as_of));
END
$$;

CREATE OR REPLACE FUNCTION seats._truncate_distributed(p_rel regclass) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_org text;
BEGIN
    FOR v_org IN SELECT s.org FROM seats.subscription s WHERE s.seats_used <> 0 ORDER BY s.org COLLATE "C" LOOP
        PERFORM * FROM seats._recount_at(v_org, 'truncate ' || p_rel::text, false);
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION seats._citus_foreign_keys() RETURNS TABLE (tbl text, name text, definition text)
    LANGUAGE sql SET search_path = pg_catalog, pg_temp IMMUTABLE
AS $$
    VALUES ('seats.subscription', 'subscription_plan_fkey', 'FOREIGN KEY (plan) REFERENCES seats.plan (code)'),
           ('seats.change', 'change_org_fkey', 'FOREIGN KEY (org) REFERENCES seats.subscription (org)'),
           ('seats.change', 'change_org_reverts_fkey', 'FOREIGN KEY (org, reverts) REFERENCES seats.change (org, id)'),
           ('seats.turnover', 'turnover_org_fkey', 'FOREIGN KEY (org) REFERENCES seats.subscription (org)'),
           ('seats.turnover', 'turnover_org_downgrade_fkey',
            'FOREIGN KEY (org, downgrade) REFERENCES seats.change (org, id)'),
           ('seats.global_freeze', 'global_freeze_incident_fkey',
            'FOREIGN KEY (incident) REFERENCES seats.incident (id)')
$$;

CREATE OR REPLACE FUNCTION seats._citus_delegated() RETURNS TABLE (func text, arg text)
    LANGUAGE sql IMMUTABLE
AS $$
    VALUES ('seats._onboard_at(text, text, int, date, text)', 'p_org'),
           ('seats._quote_upgrade_at(text, int, timestamptz)', 'p_org'),
           ('seats._upgrade_at(text, int, text, timestamptz)', 'p_org'),
           ('seats._request_upgrade_at(text, int, text)', 'p_org'),
           ('seats._schedule_downgrade_at(text, int, text)', 'p_org'),
           ('seats._set_customer_language_at(text, text)', 'p_org'),
           ('seats._freeze_at(text, text, bigint)', 'p_org'),
           ('seats._unfreeze_at(text)', 'p_org'),
           ('seats._apply_change_at(text, bigint, timestamptz)', 'p_org'),
           ('seats._cancel_change_at(text, bigint, text)', 'p_org'),
           ('seats._revert_change_at(text, bigint, bigint, text)', 'p_org'),
           ('seats._recount_at(text, text, boolean)', 'p_org'),
           ('seats._turn_over_at(text, timestamptz)', 'p_org'),
           ('seats._turnover_failed(text, timestamptz, text, text)', 'p_org'),
           ('seats._counter_drift_at(text)', 'p_org')
$$;

CREATE OR REPLACE FUNCTION seats.distribute(member_table regclass) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_column text;
    v_type regtype;
    v_method "char";
    v_drop text;
    r record;
BEGIN
    PERFORM seats._require(member_table, 'member_table');
    IF to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RAISE EXCEPTION 'Citus is not installed in this database'
            USING ERRCODE = 'feature_not_supported', HINT = 'CREATE EXTENSION citus first (docs/citus.md).';
    END IF;
    IF seats._distributed() THEN
        RAISE EXCEPTION 'the seats tables are distributed already' USING ERRCODE = 'object_in_use';
    END IF;
    IF EXISTS (SELECT 1 FROM seats.attachment) THEN
        RAISE EXCEPTION 'seats.distribute() runs before any seats.attach()'
            USING ERRCODE = 'object_in_use',
                  DETAIL = format('Attached now: %s.', (SELECT string_agg(a.relid::text, ', ') FROM seats.attachment a)),
                  HINT = 'seats.detach() them, distribute, then seats.attach() them again (docs/citus.md).';
    END IF;
    SELECT p.partmethod, column_to_column_name(p.logicalrelid, p.partkey) INTO v_method, v_column
      FROM pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) member_table;
    IF NOT FOUND OR v_method OPERATOR(pg_catalog.<>) 'h' THEN
        RAISE EXCEPTION '% is not distributed by hash', member_table
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('SELECT create_distributed_table(%L, ''<org column>'') first.', member_table::text);
    END IF;
    SELECT a.atttypid INTO v_type FROM pg_attribute a
     WHERE a.attrelid OPERATOR(pg_catalog.=) member_table AND a.attname OPERATOR(pg_catalog.=) v_column;
    IF v_type OPERATOR(pg_catalog.<>) 'text'::regtype THEN
        RAISE EXCEPTION '% is distributed by %, of type %, not text', member_table, v_column, v_type
            USING ERRCODE = 'datatype_mismatch',
                  DETAIL = 'Citus colocates only distribution columns of the same type, and seats.subscription.org is text.',
                  HINT = 'Distribute the member table by a text org column (docs/citus.md).';
    END IF;
    -- Every node preloads the library: a worker's connection that loads it
    -- on its first statement would take the all-organizations lock
    -- (statement_deltas.cpp), and the several connections of one
    -- distributed statement on a worker would then wait for each other.
    FOR r IN SELECT 'coordinator' AS node, current_setting('shared_preload_libraries') AS libs
             UNION ALL
             SELECT w.nodename || ':' || w.nodeport, w.result
               FROM run_command_on_workers('SHOW shared_preload_libraries') w LOOP
        IF NOT r.libs ~ '(^|[ ,])"?broker_seats"?($|[ ,])' THEN
            RAISE EXCEPTION 'broker_seats is not in shared_preload_libraries on %', r.node
                USING ERRCODE = 'feature_not_supported',
                      DETAIL = format('shared_preload_libraries = %L', r.libs),
                      HINT = 'Set shared_preload_libraries = ''citus,broker_seats'' on every node and restart it (docs/citus.md).';
        END IF;
    END LOOP;
    -- The foreign keys, on the workers' copies too (whose DDL only the
    -- coordinator may propagate: done there with propagation off).
    SELECT string_agg(format('ALTER TABLE %s DROP CONSTRAINT %I;', f.tbl, f.name), ' ') INTO v_drop
      FROM seats._citus_foreign_keys() f;
    FOR r IN SELECT * FROM run_command_on_workers(
                 'SET LOCAL citus.enable_ddl_propagation TO off; ' OPERATOR(pg_catalog.||) v_drop) LOOP
        IF NOT r.success THEN
            RAISE EXCEPTION 'could not prepare worker %:% for seats.distribute(): %', r.nodename, r.nodeport, r.result;
        END IF;
    END LOOP;
    EXECUTE v_drop;
    -- Triggers on the seats tables (the audit trail's append-only ones)
    -- and, later, on the member table: Citus wants them allowed. Citus's
    -- DDL here is ours: the DDL guard has nothing to judge in it.
    PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);
    PERFORM set_config('broker_seats.internal_ddl', 'on', true);
    -- Reference tables and foreign keys to them in one transaction: one
    -- connection per node.
    PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);
    PERFORM create_reference_table('seats.plan');
    PERFORM create_reference_table('seats.incident');
    PERFORM create_reference_table('seats.global_freeze');
    PERFORM create_reference_table('seats.setting');
    PERFORM create_reference_table('seats.attachment');
    -- Which alerts were announced: written wherever an alert is raised.
    PERFORM create_reference_table('seats.alert_sent');
    PERFORM create_distributed_table('seats.subscription', 'org', colocate_with => member_table::text);
    PERFORM create_distributed_table('seats.change', 'org', colocate_with => member_table::text);
    PERFORM create_distributed_table('seats.event', 'org', colocate_with => member_table::text);
    PERFORM create_distributed_table('seats.turnover', 'org', colocate_with => member_table::text);
    FOR r IN SELECT * FROM seats._citus_foreign_keys() LOOP
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', r.tbl, r.name, r.definition);
    END LOOP;
    -- Ids made on different nodes must not collide: each worker's sequences
    -- start at its group id times 2^48 (the coordinator, group 0, below).
    FOR r IN SELECT * FROM run_command_on_workers(
                 $cmd$SELECT pg_catalog.count(pg_catalog.setval(s::regclass, GREATEST(pg_catalog.nextval(s::regclass),
                                 (SELECT groupid FROM pg_catalog.pg_dist_local_group)::bigint << 48)))
                        FROM unnest(ARRAY['seats.change_id_seq', 'seats.event_id_seq', 'seats.incident_id_seq']) s$cmd$) LOOP
        IF NOT r.success THEN
            RAISE EXCEPTION 'could not set the id ranges of worker %:%: %', r.nodename, r.nodeport, r.result;
        END IF;
    END LOOP;
    FOR r IN SELECT * FROM seats._citus_delegated() LOOP
        PERFORM create_distributed_function(r.func::regprocedure, r.arg, colocate_with => member_table::text,
                                            force_delegation => true);
    END LOOP;
END
$$;

-- Privileges as a fresh install has them: new functions and views too.
REVOKE ALL ON ALL TABLES IN SCHEMA seats FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA seats FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA seats FROM PUBLIC;
REVOKE EXECUTE ON ALL PROCEDURES IN SCHEMA seats FROM PUBLIC;
GRANT USAGE ON SCHEMA seats TO PUBLIC;
-- Pure calculations and texts write nothing.
GRANT EXECUTE ON FUNCTION seats.customer_message(text, text, text) TO PUBLIC;
-- Its text, filled with numbers only from what seats.usage shows the caller.
GRANT EXECUTE ON FUNCTION seats._customer_text(text, text, int, int, int, date) TO PUBLIC;
GRANT EXECUTE ON FUNCTION seats.cycle_bounds(date, text, date) TO PUBLIC;
GRANT EXECUTE ON FUNCTION seats.prorate(int, numeric, timestamptz, timestamptz, timestamptz, text, text, text) TO PUBLIC;
-- The thresholds' defaults (constants), which the view seats.settings
-- calls with its reader's rights: readers granted the view need them.
GRANT EXECUTE ON FUNCTION seats._setting_defaults() TO PUBLIC;
