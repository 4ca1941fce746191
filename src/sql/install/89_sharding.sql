------------------------------------------------------------------------------
-- Citus: the member tables distributed by organization (docs/citus.md)
------------------------------------------------------------------------------

-- Everything that locks an organization, reads its counter in the heap or
-- appends to its audit chain runs on the worker that holds it, where its
-- members' triggers take the same locks. The API functions stay on the
-- coordinator (a NULL distribution argument crashes Citus 13.2's function
-- delegation, and the API's arguments are checked first); on a node that
-- does not hold the org they hop there through these twins, whose first
-- argument is the org: seats.distribute() makes them distributed functions
-- (forced delegation, colocated with the members), so Citus runs each on
-- the org's worker, in the caller's transaction. (PL/pgSQL: a SQL twin
-- would be inlined into its caller and never reach Citus as a call.)

-- Is this the coordinator (Citus group 0)? Only asked under Citus.
CREATE FUNCTION seats._on_coordinator() RETURNS boolean
    LANGUAGE plpgsql STABLE
AS $$
BEGIN
    RETURN (SELECT g.groupid OPERATOR(pg_catalog.=) 0 FROM pg_catalog.pg_dist_local_group g);
END
$$;

-- The org of change p_id when it must be handled on another node: under
-- Citus, called on a node that does not hold it and without the org (which
-- the twins below pass); else NULL.
CREATE FUNCTION seats._change_elsewhere(p_id bigint, p_org text) RETURNS text
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

CREATE FUNCTION seats._onboard_at(p_org text, p_plan text, p_seat_limit int, p_cycle_start date, p_time_zone text)
    RETURNS seats.subscription LANGUAGE plpgsql
AS $$
DECLARE
    v_result seats.subscription;
BEGIN
    SELECT * INTO v_result FROM seats.onboard(p_org, p_plan, p_seat_limit, p_cycle_start, p_time_zone);
    RETURN v_result;
END
$$;

CREATE FUNCTION seats._quote_upgrade_at(p_org text, p_new_limit int, p_at timestamptz)
    RETURNS TABLE (amount numeric, currency text, units_remaining int, units_in_cycle int) LANGUAGE plpgsql
AS $$
BEGIN
    RETURN QUERY SELECT * FROM seats._quote_upgrade(p_org, p_new_limit, p_at);
END
$$;

CREATE FUNCTION seats._upgrade_at(p_org text, p_new_limit int, p_key text, p_at timestamptz)
    RETURNS seats.change LANGUAGE plpgsql
AS $$
DECLARE
    v_result seats.change;
BEGIN
    SELECT * INTO v_result FROM seats._upgrade(p_org, p_new_limit, p_key, p_at);
    RETURN v_result;
END
$$;

CREATE FUNCTION seats._request_upgrade_at(p_org text, p_new_limit int, p_key text)
    RETURNS seats.change LANGUAGE plpgsql
AS $$
DECLARE
    v_result seats.change;
BEGIN
    SELECT * INTO v_result FROM seats._request_upgrade(p_org, p_new_limit, p_key);
    RETURN v_result;
END
$$;

CREATE FUNCTION seats._schedule_downgrade_at(p_org text, p_new_limit int, p_key text)
    RETURNS seats.change LANGUAGE plpgsql
AS $$
DECLARE
    v_result seats.change;
BEGIN
    SELECT * INTO v_result FROM seats._schedule_downgrade(p_org, p_new_limit, p_key);
    RETURN v_result;
END
$$;

CREATE FUNCTION seats._set_customer_language_at(p_org text, p_lang text)
    RETURNS seats.subscription LANGUAGE plpgsql
AS $$
DECLARE
    v_result seats.subscription;
BEGIN
    SELECT * INTO v_result FROM seats._set_customer_language(p_org, p_lang);
    RETURN v_result;
END
$$;

CREATE FUNCTION seats._freeze_at(p_org text, p_reason text, p_incident bigint)
    RETURNS void LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM seats._freeze(p_reason, p_org, p_incident);
END
$$;

CREATE FUNCTION seats._unfreeze_at(p_org text)
    RETURNS void LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM seats._unfreeze(p_org);
END
$$;

CREATE FUNCTION seats._counter_drift_at(p_org text)
    RETURNS TABLE (kind text, org text, severity text, detail text) LANGUAGE plpgsql
AS $$
BEGIN
    RETURN QUERY SELECT * FROM seats._counter_drift(p_org);
END
$$;

CREATE FUNCTION seats._apply_change_at(p_org text, p_id bigint, p_at timestamptz)
    RETURNS seats.change LANGUAGE plpgsql
AS $$
DECLARE
    v_result seats.change;
BEGIN
    SELECT * INTO v_result FROM seats._apply_change(p_id, p_at, p_org);
    RETURN v_result;
END
$$;

CREATE FUNCTION seats._cancel_change_at(p_org text, p_id bigint, p_reason text)
    RETURNS seats.change LANGUAGE plpgsql
AS $$
DECLARE
    v_result seats.change;
BEGIN
    SELECT * INTO v_result FROM seats._cancel_change(p_id, p_reason, p_org);
    RETURN v_result;
END
$$;

CREATE FUNCTION seats._revert_change_at(p_org text, p_id bigint, p_incident bigint, p_reason text)
    RETURNS seats.change LANGUAGE plpgsql
AS $$
DECLARE
    v_result seats.change;
BEGIN
    SELECT * INTO v_result FROM seats._revert_change(p_id, p_incident, p_reason, p_org);
    RETURN v_result;
END
$$;

CREATE FUNCTION seats._recount_at(p_org text, p_reason text, p_refuse_over boolean)
    RETURNS TABLE (org text, counted int, recorded int, fixed boolean) LANGUAGE plpgsql
AS $$
BEGIN
    RETURN QUERY SELECT * FROM seats._recount(p_org, p_reason, p_refuse_over);
END
$$;

CREATE FUNCTION seats._turn_over_at(p_org text, p_as_of timestamptz)
    RETURNS int LANGUAGE plpgsql
AS $$
BEGIN
    RETURN (SELECT seats._turn_over(ARRAY[p_org], p_as_of));
END
$$;

-- After a TRUNCATE of a distributed member table (its trigger fires on
-- the coordinator, and Citus then truncates the shards): every org with
-- seats recounted on its worker, by the trigger's own rules; each fix is
-- audited as counter_fixed, with the reason.
CREATE FUNCTION seats._truncate_distributed(p_rel regclass) RETURNS void
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

-- The foreign keys among the seats tables, as 1.1 makes them. Citus
-- refuses to replicate a table that a local table references and to
-- distribute one that references a local table: seats.distribute() drops
-- them on every node, distributes, and makes them again (Citus then makes
-- them on every shard).
CREATE FUNCTION seats._citus_foreign_keys() RETURNS TABLE (tbl text, name text, definition text)
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

-- The functions Citus delegates to the worker holding their org argument.
CREATE FUNCTION seats._citus_delegated() RETURNS TABLE (func text, arg text)
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

-- Distributes the seats tables with the member table `member_table`, which
-- Citus already distributes by hash of its org column (of type text, as
-- seats.subscription.org: Citus colocates only equal types). Run once, on
-- the coordinator, as a superuser, after adding the workers and before
-- seats.attach() (docs/citus.md).
CREATE FUNCTION seats.distribute(member_table regclass) RETURNS void
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
COMMENT ON FUNCTION seats.distribute(regclass) IS
    'Citus: distributes the seats tables colocated with a member table distributed by its text org column';
