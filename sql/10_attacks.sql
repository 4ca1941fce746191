-- Attacks on enforcement (issue 8): borrowed rights, one seat rule for
-- every column type, and the DDL guard on every path. Each block shows the
-- attack's outcome and then proves the limit, the counters and the
-- attacker's rights intact.
SET datestyle = ISO, YMD;
SET timezone = 'America/Sao_Paulo';
SET broker_seats.language = 'en';
SELECT code FROM seats.create_plan('atk', 10);

------------------------------------------------------------------------------
-- 1. Rights escalation through the TRUNCATE trigger (and the other seat
-- paths): an application role with DML and TRUNCATE on a member table and a
-- schema of its own plants count(*), sum, = on text in that schema, puts it
-- first in search_path and writes. Nothing of it may run with the
-- extension owner's rights.
------------------------------------------------------------------------------
CREATE ROLE atk_app;
CREATE SCHEMA atk AUTHORIZATION atk_app;
CREATE TABLE atk_members (id serial PRIMARY KEY, org_id text, role text, active boolean DEFAULT true);
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON atk_members TO atk_app;
GRANT USAGE ON SEQUENCE atk_members_id_seq TO atk_app;
SELECT org, seat_limit FROM seats.onboard('atk-1', 'atk', 2);
SELECT seats.attach('atk_members');
INSERT INTO atk_members (org_id, role) VALUES ('atk-1', 'broker'), ('atk-1', 'broker'), ('atk-1', 'owner');

SET ROLE atk_app;
CREATE TABLE atk.trap_log (fn text, who name, super boolean);
-- The payload: records who ran it and with which rights, then tries to
-- raise the limit and to become superuser; never fails itself.
CREATE FUNCTION atk.trap(fn text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO atk.trap_log
    SELECT fn, current_user, r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) current_user;
    BEGIN
        PERFORM seats.upgrade('atk-1', 50);
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
    BEGIN
        EXECUTE 'ALTER ROLE atk_app SUPERUSER';
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
END
$$;
CREATE FUNCTION atk.trap_sfunc(bigint) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    PERFORM atk.trap('count');
    RETURN $1 OPERATOR(pg_catalog.+) 1;
END
$$;
CREATE AGGREGATE atk.count(*) (SFUNC = atk.trap_sfunc, STYPE = bigint, INITCOND = '0');
CREATE FUNCTION atk.trap_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM atk.trap('eq');
    RETURN $1 OPERATOR(pg_catalog.=) $2;
END
$$;
CREATE OPERATOR atk.= (LEFTARG = text, RIGHTARG = text, FUNCTION = atk.trap_eq);
CREATE FUNCTION atk.sum(bigint) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    PERFORM atk.trap('sum');
    RETURN $1;
END
$$;
CREATE FUNCTION atk.sum(integer) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    PERFORM atk.trap('sum');
    RETURN $1;
END
$$;
SET search_path = atk, public, pg_catalog;
-- Every seat path under the hostile search_path: a blocked insert, a
-- delete, an insert into the freed seat, then TRUNCATE.
SELECT try($$INSERT INTO atk_members (org_id, role) VALUES ('atk-1', 'broker')$$);
DELETE FROM atk_members WHERE id IN (SELECT min(id) FROM atk_members);
INSERT INTO atk_members (org_id, role) VALUES ('atk-1', 'broker');
SELECT try($$INSERT INTO atk_members (org_id, role) VALUES ('atk-1', 'broker')$$);
-- The trap is live: the role's own queries call the planted count(*) and =
-- (with the role's own rights, which cannot upgrade or escalate).
SELECT count(*) AS rows_seen FROM atk_members WHERE org_id = 'atk-1';
TRUNCATE atk_members;
RESET search_path;
RESET ROLE;
-- The limit is unchanged, no upgrade was applied, the role is no superuser,
-- and the payload never ran with elevated rights.
SELECT org, seat_limit, seats_used, seats_free FROM seats.usage WHERE org = 'atk-1';
SELECT count(*) AS upgrades FROM seats.change WHERE kind = 'upgrade' AND org = 'atk-1';
SELECT rolname, rolsuper, rolcreaterole FROM pg_roles WHERE rolname = 'atk_app';
SELECT count(*) FILTER (WHERE super) AS trap_runs_as_superuser FROM atk.trap_log;
SELECT fn, who, super, count(*) AS runs FROM atk.trap_log GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;

-- A DBA running the extension's functions under the same hostile
-- search_path does not run the planted objects either (pinned paths).
INSERT INTO atk_members (org_id, role) VALUES ('atk-1', 'broker');
SET search_path = atk, public, pg_catalog;
SELECT * FROM seats.revalidate('atk-1');
SELECT seats.attach('atk_members');
SELECT org, seats_used FROM seats.onboard('atk-1b', 'atk', 1);
TRUNCATE atk_members;
RESET search_path;
SELECT org, seat_limit, seats_used FROM seats.usage WHERE org IN ('atk-1', 'atk-1b') ORDER BY org;
SELECT count(*) AS upgrades FROM seats.change WHERE kind = 'upgrade' AND org = 'atk-1';
SELECT fn, who, super, count(*) AS runs FROM atk.trap_log GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
SELECT rolname, rolsuper FROM pg_roles WHERE rolname = 'atk_app';

------------------------------------------------------------------------------
-- 2. A member table's owner with an enum role type of its own and its own
-- CREATE CAST (enum AS text): neither its TRUNCATE, its DDL, nor a DBA's
-- seats.revalidate() runs the cast function (enum roles match by label, in
-- C, without any cast).
------------------------------------------------------------------------------
CREATE ROLE atk_owner;
CREATE SCHEMA atk_own AUTHORIZATION atk_owner;
SET ROLE atk_owner;
CREATE TYPE atk_own.atk_role AS ENUM ('owner', 'manager', 'broker');
CREATE TABLE atk_own.members (id serial, org_id text, role atk_own.atk_role, active boolean DEFAULT true);
CREATE TABLE atk_own.cast_log (who name, super boolean);
CREATE FUNCTION atk_own.cast_fn(atk_own.atk_role) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO atk_own.cast_log
    SELECT current_user, r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) current_user;
    BEGIN
        EXECUTE 'ALTER ROLE atk_owner SUPERUSER';
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
    BEGIN
        PERFORM seats.upgrade('atk-2', 50);
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
    RETURN pg_catalog.format('%s', $1);
END
$$;
CREATE CAST (atk_own.atk_role AS text) WITH FUNCTION atk_own.cast_fn(atk_own.atk_role);
RESET ROLE;
SELECT org FROM seats.onboard('atk-2', 'atk', 2);
SELECT seats.attach('atk_own.members');
SELECT seat_roles, active_kind FROM seats.attachment WHERE relid = 'atk_own.members'::regclass;
SET ROLE atk_owner;
INSERT INTO atk_own.members (org_id, role) VALUES ('atk-2', 'broker'), ('atk-2', 'broker'), ('atk-2', 'owner');
SELECT try($$INSERT INTO atk_own.members (org_id, role) VALUES ('atk-2', 'broker')$$);
TRUNCATE atk_own.members;
INSERT INTO atk_own.members (org_id, role) VALUES ('atk-2', 'broker'), ('atk-2', 'manager');
-- DDL by the owner that makes the guard recount (a rewrite of a mapped column).
ALTER TABLE atk_own.members ALTER COLUMN active TYPE boolean USING active;
RESET ROLE;
SELECT * FROM seats.revalidate('atk-2');
SELECT r.* FROM seats.revalidate() r WHERE r.org = 'atk-2';
SELECT org, seat_limit, seats_used FROM seats.usage WHERE org = 'atk-2';
SELECT count(*) AS upgrades FROM seats.change WHERE kind = 'upgrade' AND org = 'atk-2';
SELECT rolname, rolsuper FROM pg_roles WHERE rolname = 'atk_owner';
SELECT count(*) AS cast_runs, count(*) FILTER (WHERE super) AS cast_runs_as_superuser FROM atk_own.cast_log;
-- The cast is live: the owner's own role::text calls it, with its own rights.
SET ROLE atk_owner;
SELECT role::text AS role FROM atk_own.members ORDER BY 1;
RESET ROLE;
SELECT who, super, count(*) AS runs FROM atk_own.cast_log GROUP BY 1, 2 ORDER BY 1, 2;
SELECT rolname, rolsuper FROM pg_roles WHERE rolname = 'atk_owner';
SELECT org, seat_limit FROM seats.usage WHERE org = 'atk-2';

-- The owner retypes an attached table's text role column to its own enum:
-- the counters stay exact and the cast still never runs elevated.
SET ROLE atk_owner;
CREATE TABLE atk_own.members2 (id serial, org_id text, role text, active boolean DEFAULT true);
RESET ROLE;
SELECT org FROM seats.onboard('atk-2b', 'atk', 2);
SELECT seats.attach('atk_own.members2');
SET ROLE atk_owner;
INSERT INTO atk_own.members2 (org_id, role) VALUES ('atk-2b', 'broker'), ('atk-2b', 'broker'), ('atk-2b', 'owner');
SELECT try($$ALTER TABLE atk_own.members2 ALTER COLUMN role TYPE atk_own.atk_role USING role::atk_own.atk_role$$);
SELECT try($$INSERT INTO atk_own.members2 (org_id, role) VALUES ('atk-2b', 'broker')$$);
TRUNCATE atk_own.members2;
RESET ROLE;
SELECT * FROM seats.revalidate('atk-2b');
SELECT org, seat_limit, seats_used FROM seats.usage WHERE org = 'atk-2b';
SELECT rolname, rolsuper FROM pg_roles WHERE rolname = 'atk_owner';
SELECT count(*) FILTER (WHERE super) AS cast_runs_as_superuser FROM atk_own.cast_log;

------------------------------------------------------------------------------
-- 3. Role column types: the trigger and every recount apply one rule.
------------------------------------------------------------------------------
-- char(10): 'broker' is stored blank-padded and compared as PostgreSQL
-- compares char(n); three brokers one at a time at limit 2.
CREATE TABLE atk_char (org_id text, role char(10), active boolean);
SELECT org FROM seats.onboard('atk-3c', 'atk', 2);
SELECT seats.attach('atk_char');
INSERT INTO atk_char VALUES ('atk-3c', 'broker', true);
SELECT org, seats_used FROM seats.subscription WHERE org = 'atk-3c';
INSERT INTO atk_char VALUES ('atk-3c', 'broker  ', true);
SELECT org, seats_used FROM seats.subscription WHERE org = 'atk-3c';
SELECT try($$INSERT INTO atk_char VALUES ('atk-3c', 'broker', true)$$);
INSERT INTO atk_char VALUES ('atk-3c', 'owner', true), ('atk-3c', 'broker', false);
SELECT org, seat_limit, seats_used FROM seats.usage WHERE org = 'atk-3c';
SELECT * FROM seats.revalidate('atk-3c');

-- varchar: compared as text ('broker ' with a trailing blank is no broker).
CREATE TABLE atk_varchar (org_id text, role varchar(20), active boolean);
SELECT org FROM seats.onboard('atk-3v', 'atk', 1);
SELECT seats.attach('atk_varchar');
INSERT INTO atk_varchar VALUES ('atk-3v', 'broker', true);
SELECT try($$INSERT INTO atk_varchar VALUES ('atk-3v', 'broker', true)$$);
INSERT INTO atk_varchar VALUES ('atk-3v', 'broker ', true), ('atk-3v', 'Broker', true);
SELECT org, seat_limit, seats_used FROM seats.usage WHERE org = 'atk-3v';
SELECT * FROM seats.revalidate('atk-3v');

-- A domain over text.
CREATE DOMAIN atk_role_text AS text CHECK (VALUE <> '');
CREATE TABLE atk_domain (org_id text, role atk_role_text, active boolean);
SELECT org FROM seats.onboard('atk-3d', 'atk', 1);
SELECT seats.attach('atk_domain');
INSERT INTO atk_domain VALUES ('atk-3d', 'broker', true);
SELECT try($$INSERT INTO atk_domain VALUES ('atk-3d', 'broker', true)$$);
INSERT INTO atk_domain VALUES ('atk-3d', 'owner', true);
SELECT org, seat_limit, seats_used FROM seats.usage WHERE org = 'atk-3d';
SELECT * FROM seats.revalidate('atk-3d');

-- A domain over char(n): blank-padded like char(n).
CREATE DOMAIN atk_role_bpchar AS char(8);
CREATE TABLE atk_domain_bp (org_id text, role atk_role_bpchar, active boolean);
SELECT org FROM seats.onboard('atk-3p', 'atk', 1);
SELECT seats.attach('atk_domain_bp');
INSERT INTO atk_domain_bp VALUES ('atk-3p', 'broker', true);
SELECT try($$INSERT INTO atk_domain_bp VALUES ('atk-3p', 'broker ', true)$$);
SELECT org, seat_limit, seats_used FROM seats.usage WHERE org = 'atk-3p';
SELECT * FROM seats.revalidate('atk-3p');

-- An enum, matched by label; and a domain over an enum.
CREATE TYPE atk_role3 AS ENUM ('owner', 'broker', 'manager');
CREATE TABLE atk_enum (org_id text, role atk_role3, active boolean);
SELECT org FROM seats.onboard('atk-3e', 'atk', 1);
SELECT seats.attach('atk_enum');
INSERT INTO atk_enum VALUES ('atk-3e', 'broker', true);
SELECT try($$INSERT INTO atk_enum VALUES ('atk-3e', 'broker', true)$$);
INSERT INTO atk_enum VALUES ('atk-3e', 'manager', true), ('atk-3e', 'owner', true);
SELECT org, seat_limit, seats_used FROM seats.usage WHERE org = 'atk-3e';
SELECT * FROM seats.revalidate('atk-3e');
-- A seat role that is not a label of the enum is refused at attach.
SELECT try($$SELECT seats.attach('atk_enum', 'org_id', 'role', 'active', '{broker,agent}')$$);
CREATE DOMAIN atk_role3_dom AS atk_role3;
CREATE TABLE atk_enum_dom (org_id text, role atk_role3_dom, active boolean);
SELECT org FROM seats.onboard('atk-3f', 'atk', 1);
SELECT seats.attach('atk_enum_dom');
INSERT INTO atk_enum_dom VALUES ('atk-3f', 'broker', true);
SELECT try($$INSERT INTO atk_enum_dom VALUES ('atk-3f', 'broker', true)$$);
SELECT * FROM seats.revalidate('atk-3f');

-- Unsupported types are refused at attach with 42804 naming the column.
CREATE TABLE atk_int_role (org_id text, role integer, active boolean);
SELECT try($$SELECT seats.attach('atk_int_role')$$);
CREATE DOMAIN atk_role_int AS integer;
CREATE TABLE atk_int_dom_role (org_id text, role atk_role_int, active boolean);
SELECT try($$SELECT seats.attach('atk_int_dom_role')$$);
CREATE TABLE atk_numeric_org (org_id numeric, role text, active boolean);
SELECT try($$SELECT seats.attach('atk_numeric_org')$$);
SELECT count(*) AS attached FROM seats.attachment
 WHERE relid IN ('atk_int_role'::regclass, 'atk_int_dom_role'::regclass, 'atk_numeric_org'::regclass);

------------------------------------------------------------------------------
-- 4. Renaming an enum label that is a seat role on an attached table's role
-- type would silently change who holds a seat: refused. Other labels rename.
------------------------------------------------------------------------------
CREATE TYPE atk_role4 AS ENUM ('owner', 'broker', 'intern');
CREATE TABLE atk_enum4 (org_id text, role atk_role4, active boolean);
SELECT org FROM seats.onboard('atk-4', 'atk', 1);
SELECT seats.attach('atk_enum4');
INSERT INTO atk_enum4 VALUES ('atk-4', 'broker', true);
SELECT try($$ALTER TYPE atk_role4 RENAME VALUE 'broker' TO 'agent'$$);
SELECT try($$ALTER TYPE atk_role4 RENAME VALUE 'intern' TO 'trainee'$$);
SELECT enumlabel FROM pg_enum WHERE enumtypid = 'atk_role4'::regtype ORDER BY enumsortorder;
SELECT try($$INSERT INTO atk_enum4 VALUES ('atk-4', 'broker', true)$$);
INSERT INTO atk_enum4 VALUES ('atk-4', 'trainee', true);
SELECT org, seat_limit, seats_used FROM seats.usage WHERE org = 'atk-4';
SELECT * FROM seats.revalidate('atk-4');

------------------------------------------------------------------------------
-- 5. The DDL guard on every path by which rows reach or leave enforcement.
------------------------------------------------------------------------------
-- 5a. CREATE TABLE ... INHERITS (attached): the child gets the triggers.
CREATE TABLE atk_inh (org_id text, role text, active boolean);
SELECT org FROM seats.onboard('atk-5a', 'atk', 2);
SELECT seats.attach('atk_inh');
INSERT INTO atk_inh VALUES ('atk-5a', 'broker', true);
CREATE TABLE atk_inh_child () INHERITS (atk_inh);
SELECT function, count(*) FROM seats.enforcement_trigger
 WHERE relation = 'atk_inh_child'::regclass GROUP BY 1 ORDER BY 1;
INSERT INTO atk_inh_child VALUES ('atk-5a', 'broker', true);
SELECT try($$INSERT INTO atk_inh_child VALUES ('atk-5a', 'broker', true)$$);
-- A statement naming the parent reaches the child's rows: still enforced.
INSERT INTO atk_inh_child VALUES ('atk-5a', 'broker', false);
SELECT try($$UPDATE atk_inh SET active = true WHERE NOT active$$);
SELECT org, seat_limit, seats_used FROM seats.usage WHERE org = 'atk-5a';
SELECT * FROM seats.revalidate('atk-5a');

-- 5b. ALTER TABLE other INHERIT attached, when other's brokers do not fit:
-- refused; once they fit, accepted, counted and enforced.
CREATE TABLE atk_other (org_id text, role text, active boolean);
INSERT INTO atk_other VALUES ('atk-5b', 'broker', true), ('atk-5b', 'broker', true), ('atk-5b', 'broker', true);
SELECT org FROM seats.onboard('atk-5b', 'atk', 2);
SELECT try($$ALTER TABLE atk_other INHERIT atk_inh$$);
SELECT count(*) AS parents FROM pg_inherits WHERE inhrelid = 'atk_other'::regclass;
SELECT org, seat_limit, seats_used FROM seats.usage WHERE org = 'atk-5b';
DELETE FROM atk_other WHERE ctid = (SELECT min(ctid) FROM atk_other);
ALTER TABLE atk_other INHERIT atk_inh;
SELECT org, seat_limit, seats_used FROM seats.usage WHERE org = 'atk-5b';
SELECT try($$INSERT INTO atk_other VALUES ('atk-5b', 'broker', true)$$);
SELECT * FROM seats.revalidate('atk-5b');

-- 5c. An attached table made a child of a new, unattached parent: refused
-- (statements naming the parent would fire only the parent's triggers).
CREATE TABLE atk_reparent (org_id text, role text, active boolean);
SELECT org FROM seats.onboard('atk-5c', 'atk', 1);
SELECT seats.attach('atk_reparent');
INSERT INTO atk_reparent VALUES ('atk-5c', 'broker', true);
CREATE TABLE atk_newparent (org_id text, role text, active boolean);
SELECT try($$ALTER TABLE atk_reparent INHERIT atk_newparent$$);
SELECT count(*) AS parents FROM pg_inherits WHERE inhrelid = 'atk_reparent'::regclass;

-- 5d. ... or a partition of a new, unattached partitioned table.
CREATE TABLE atk_newpart (org_id text, role text, active boolean) PARTITION BY LIST (org_id);
SELECT try($$ALTER TABLE atk_newpart ATTACH PARTITION atk_reparent FOR VALUES IN ('atk-5c')$$);
SELECT relispartition FROM pg_class WHERE oid = 'atk_reparent'::regclass;
SELECT try($$INSERT INTO atk_reparent VALUES ('atk-5c', 'broker', true)$$);

-- 5e. A trigger renamed is still known by its function: disabling it under
-- the new name is refused, and so is ENABLE REPLICA (which does not fire).
SELECT try($$ALTER TRIGGER broker_seats_insert ON atk_reparent RENAME TO x$$);
SELECT try($$ALTER TABLE atk_reparent DISABLE TRIGGER x$$);
SELECT try($$ALTER TABLE atk_reparent ENABLE REPLICA TRIGGER x$$);
SELECT tgname, function, tgenabled FROM seats.enforcement_trigger
 WHERE relation = 'atk_reparent'::regclass ORDER BY tgname;
SELECT try($$INSERT INTO atk_reparent VALUES ('atk-5c', 'broker', true)$$);

-- 5f. A trigger made to depend on another extension (whose DROP EXTENSION
-- would drop it): refused.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
SELECT try($$ALTER TRIGGER x ON atk_reparent DEPENDS ON EXTENSION pg_trgm$$);
SELECT try($$ALTER TRIGGER broker_seats_delete ON atk_reparent DEPENDS ON EXTENSION pg_trgm$$);
SELECT count(*) AS extension_dependencies FROM pg_depend d
 WHERE d.classid = 'pg_trigger'::regclass AND d.deptype = 'x'
   AND d.objid IN (SELECT oid FROM seats.enforcement_trigger);
DROP EXTENSION pg_trgm;
SELECT count(*) AS enforcement_triggers FROM seats.enforcement_trigger WHERE relation = 'atk_reparent'::regclass;
SELECT try($$INSERT INTO atk_reparent VALUES ('atk-5c', 'broker', true)$$);
SELECT * FROM seats.revalidate('atk-5c');

-- 5g. ALTER COLUMN ... TYPE ... USING rewrites seat values without row
-- events: refused when the brokers it makes do not fit, accepted (and
-- recounted) when they do.
CREATE TABLE atk_retype (org_id text, role text, active boolean);
SELECT org FROM seats.onboard('atk-5g', 'atk', 3);
SELECT org FROM seats.onboard('atk-5g2', 'atk', 10);
SELECT seats.attach('atk_retype');
INSERT INTO atk_retype VALUES ('atk-5g', 'broker', true),
    ('atk-5g', 'broker', false), ('atk-5g', 'broker', false), ('atk-5g', 'broker', false),
    ('atk-5g', 'owner', true), ('atk-5g', 'owner', true), ('atk-5g', 'owner', true),
    ('atk-5g2', 'broker', true), ('atk-5g2', 'broker', true), ('atk-5g2', 'broker', true);
CREATE VIEW atk_5g AS SELECT org, seat_limit, seats_used FROM seats.usage WHERE org IN ('atk-5g', 'atk-5g2');
SELECT * FROM atk_5g ORDER BY org;
-- Every inactive broker made active (4/3), every active member made a
-- broker (4/3), every broker moved into atk-5g (4/3): refused.
SELECT try($$ALTER TABLE atk_retype ALTER COLUMN active TYPE boolean USING true$$);
SELECT try($$ALTER TABLE atk_retype ALTER COLUMN role TYPE text USING 'broker'$$);
SELECT try($$ALTER TABLE atk_retype ALTER COLUMN org_id TYPE text USING 'atk-5g'$$);
SELECT * FROM atk_5g ORDER BY org;
SELECT org_id, role, active, count(*) FROM atk_retype GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
-- Once they fit, the rewrite is accepted and recounted.
DELETE FROM atk_retype WHERE ctid IN (SELECT ctid FROM atk_retype WHERE org_id = 'atk-5g' AND NOT active LIMIT 2);
ALTER TABLE atk_retype ALTER COLUMN active TYPE boolean USING true;
SELECT * FROM atk_5g ORDER BY org;
SELECT r.* FROM seats.revalidate() r WHERE r.org IN ('atk-5g', 'atk-5g2') ORDER BY r.org;
-- A rewrite that frees seats always passes.
ALTER TABLE atk_retype ALTER COLUMN active TYPE boolean USING (org_id <> 'atk-5g2');
SELECT * FROM atk_5g ORDER BY org;
SELECT r.* FROM seats.revalidate() r WHERE r.org IN ('atk-5g', 'atk-5g2') ORDER BY r.org;
INSERT INTO atk_retype VALUES ('atk-5g', 'broker', true);
SELECT try($$INSERT INTO atk_retype VALUES ('atk-5g', 'broker', true)$$);

-- 5h. DROP SCHEMA ... CASCADE of a schema holding an attached table: the
-- attachment goes, its seats are freed, and the DBA's tools keep working.
CREATE SCHEMA atk_drop;
CREATE TABLE atk_drop.members (org_id text, role text, active boolean);
SELECT org FROM seats.onboard('atk-5h', 'atk', 3);
SELECT seats.attach('atk_drop.members');
INSERT INTO atk_drop.members VALUES ('atk-5h', 'broker', true), ('atk-5h', 'broker', true);
SELECT org, seat_limit, seats_used FROM seats.usage WHERE org = 'atk-5h';
SET client_min_messages = warning;
DROP SCHEMA atk_drop CASCADE;
RESET client_min_messages;
SELECT count(*) AS dangling FROM seats.attachment a WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = a.relid);
SELECT org, seat_limit, seats_used FROM seats.usage WHERE org = 'atk-5h';
SELECT r.* FROM seats.revalidate() r WHERE r.org IN ('atk-5h', 'atk-5a', 'atk-5g') ORDER BY r.org;
CREATE TABLE atk_after_drop (org_id text, role text, active boolean);
INSERT INTO atk_after_drop VALUES ('atk-5h', 'broker', true);
SELECT seats.attach('atk_after_drop');
SELECT org, seats_used FROM seats.onboard('atk-5h2', 'atk', 1);
SELECT org, seat_limit, seats_used FROM seats.usage WHERE org = 'atk-5h';
SELECT seats.detach('atk_after_drop');
SELECT org, seat_limit, seats_used FROM seats.usage WHERE org = 'atk-5h';

-- 5i. The same with DROP OWNED BY the role owning an attached table.
CREATE ROLE atk_dropper;
CREATE TABLE atk_owned (org_id text, role text, active boolean);
ALTER TABLE atk_owned OWNER TO atk_dropper;
SELECT org FROM seats.onboard('atk-5i', 'atk', 3);
SELECT seats.attach('atk_owned');
INSERT INTO atk_owned VALUES ('atk-5i', 'broker', true), ('atk-5i', 'broker', true);
SELECT org, seat_limit, seats_used FROM seats.usage WHERE org = 'atk-5i';
DROP OWNED BY atk_dropper;
DROP ROLE atk_dropper;
SELECT count(*) AS dangling FROM seats.attachment a WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = a.relid);
SELECT org, seat_limit, seats_used FROM seats.usage WHERE org = 'atk-5i';
SELECT * FROM seats.revalidate('atk-5i');
SELECT org, seats_used FROM seats.onboard('atk-5i2', 'atk', 1);
CREATE TABLE atk_after_owned (org_id text, role text, active boolean);
SELECT seats.attach('atk_after_owned');
SELECT seats.detach('atk_after_owned');

-- 5j. A TEMP table disappears with its session without DDL events: refused.
CREATE TEMP TABLE atk_temp (org_id text, role text, active boolean);
SELECT try($$SELECT seats.attach('atk_temp')$$);

-- 5k. The extension's own tables cannot be attached.
SELECT try($$SELECT seats.attach('seats.subscription', 'org', 'plan', 'frozen')$$);
SELECT try($$SELECT seats.attach('seats.change', 'org', 'kind', 'applied_at')$$);
SELECT try($$SELECT seats.attach('seats.subscription')$$);
SELECT count(*) AS attached FROM seats.attachment WHERE relid::text LIKE 'seats.%';

-- 5l. A second trigger of ours on an attached table (double counting) and
-- one on a table that is not attached: refused.
-- (Either of the two may be named as the duplicate: the name is masked.)
SELECT regexp_replace(try($$CREATE TRIGGER extra AFTER DELETE ON atk_reparent REFERENCING OLD TABLE AS o FOR EACH STATEMENT EXECUTE FUNCTION seats.member_change_trigger('org_id', 'role', 'active', 'broker')$$),
                      'trigger "[^"]+"', 'trigger "..."') AS try;
-- On a table that is not attached: refused too.
SELECT try($$CREATE TRIGGER extra AFTER INSERT ON atk_newparent REFERENCING NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION seats.member_change_trigger('org_id', 'role', 'active', 'broker')$$);
SELECT count(*) AS extra_triggers FROM pg_trigger WHERE tgname = 'extra';
DELETE FROM atk_reparent;
SELECT org, seat_limit, seats_used FROM seats.usage WHERE org = 'atk-5c';

-- 5o. CREATE OR REPLACE TRIGGER over an enforcement trigger: the table's
-- owner puts a function of its own in place of the insert trigger; a
-- superuser keeps the function but adds WHEN (false). Rolled back,
-- whatever happens.
BEGIN;
SET ROLE atk_owner;
CREATE FUNCTION atk_own.noop_trigger() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
-- Replacing an enforcement trigger (CREATE OR REPLACE TRIGGER, by its
-- current name) is refused before it runs: 55006, four triggers stay.
SELECT try($$CREATE OR REPLACE TRIGGER broker_seats_insert AFTER INSERT ON atk_own.members FOR EACH STATEMENT EXECUTE FUNCTION atk_own.noop_trigger()$$) LIKE '55006:%' AS refused;
SELECT try($$INSERT INTO atk_own.members (org_id, role) VALUES ('atk-2', 'broker'), ('atk-2', 'broker')$$) LIKE 'SB001:%' AS blocked;
RESET ROLE;
SELECT count(*) AS enforcement_triggers FROM seats.enforcement_trigger WHERE relation = 'atk_own.members'::regclass;
SELECT counted <= 2 AND NOT fixed AS exact_within_limit FROM seats.revalidate('atk-2');
-- Our function with the same arguments but a WHEN (false) condition would
-- never fire: refused with 55006.
SELECT try($$CREATE OR REPLACE TRIGGER x AFTER INSERT ON atk_reparent REFERENCING NEW TABLE AS broker_seats_new FOR EACH STATEMENT WHEN (false) EXECUTE FUNCTION seats.member_change_trigger('org_id', 'role', 'active', 'broker')$$) LIKE '55006:%' AS refused;
SELECT try($$INSERT INTO atk_reparent VALUES ('atk-5c', 'broker', true), ('atk-5c', 'broker', true)$$) LIKE 'SB001:%' AS blocked;
SELECT counted <= 1 AND NOT fixed AS exact_within_limit FROM seats.revalidate('atk-5c');
ROLLBACK;
SELECT count(*) AS enforcement_triggers FROM seats.enforcement_trigger WHERE relation = 'atk_own.members'::regclass;
SELECT org, seat_limit, seats_used FROM seats.usage WHERE org IN ('atk-2', 'atk-5c') ORDER BY org;

-- 5m. A partition or inheritance child attached on its own, under a parent
-- that is not attached, would be written around through the parent (and a
-- parent attached later would count its brokers twice): refused, attach
-- the root instead, which counts each broker once.
CREATE TABLE atk_pp (org_id text, role text, active boolean) PARTITION BY LIST (org_id);
CREATE TABLE atk_pp_1 PARTITION OF atk_pp FOR VALUES IN ('atk-5m');
CREATE TABLE atk_ip (org_id text, role text, active boolean);
CREATE TABLE atk_ip_child () INHERITS (atk_ip);
SELECT org FROM seats.onboard('atk-5m', 'atk', 2);
INSERT INTO atk_pp VALUES ('atk-5m', 'broker', true), ('atk-5m', 'broker', true);
SELECT try($$SELECT seats.attach('atk_pp_1')$$);
SELECT try($$SELECT seats.attach('atk_ip_child')$$);
SELECT org, seat_limit, seats_used FROM seats.usage WHERE org = 'atk-5m';
SELECT try($$SELECT seats.attach('atk_pp')$$);
SELECT org, seat_limit, seats_used FROM seats.usage WHERE org = 'atk-5m';
SELECT try($$INSERT INTO atk_pp VALUES ('atk-5m', 'broker', true)$$) LIKE 'SB001:%' AS blocked_through_parent;
SELECT try($$INSERT INTO atk_pp_1 VALUES ('atk-5m', 'broker', true)$$) LIKE 'SB001:%' AS blocked_in_partition;
SELECT * FROM seats.revalidate('atk-5m');
SELECT try($$CREATE TABLE atk_unrelated (x int)$$);
DROP TABLE atk_unrelated, atk_ip_child, atk_ip;

-- 5p. A row trigger created on a partitioned parent is cloned to each
-- partition and replaces a partition's trigger of the same name: renaming a
-- partition's enforcement trigger, then CREATE OR REPLACE TRIGGER of that
-- name FOR EACH ROW on the parent, is refused before it runs.
CREATE TABLE atk_pr (org_id text, role text, active boolean) PARTITION BY LIST (org_id);
CREATE TABLE atk_pr_1 PARTITION OF atk_pr FOR VALUES IN ('atk-5p');
SELECT org FROM seats.onboard('atk-5p', 'atk', 1);
SELECT seats.attach('atk_pr');
CREATE FUNCTION atk_pr_noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
ALTER TRIGGER broker_seats_insert ON atk_pr_1 RENAME TO hidden;
SELECT try($$CREATE OR REPLACE TRIGGER hidden AFTER INSERT ON atk_pr FOR EACH ROW EXECUTE FUNCTION atk_pr_noop()$$);
SELECT count(*) AS partition_enforcement_triggers FROM seats.enforcement_trigger WHERE relation = 'atk_pr_1'::regclass;
INSERT INTO atk_pr_1 VALUES ('atk-5p', 'broker', true);
SELECT try($$INSERT INTO atk_pr_1 VALUES ('atk-5p', 'broker', true)$$) LIKE 'SB001:%' AS blocked;
SELECT seats.detach('atk_pr');
DROP TABLE atk_pr;
DROP FUNCTION atk_pr_noop();

-- 5q. One statement that updates seats.subscription (a DBA's writable CTE)
-- and adds a broker: the counter write sees the same command's update.
CREATE TABLE atk_cte (org_id text, role text, active boolean);
SELECT org FROM seats.onboard('atk-5q', 'atk', 1);
SELECT seats.attach('atk_cte');
WITH raised AS (UPDATE seats.subscription SET seat_limit = 2 WHERE org = 'atk-5q' RETURNING org)
INSERT INTO atk_cte SELECT org, 'broker', true FROM raised;
SELECT seat_limit, seats_used FROM seats.usage WHERE org = 'atk-5q';
SELECT seats.detach('atk_cte');
DROP TABLE atk_cte;

------------------------------------------------------------------------------
-- 6. Onboarding one org counts its brokers only, through an index on a
-- bigint org column: 47, 470, 4 and the text key '047' never mix.
------------------------------------------------------------------------------
CREATE TABLE atk_big (id bigserial PRIMARY KEY, org_id bigint, role text, active boolean DEFAULT true);
CREATE INDEX atk_big_org ON atk_big (org_id);
INSERT INTO atk_big (org_id, role) VALUES (47, 'broker'), (47, 'broker'), (47, 'owner'),
    (470, 'broker'), (470, 'broker'), (470, 'broker'), (4, 'broker');
INSERT INTO atk_big (org_id, role, active) VALUES (47, 'broker', false);
SELECT seats.attach('atk_big');
CREATE TABLE atk_text_keys (org_id text, role text, active boolean DEFAULT true);
INSERT INTO atk_text_keys (org_id, role) VALUES ('047', 'broker'), ('47 ', 'broker'), ('+47', 'broker');
SELECT seats.attach('atk_text_keys');
SELECT org, seats_used FROM seats.onboard('47', 'atk', 5);
SELECT org, seats_used FROM seats.onboard('470', 'atk', 5);
SELECT org, seats_used FROM seats.onboard('047', 'atk', 5);
SELECT org, seats_used FROM seats.onboard('4', 'atk', 5);
SELECT org, seat_limit, seats_used FROM seats.usage WHERE org IN ('4', '47', '470', '047') ORDER BY org;
SELECT r.* FROM seats.revalidate() r WHERE r.org IN ('4', '47', '470', '047') ORDER BY r.org;
INSERT INTO atk_big (org_id, role) VALUES (47, 'broker'), (47, 'broker'), (47, 'broker');
SELECT try($$INSERT INTO atk_big (org_id, role) VALUES (47, 'broker')$$);
SELECT org, seat_limit, seats_used FROM seats.usage WHERE org IN ('4', '47', '470', '047') ORDER BY org;
SELECT r.* FROM seats.revalidate() r WHERE r.org IN ('4', '47', '470', '047') ORDER BY r.org;

------------------------------------------------------------------------------
-- Clean up the roles (their objects, attached tables among them, go too).
------------------------------------------------------------------------------
DROP CAST (atk_own.atk_role AS text);
SET client_min_messages = warning;
DROP OWNED BY atk_app;
DROP OWNED BY atk_owner;
RESET client_min_messages;
DROP ROLE atk_app;
DROP ROLE atk_owner;
SELECT count(*) AS dangling FROM seats.attachment a WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = a.relid);
SELECT org, seat_limit, seats_used FROM seats.usage WHERE org IN ('atk-1', 'atk-2', 'atk-2b') ORDER BY org;
RESET broker_seats.language;
