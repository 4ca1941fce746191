------------------------------------------------------------------------------
-- Attachment of member tables
------------------------------------------------------------------------------

-- A table and every relation that inherits from it, at any depth:
-- partitions and inheritance children alike (writes reach a child's rows
-- through its parents, and to a child directly).
CREATE FUNCTION seats._relation_tree(p_rel regclass) RETURNS SETOF regclass
    LANGUAGE sql STABLE
AS $$
    WITH RECURSIVE tree(relid) AS (
        SELECT p_rel::oid
        UNION
        SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN tree t ON i.inhparent OPERATOR(pg_catalog.=) t.relid
    )
    SELECT relid::regclass FROM tree
$$;

-- The attachments as this node holds them: seats.attachment, or under
-- Citus its reference table's copy on this node, read directly. (Inside
-- the DDL guard, during DDL on a distributed table, Citus returns no rows
-- for a query of the reference table itself.)
CREATE FUNCTION seats._attachments() RETURNS SETOF seats.attachment
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY EXECUTE format('SELECT a.relid, a.org_column, a.role_column, a.active_column, a.active_kind, '
                                'a.seat_roles, a.attached_at FROM %s a', seats._rows_of('seats.attachment', NULL));
END
$$;

-- Relations that carry (or should carry) enforcement triggers.
CREATE VIEW seats.attached_relation AS
    SELECT a.relid AS attachment, t.relation
      FROM seats._attachments() a, seats._relation_tree(a.relid) AS t(relation);

-- Seats per org over every attached relation (one org, or all), counted in
-- C by the change trigger's column rules: no SQL over the member tables.
-- The caller holds the org locks (or the all-organizations lock).
-- (No JIT: the plan is tiny, but the SRFs' estimates can push its cost past
-- jit_above_cost, and compiling it on every onboarding would cost seconds.)
-- With p_statement_snapshot the members are read with the statement's
-- snapshot (STABLE: a volatile SQL function would take a newer one), the
-- one that reads the counters too (the counter_drift alert
-- compares both without locking anything); else with the latest one.
CREATE FUNCTION seats._count_seats(p_org text DEFAULT NULL, p_statement_snapshot boolean DEFAULT false)
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

-- Recounts subscriptions (one org, or all) under their locks, fixes
-- seats_used where it drifted and audits each fix. With p_refuse_over (the
-- DDL guard's recount), a count that went up past an org's limit refuses
-- the DDL with 55006 instead: rows must not reach enforcement over the limit
-- (SPEC rule 6).
CREATE FUNCTION seats._recount(p_org text, p_reason text, p_refuse_over boolean DEFAULT false)
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

-- The trigger arguments of an attachment, as pg_trigger.tgargs stores them.
CREATE FUNCTION seats._trigger_args(p_att seats.attachment) RETURNS bytea
    LANGUAGE sql STABLE
AS $$
    SELECT pg_catalog.string_agg(pg_catalog.convert_to(x, pg_catalog.getdatabaseencoding())
                                 OPERATOR(pg_catalog.||) '\x00'::bytea, ''::bytea ORDER BY n)
      FROM unnest(ARRAY[p_att.org_column::text, p_att.role_column::text, p_att.active_column::text]
                  OPERATOR(pg_catalog.||) p_att.seat_roles) WITH ORDINALITY AS u(x, n)
$$;

-- The enforcement triggers, known by their function, never by their name.
CREATE VIEW seats.enforcement_trigger AS
    SELECT tg.oid, tg.tgrelid::regclass AS relation, tg.tgname, tg.tgtype, tg.tgenabled, tg.tgargs,
           p.proname AS function
      FROM pg_catalog.pg_trigger tg
      JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) tg.tgfoid
     WHERE p.pronamespace OPERATOR(pg_catalog.=) 'seats'::regnamespace
       AND p.proname IN ('member_change_trigger', 'member_truncate_trigger');

CREATE FUNCTION seats._install_triggers(p_rel regclass, p_att seats.attachment) RETURNS void
    LANGUAGE plpgsql
AS $$
DECLARE
    v_args text;
BEGIN
    SELECT string_agg(quote_literal(x), ', ' ORDER BY n) INTO v_args
      FROM unnest(ARRAY[p_att.org_column::text, p_att.role_column::text, p_att.active_column::text]
                  || p_att.seat_roles) WITH ORDINALITY AS u(x, n);
    EXECUTE format('CREATE TRIGGER broker_seats_insert AFTER INSERT ON %s REFERENCING NEW TABLE AS '
                   'broker_seats_new FOR EACH STATEMENT EXECUTE FUNCTION seats.member_change_trigger(%s)',
                   p_rel, v_args);
    EXECUTE format('CREATE TRIGGER broker_seats_update AFTER UPDATE ON %s REFERENCING OLD TABLE AS '
                   'broker_seats_old NEW TABLE AS broker_seats_new FOR EACH STATEMENT '
                   'EXECUTE FUNCTION seats.member_change_trigger(%s)', p_rel, v_args);
    EXECUTE format('CREATE TRIGGER broker_seats_delete AFTER DELETE ON %s REFERENCING OLD TABLE AS '
                   'broker_seats_old FOR EACH STATEMENT EXECUTE FUNCTION seats.member_change_trigger(%s)',
                   p_rel, v_args);
    EXECUTE format('CREATE TRIGGER broker_seats_truncate BEFORE TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION seats.member_truncate_trigger(%s)', p_rel, v_args);
END
$$;

CREATE FUNCTION seats._drop_triggers(p_rel regclass) RETURNS void
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

CREATE FUNCTION seats._trigger_count(p_rel regclass) RETURNS int
    LANGUAGE sql SET search_path = pg_catalog, pg_temp STABLE
AS $$
    SELECT count(*)::int FROM seats.enforcement_trigger et WHERE et.relation OPERATOR(pg_catalog.=) p_rel
$$;

-- Brings the triggers in line with the attachments: installs them on
-- partitions created or attached since, removes them from detached ones.
-- Returns true when it changed anything.
CREATE FUNCTION seats._sync_triggers() RETURNS boolean
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

-- The type of a mapped column; 22023 naming the argument when it is missing.
CREATE FUNCTION seats._column_type(p_rel regclass, p_column name, p_argument text) RETURNS regtype
    LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_type regtype;
BEGIN
    SELECT a.atttypid INTO v_type FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = p_rel AND a.attname = p_column AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION '% "%" does not exist in %', p_argument, p_column, p_rel
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN v_type;
END
$$;

-- Checks an attachment's column mapping; returns the active column's kind.
-- Removes the enforcement triggers from a table and its partitions and, with
-- an attachment, installs them anew; the table is locked against writes
-- until commit, so the recount that follows sees a still table.
CREATE FUNCTION seats._replace_triggers(p_table regclass, p_att seats.attachment) RETURNS void
    LANGUAGE plpgsql
AS $$
DECLARE
    v_rel regclass;
BEGIN
    EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', p_table);
    PERFORM set_config('broker_seats.internal_ddl', 'on', true);
    FOR v_rel IN SELECT t FROM seats._relation_tree(p_table) t LOOP
        PERFORM seats._drop_triggers(v_rel);
        IF p_att.relid IS NOT NULL THEN
            PERFORM seats._install_triggers(v_rel, p_att);
        END IF;
    END LOOP;
    PERFORM set_config('broker_seats.internal_ddl', 'off', true);
END
$$;

-- Checks an attachment's column mapping by the trigger's own rules (in C:
-- 42804 for a type SPEC §7 does not support, 22023 for a seat role that is
-- not a label of an enum role type); returns the active column's kind.
CREATE FUNCTION seats._check_mapping(member_table regclass, org_column name, role_column name,
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

-- The relations a table inherits from, at any depth (not itself).
CREATE FUNCTION seats._relation_ancestors(p_rel regclass) RETURNS SETOF regclass
    LANGUAGE sql STABLE
AS $$
    WITH RECURSIVE up(relid) AS (
        SELECT i.inhparent FROM pg_catalog.pg_inherits i WHERE i.inhrelid OPERATOR(pg_catalog.=) p_rel::oid
        UNION
        SELECT i.inhparent FROM pg_catalog.pg_inherits i JOIN up u ON i.inhrelid OPERATOR(pg_catalog.=) u.relid
    )
    SELECT relid::regclass FROM up
$$;

-- Putting a table under enforcement (or taking it out) is for its owner
-- acting as seats_operator, or a superuser (SPEC §7): 42501 otherwise.
CREATE FUNCTION seats._check_may_attach(p_table regclass) RETURNS void
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

CREATE FUNCTION seats.attach(member_table regclass, org_column name DEFAULT 'org_id',
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

CREATE FUNCTION seats.detach(member_table regclass) RETURNS void
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

