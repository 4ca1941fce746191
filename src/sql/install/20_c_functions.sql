------------------------------------------------------------------------------
-- C functions
------------------------------------------------------------------------------

CREATE FUNCTION seats.member_change_trigger() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'member_change_trigger';
CREATE FUNCTION seats.member_truncate_trigger() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'member_truncate_trigger';

-- The runbook §10 text (kind, lang; NULL: broker_seats.language), filled
-- with an organization's numbers when used and seat_limit are given.
CREATE FUNCTION seats._customer_text(kind text, lang text, used int, seat_limit int,
                                     pending_limit int, pending_on date) RETURNS text
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'seats_customer_text';
-- The canonical name of a language (pt_BR, en; also pt-BR, pt), or 22023.
CREATE FUNCTION seats._language(name text) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'seats_language_name';
-- Business time between two local wall-clock timestamps (core/business_hours.hpp).
CREATE FUNCTION seats._business_time(from_local timestamp, to_local timestamp, open time, close time, days text)
    RETURNS interval LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'seats_business_time';

CREATE FUNCTION seats.cycle_bounds(anchor date, billing_period text, at date)
    RETURNS TABLE (cycle_start date, cycle_end date)
    LANGUAGE c IMMUTABLE PARALLEL SAFE ROWS 1 AS 'MODULE_PATHNAME', 'seats_cycle_bounds';
COMMENT ON FUNCTION seats.cycle_bounds(date, text, date) IS
    'The billing cycle [cycle_start, cycle_end) containing "at": boundaries are anchor + k periods, day clamped';

CREATE FUNCTION seats.prorate(seat_delta int, seat_price numeric, cycle_start timestamptz,
                              cycle_end timestamptz, at timestamptz, granularity text DEFAULT 'day',
                              time_zone text DEFAULT 'America/Sao_Paulo', currency text DEFAULT 'BRL')
    RETURNS numeric
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'seats_prorate';
COMMENT ON FUNCTION seats.prorate(int, numeric, timestamptz, timestamptz, timestamptz, text, text, text) IS
    'delta x price x remaining / total, exact, rounded once half away from zero to the currency''s minor unit';

CREATE TYPE seats.proration AS (amount numeric, units_remaining int, units_in_cycle int);
CREATE FUNCTION seats._proration(seat_delta int, seat_price numeric, cycle_start timestamptz,
                                 cycle_end timestamptz, at timestamptz, granularity text,
                                 time_zone text, currency text)
    RETURNS seats.proration
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'seats_proration';

CREATE FUNCTION seats._cycle_boundary(anchor date, billing_period text, k bigint) RETURNS date
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'seats_cycle_boundary';
CREATE FUNCTION seats._currency(code text) RETURNS text
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'seats_normalize_currency';
CREATE FUNCTION seats._billing_period(name text) RETURNS text
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'seats_check_billing_period';
-- A subscription's time zone: the time zone database's spelling of the
-- zone it names (in any case), else 22023: POSIX strings such as '+03'
-- (UTC-3 to PostgreSQL) and the database's non-zones (localtime,
-- posixrules, Factory) name none. (1.0's seats._time_zone_known(text) is
-- gone; its C symbol stays for a 1.0 schema.)
CREATE FUNCTION seats._check_time_zone(p_time_zone text) RETURNS text
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'seats_check_time_zone';
CREATE FUNCTION seats._lock_org(org text) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'seats_lock_org';
CREATE FUNCTION seats._lock_orgs(orgs text[]) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'seats_lock_orgs';
CREATE FUNCTION seats._invoker() RETURNS oid
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'seats_invoker';
CREATE FUNCTION seats._lock_chain(org text) RETURNS void
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'seats_lock_chain';
CREATE FUNCTION seats._lock_chains(orgs text[]) RETURNS void
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
CREATE FUNCTION seats._check_not_frozen_now(org text) RETURNS void
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'seats_check_not_frozen';
CREATE FUNCTION seats._chain_head(org text, OUT id bigint, OUT hash bytea)
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'seats_chain_head';
-- Citus (docs/citus.md): is seats.subscription distributed, and are an
-- org's rows on this node?
CREATE FUNCTION seats._distributed() RETURNS boolean
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'seats_distributed';
CREATE FUNCTION seats._org_here(org text) RETURNS boolean
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'seats_org_here';
-- The relation holding the org's rows of a seats table here: the table, or
-- its Citus shard on this node (org NULL: of a reference table); 0A000 on
-- another node.
CREATE FUNCTION seats._is_citus_table(tbl regclass) RETURNS boolean
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'seats_is_citus_table';
CREATE FUNCTION seats._rows_of(tbl regclass, org text) RETURNS regclass
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'seats_rows_of';
CREATE FUNCTION seats._lock_all_orgs() RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'seats_lock_all_orgs';
-- The recount of one relation (not its children), in C by the change
-- trigger's own column rules; see src/pg/seat_count.hpp.
CREATE FUNCTION seats._relation_seats(member_table regclass, org_column name, role_column name,
                                      active_column name, seat_roles text[], org text DEFAULT NULL,
                                      statement_snapshot boolean DEFAULT false)
    RETURNS TABLE (org text, counted bigint)
    LANGUAGE c VOLATILE ROWS 100 AS 'MODULE_PATHNAME', 'seats_relation_seats';
CREATE FUNCTION seats._check_member_columns(member_table regclass, org_column name, role_column name,
                                            active_column name, seat_roles text[])
    RETURNS text LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'seats_check_member_columns';
CREATE FUNCTION seats._ddl_start_guard() RETURNS event_trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'seats_ddl_start_guard';
-- A required argument: the value, or 22004 naming it. In C, so that the
-- first API call of a session loads the library (and its error hook).
CREATE FUNCTION seats._require(p_value anyelement, p_name text) RETURNS anyelement
    LANGUAGE c IMMUTABLE AS 'MODULE_PATHNAME', 'seats_require';

-- A NOTICE of the extension's own, without the CONTEXT of its frames.
CREATE FUNCTION seats._notice(p_message text, p_detail text DEFAULT NULL, p_hint text DEFAULT NULL) RETURNS void
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'seats_notice';

-- The price, when the billing core can bill it (at most 6 decimal places,
-- at most 10^15 without the point, not negative); else 22023.
CREATE FUNCTION seats._check_price(p_price numeric) RETURNS numeric
    LANGUAGE c IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'seats_check_price';

-- Whether a text says nothing: empty, or only white space and invisible
-- format characters (core::is_blank). Reasons, impacts, request keys, role
-- names and plan codes must say something.
CREATE FUNCTION seats._blank(p_value text) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'seats_blank';

-- Loads the library (and its error hook) in a session that has not called
-- any C function yet: the first statement of PL/pgSQL functions that may
-- raise before anything else of theirs is C.
CREATE FUNCTION seats._loaded() RETURNS void
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'seats_loaded';

CREATE FUNCTION seats._can_commit() RETURNS boolean
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'seats_can_commit';
CREATE FUNCTION seats._internal_ddl() RETURNS boolean
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'seats_internal_ddl';
CREATE FUNCTION seats._boundary_selftest(kind text) RETURNS text
    LANGUAGE c AS 'MODULE_PATHNAME', 'seats_boundary_selftest';
COMMENT ON FUNCTION seats._boundary_selftest(text) IS
    'Raises each failure kind the C++ boundary handles: core, bad_alloc, std, postgres';

