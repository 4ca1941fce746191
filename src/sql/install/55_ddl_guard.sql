-- The DDL guard: keeps enforcement whole across any DDL, judged by the
-- catalog state after the command rather than by the command's shape (a
-- rename, INHERIT, re-parenting, ALTER COLUMN ... USING, DROP SCHEMA
-- CASCADE, DROP OWNED, an extension dependency all end in a state we can
-- check). New partitions and inheritance children get the triggers; rows
-- that reached or left enforcement without row events are recounted; every
-- other way around the triggers is refused with 55006.

-- One trigger of ours that is not as seats.attach() made it: on a relation
-- that is not attached, a second one of a kind, other arguments, disabled,
-- or bound to the life of another extension (ALTER TRIGGER ... DEPENDS ON
-- EXTENSION, whose DROP EXTENSION would drop it).
-- Is this enforcement trigger exactly as seats.attach() makes them: a
-- statement trigger without WHEN condition, not a constraint trigger, the
-- change function AFTER INSERT, UPDATE or DELETE (one event) with its
-- transition tables, the TRUNCATE function BEFORE TRUNCATE?
CREATE FUNCTION seats._enforcement_trigger_shape(p_trigger oid) RETURNS boolean
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

CREATE FUNCTION seats._tampered_trigger() RETURNS TABLE (relation regclass, tgname name, problem text)
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

CREATE FUNCTION seats._ddl_guard() RETURNS event_trigger
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

-- A table rewrite (ALTER COLUMN ... TYPE ... USING, a volatile default, SET
-- ACCESS METHOD) of an attached relation may change seat values without row
-- events: note it for the recount at the end of the command.
CREATE FUNCTION seats._rewrite_guard() RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT seats._internal_ddl()
       AND pg_catalog.pg_event_trigger_table_rewrite_oid() IN (SELECT ar.relation::oid FROM seats.attached_relation ar) THEN
        PERFORM pg_catalog.set_config('broker_seats.recount_pending', 'on', true);
    END IF;
END
$$;

CREATE FUNCTION seats._drop_guard() RETURNS event_trigger
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
CREATE EVENT TRIGGER broker_seats_ddl_guard ON ddl_command_end
    EXECUTE FUNCTION seats._ddl_guard();
CREATE EVENT TRIGGER broker_seats_rewrite_guard ON table_rewrite
    EXECUTE FUNCTION seats._rewrite_guard();
CREATE EVENT TRIGGER broker_seats_drop_guard ON sql_drop
    EXECUTE FUNCTION seats._drop_guard();
