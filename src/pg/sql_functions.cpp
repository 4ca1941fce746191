// Small SQL-callable functions: the customer texts, the calendar, argument
// normalization, and the internal helpers the PL/pgSQL procedures build on.
#include <string>

#include "core/business_hours.hpp"
#include "core/calendar.hpp"
#include "core/currency.hpp"
#include "core/messages.hpp"
#include "core/text.hpp"
#include "pg/boundary.hpp"
#include "pg/module.hpp"
#include "pg/member_columns.hpp"
#include "pg/block_queue.hpp"
#include "pg/seat_count.hpp"
#include "pg/citus_shards.hpp"
#include "pg/seat_counter.hpp"
#include "pg/time_zone.hpp"

extern "C" {
#include "access/table.h"
#include "access/xact.h"
#include "mb/pg_wchar.h"
#include "executor/spi.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

namespace broker_seats::pg {
namespace {

// Argument access: NULL where a value is required is 22004, naming it.
text *required_text(FunctionCallInfo fcinfo, int arg, const char *name) {
  if (PG_ARGISNULL(arg))
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("%s must not be null", name)));
  return PG_GETARG_TEXT_PP(arg);
}

std::string_view view_of(text *t) { return std::string_view(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)); }

core::Date to_core_date(DateADT date, const char *name) {
  if (DATE_NOT_FINITE(date))
    ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE), errmsg("%s must be a finite date", name)));
  int y, m, d;
  j2date(date + POSTGRES_EPOCH_JDATE, &y, &m, &d);
  return core::Date{y, m, d};
}

DateADT to_pg_date(const core::Date &d) { return date2j(d.year, d.month, d.day) - POSTGRES_EPOCH_JDATE; }

DateADT required_date(FunctionCallInfo fcinfo, int arg, const char *name) {
  if (PG_ARGISNULL(arg))
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("%s must not be null", name)));
  return PG_GETARG_DATEADT(arg);
}

}  // namespace
}  // namespace broker_seats::pg

using namespace broker_seats;

// seats.customer_message(kind, org, lang DEFAULT NULL): runbook §10.
BROKER_SEATS_FUNCTION(seats_customer_message) {
  text *kind = pg::required_text(fcinfo, 0, "kind");
  // Resolve arguments to plain values before any C++ object is created.
  const std::string_view kind_view = pg::view_of(kind);
  text *lang = PG_ARGISNULL(2) ? nullptr : PG_GETARG_TEXT_PP(2);
  const core::Language language = lang ? core::parse_language(pg::view_of(lang)) : pg::customer_language();
  char out[1024];
  strlcpy(out, core::customer_message(kind_view, language).c_str(), sizeof out);
  PG_RETURN_TEXT_P(cstring_to_text(out));
}

// seats._customer_text(kind, lang, used, seat_limit, pending_limit,
// pending_on): the runbook §10 text in `lang` (NULL: broker_seats.language),
// filled with an organization's numbers when `used` is given.
BROKER_SEATS_FUNCTION(seats_customer_text) {
  text *kind = pg::required_text(fcinfo, 0, "kind");
  const std::string_view kind_view = pg::view_of(kind);
  text *lang = PG_ARGISNULL(1) ? nullptr : PG_GETARG_TEXT_PP(1);
  const core::Language language = lang ? core::parse_language(pg::view_of(lang)) : pg::customer_language();
  const bool filled = !PG_ARGISNULL(2) && !PG_ARGISNULL(3);
  core::OrgFacts facts;
  if (filled) {
    facts.used = PG_GETARG_INT32(2);
    facts.limit = PG_GETARG_INT32(3);
    if (!PG_ARGISNULL(4) && !PG_ARGISNULL(5)) {
      facts.has_pending_downgrade = true;
      facts.pending_limit = PG_GETARG_INT32(4);
      facts.pending_on = pg::to_core_date(PG_GETARG_DATEADT(5), "pending_on");
    }
  }
  char out[1024];
  strlcpy(out, (filled ? core::customer_message(kind_view, language, facts)
                       : core::customer_message(kind_view, language)).c_str(), sizeof out);
  PG_RETURN_TEXT_P(cstring_to_text(out));
}

// seats._language(name): the canonical name of a language, or 22023.
BROKER_SEATS_FUNCTION(seats_language_name) {
  const core::Language language = core::parse_language(pg::view_of(PG_GETARG_TEXT_PP(0)));
  PG_RETURN_TEXT_P(cstring_to_text(core::language_name(language)));
}

// seats._business_time(from_local, to_local, open, close, days): how much
// of [from, to) (local wall-clock timestamps) falls in business hours.
BROKER_SEATS_FUNCTION(seats_business_time) {
  core::LocalDateTime ends[2];
  for (int arg = 0; arg < 2; ++arg) {
    if (PG_ARGISNULL(arg))
      ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("%s must not be null", arg ? "to" : "from")));
    const Timestamp ts = PG_GETARG_TIMESTAMP(arg);
    if (TIMESTAMP_NOT_FINITE(ts))
      ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE), errmsg("business time needs finite timestamps")));
    const int64 days = ts >= 0 ? ts / USECS_PER_DAY : -((-ts + USECS_PER_DAY - 1) / USECS_PER_DAY);
    ends[arg].date = pg::to_core_date(static_cast<DateADT>(days), arg ? "to" : "from");
    ends[arg].micros = ts - days * USECS_PER_DAY;
  }
  if (PG_ARGISNULL(2) || PG_ARGISNULL(3) || PG_ARGISNULL(4))
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("business hours must not be null")));
  const TimeADT open = PG_GETARG_TIMEADT(2), close = PG_GETARG_TIMEADT(3);
  const std::string_view days = pg::view_of(PG_GETARG_TEXT_PP(4));
  const int64 micros = core::business_micros(ends[0], ends[1], core::make_business_hours(open, close, days));
  auto *result = static_cast<Interval *>(palloc0(sizeof(Interval)));
  result->time = micros;
  PG_RETURN_INTERVAL_P(result);
}

// seats.cycle_bounds(anchor, billing_period, at): the cycle containing `at`.
BROKER_SEATS_FUNCTION(seats_cycle_bounds) {
  const core::Date anchor = pg::to_core_date(pg::required_date(fcinfo, 0, "anchor"), "anchor");
  text *period_text = pg::required_text(fcinfo, 1, "billing_period");
  const core::Date at = pg::to_core_date(pg::required_date(fcinfo, 2, "at"), "at");
  const core::CycleBounds bounds = core::cycle_containing(anchor, core::parse_billing_period(pg::view_of(period_text)), at);

  InitMaterializedSRF(fcinfo, 0);
  auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
  Datum values[2] = {DateADTGetDatum(pg::to_pg_date(bounds.start)), DateADTGetDatum(pg::to_pg_date(bounds.end))};
  bool nulls[2] = {false, false};
  tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
  return (Datum)0;
}

// seats._cycle_boundary(anchor, billing_period, k): the k-th boundary.
BROKER_SEATS_FUNCTION(seats_cycle_boundary) {
  const core::Date anchor = pg::to_core_date(pg::required_date(fcinfo, 0, "anchor"), "anchor");
  text *period_text = pg::required_text(fcinfo, 1, "billing_period");
  const int64 k = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT64(2);
  const core::Date boundary = core::cycle_boundary(anchor, core::parse_billing_period(pg::view_of(period_text)), k);
  PG_RETURN_DATEADT(pg::to_pg_date(boundary));
}

// seats._currency(code): the upper-case ISO code, or 22023.
BROKER_SEATS_FUNCTION(seats_normalize_currency) {
  text *code = pg::required_text(fcinfo, 0, "currency");
  char normalized[8];
  {
    const core::Currency currency = core::parse_currency(pg::view_of(code));
    strlcpy(normalized, currency.code.c_str(), sizeof normalized);
  }
  PG_RETURN_TEXT_P(cstring_to_text(normalized));
}

// seats._billing_period(name): the name when valid, or 22023.
BROKER_SEATS_FUNCTION(seats_check_billing_period) {
  text *name = pg::required_text(fcinfo, 0, "billing_period");
  (void)core::parse_billing_period(pg::view_of(name));
  PG_RETURN_TEXT_P(name);
}

// seats._time_zone_known(name): PostgreSQL's own zone lookup (cached after
// the first load), not a scan of pg_timezone_names, which reads the whole
// zone directory on every call.
BROKER_SEATS_FUNCTION(seats_time_zone_known) {
  char canonical[TZ_STRLEN_MAX + 1];
  PG_RETURN_BOOL(pg::database_zone(text_to_cstring(pg::required_text(fcinfo, 0, "time_zone")), canonical) != nullptr);
}

// seats._check_time_zone(time_zone): the time zone database's spelling of
// the zone it names, or 22023 (pg::database_zone), or 22004.
BROKER_SEATS_FUNCTION(seats_check_time_zone) {
  char *name = text_to_cstring(pg::required_text(fcinfo, 0, "time_zone"));
  char canonical[TZ_STRLEN_MAX + 1];
  if (pg::database_zone(name, canonical) == nullptr) pg::unknown_time_zone(name);
  PG_RETURN_TEXT_P(cstring_to_text(canonical));
}

// seats._lock_org(org): the lock every writer of an org's seats takes.
BROKER_SEATS_FUNCTION(seats_lock_org) {
  text *org = pg::required_text(fcinfo, 0, "org");
  pg::lock_org(VARDATA_ANY(org), VARSIZE_ANY_EXHDR(org));
  PG_RETURN_VOID();
}

// seats._lock_orgs(orgs text[]): the org locks for a set of organizations,
// in the one order every writer uses (byte order), escalating to the
// all-organizations lock when there are too many.
BROKER_SEATS_FUNCTION(seats_lock_orgs) {
  if (PG_ARGISNULL(0)) PG_RETURN_VOID();
  ArrayType *array = PG_GETARG_ARRAYTYPE_P(0);
  Datum *elems;
  bool *nulls;
  int n;
  deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
  auto *changes = static_cast<core::SeatChange *>(palloc(sizeof(core::SeatChange) * (n + 1)));
  int kept = 0;
  for (int i = 0; i < n; ++i) {
    if (nulls[i]) continue;
    // One "seat" each: net_deltas then gives the distinct orgs, sorted.
    changes[kept++] = core::SeatChange{pg::view_of(DatumGetTextPP(elems[i])), 1};
  }
  auto *orgs = static_cast<core::OrgDelta *>(palloc(sizeof(core::OrgDelta) * (kept + 1)));
  const size_t distinct = core::net_deltas(changes, static_cast<size_t>(kept), orgs);
  pg::reserve_org_locks(orgs, distinct);
  for (size_t i = 0; i < distinct; ++i) pg::lock_org(orgs[i].org.data(), static_cast<int>(orgs[i].org.size()));
  PG_RETURN_VOID();
}

// seats._invoker(): the role the session acts as (SET ROLE, else the
// session user), which a SECURITY DEFINER function does not change: who
// called seats.attach, for its permission check.
BROKER_SEATS_FUNCTION(seats_invoker) { PG_RETURN_OID(GetOuterUserId()); }

// seats._lock_chain(org): the lock of an org's audit chain.
BROKER_SEATS_FUNCTION(seats_lock_chain) {
  text *org = pg::required_text(fcinfo, 0, "org");
  pg::lock_chain(VARDATA_ANY(org), static_cast<int>(VARSIZE_ANY_EXHDR(org)));
  PG_RETURN_VOID();
}

// seats._check_not_frozen_now(org): SB003 on the latest committed state.
BROKER_SEATS_FUNCTION(seats_check_not_frozen) {
  text *org = pg::required_text(fcinfo, 0, "org");
  pg::check_not_frozen(VARDATA_ANY(org), static_cast<int>(VARSIZE_ANY_EXHDR(org)));
  PG_RETURN_VOID();
}

// seats._chain_head(org) -> (id, hash): the chain's last event (latest
// snapshot), NULLs when it has none, in one read. A new event takes an id
// above it (seats._log_event): under Citus an org's events may come from
// the sequences of several nodes (its shard moved), and the chain's order
// is its ids' order.
BROKER_SEATS_FUNCTION(seats_chain_head) {
  text *org = pg::required_text(fcinfo, 0, "org");
  int64 id = 0;
  bytea *head = pg::chain_head(VARDATA_ANY(org), static_cast<int>(VARSIZE_ANY_EXHDR(org)), &id);
  TupleDesc desc;
  if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
    elog(ERROR, "seats._chain_head must return a composite");
  desc = BlessTupleDesc(desc);
  Datum values[2] = {Int64GetDatum(id), PointerGetDatum(head)};
  bool nulls[2] = {id == 0, head == nullptr};
  return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

// seats._distributed(): does Citus distribute seats.subscription here?
BROKER_SEATS_FUNCTION(seats_distributed) { PG_RETURN_BOOL(pg::subscription_is_distributed()); }

// seats._is_citus_table(tbl): does Citus distribute or replicate it?
BROKER_SEATS_FUNCTION(seats_is_citus_table) {
  if (PG_ARGISNULL(0)) ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("tbl must not be null")));
  PG_RETURN_BOOL(pg::is_citus_table(PG_GETARG_OID(0)));
}

// seats._rows_of(tbl, org): the relation holding org's rows of tbl here.
BROKER_SEATS_FUNCTION(seats_rows_of) {
  if (PG_ARGISNULL(0)) ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("tbl must not be null")));
  text *org = PG_ARGISNULL(1) ? nullptr : PG_GETARG_TEXT_PP(1);
  PG_RETURN_OID(pg::local_rows(PG_GETARG_OID(0), org ? VARDATA_ANY(org) : nullptr,
                               org ? static_cast<int>(VARSIZE_ANY_EXHDR(org)) : 0));
}

// seats._org_here(org): are the org's rows (its seats.subscription shard)
// on this node? Always true on a single node.
BROKER_SEATS_FUNCTION(seats_org_here) {
  text *org = pg::required_text(fcinfo, 0, "org");
  PG_RETURN_BOOL(pg::org_is_here(VARDATA_ANY(org), static_cast<int>(VARSIZE_ANY_EXHDR(org))));
}

// seats._lock_all_orgs(): the all-organizations lock (ExclusiveLock on
// seats.subscription), for recounts over every subscription.
BROKER_SEATS_FUNCTION(seats_lock_all_orgs) {
  pg::lock_all_orgs();
  PG_RETURN_VOID();
}

namespace broker_seats::pg {
namespace {

// The seat roles of a text[] argument, as C strings.
int seat_roles_of(FunctionCallInfo fcinfo, int arg, char ***out) {
  if (PG_ARGISNULL(arg))
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("seat_roles must not be null")));
  Datum *elems;
  bool *nulls;
  int n;
  deconstruct_array(PG_GETARG_ARRAYTYPE_P(arg), TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
  if (n == 0)
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("seat_roles must name at least one role")));
  *out = static_cast<char **>(palloc(sizeof(char *) * n));
  for (int i = 0; i < n; ++i) {
    if (nulls[i])
      ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("seat_roles must not contain NULL")));
    (*out)[i] = TextDatumGetCString(elems[i]);
  }
  return n;
}

const char *required_name(FunctionCallInfo fcinfo, int arg, const char *what) {
  if (PG_ARGISNULL(arg))
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("%s must not be null", what)));
  return NameStr(*PG_GETARG_NAME(arg));
}

// Arguments (rel, org_column, role_column, active_column, seat_roles)
// resolved. Under Citus the relation read `to_count` is the member table's
// shard of organization `org` on this node (0A000 on another node, or for
// all organizations at once: its rows are spread over the workers).
Relation open_member_table(FunctionCallInfo fcinfo, MemberColumns *cols, bool to_count = false,
                           const text *org = nullptr) {
  if (PG_ARGISNULL(0))
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("member_table must not be null")));
  const char *org_column = required_name(fcinfo, 1, "org_column");
  const char *role_column = required_name(fcinfo, 2, "role_column");
  const char *active_column = required_name(fcinfo, 3, "active_column");
  char **roles;
  const int role_count = seat_roles_of(fcinfo, 4, &roles);
  Oid relid = PG_GETARG_OID(0);
  if (to_count && is_citus_table(relid)) {
    if (org == nullptr)
      ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                      errmsg("cannot count the seats of every organization of %s at once", get_rel_name(relid)),
                      errdetail("Citus distributes it: its rows are on the workers."),
                      errhint("Count one organization at a time, on the worker that holds it.")));
    relid = local_rows(relid, VARDATA_ANY(org), static_cast<int>(VARSIZE_ANY_EXHDR(org)));
  }
  Relation rel = table_open(relid, AccessShareLock);
  resolve_member_columns(rel, org_column, role_column, active_column, roles, role_count, CurrentMemoryContext, cols);
  return rel;
}

}  // namespace
}  // namespace broker_seats::pg

// seats._check_member_columns(rel, org_column, role_column, active_column,
// seat_roles): checks a mapping by the trigger's own rules (42703, 42804,
// 22023) and returns the active column's kind, 'boolean' or 'timestamp'.
BROKER_SEATS_FUNCTION(seats_check_member_columns) {
  pg::MemberColumns cols;
  Relation rel = pg::open_member_table(fcinfo, &cols);
  table_close(rel, AccessShareLock);
  PG_RETURN_TEXT_P(cstring_to_text(cols.active_kind == pg::ActiveKind::boolean_true ? "boolean" : "timestamp"));
}

// seats._relation_seats(rel, org_column, role_column, active_column,
// seat_roles, org DEFAULT NULL, statement_snapshot DEFAULT false): seats
// per organization in that relation alone (not its children), read with the
// latest snapshot (or the statement's), by the change trigger's rules; for
// one org through an index on the org column.
BROKER_SEATS_FUNCTION(seats_relation_seats) {
  pg::MemberColumns cols;
  text *org = PG_ARGISNULL(5) ? nullptr : PG_GETARG_TEXT_PP(5);
  Relation rel = pg::open_member_table(fcinfo, &cols, true, org);
  const bool statement_snapshot = PG_NARGS() > 6 && !PG_ARGISNULL(6) && PG_GETARG_BOOL(6);
  const std::string_view org_view = org ? pg::view_of(org) : std::string_view();
  InitMaterializedSRF(fcinfo, 0);
  auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
  HTAB *counts = pg::create_seat_counts(CurrentMemoryContext);
  pg::count_relation_seats(rel, cols, org ? &org_view : nullptr, counts, statement_snapshot);
  table_close(rel, AccessShareLock);
  HASH_SEQ_STATUS scan;
  hash_seq_init(&scan, counts);
  while (auto *entry = static_cast<pg::OrgCount *>(hash_seq_search(&scan))) {
    Datum values[2] = {CStringGetTextDatum(entry->org), Int64GetDatum(entry->count)};
    bool nulls[2] = {false, false};
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
  }
  return (Datum)0;
}

// seats._seat_counts(query) of 1.0: its SQL functions (onboard, revalidate,
// attach) recount with a query given as text. The library keeps the entry
// point only so that a 1.0 schema keeps working until ALTER EXTENSION
// broker_seats UPDATE, which drops it (1.1 recounts in C, seat_count.hpp).
BROKER_SEATS_FUNCTION(seats_seat_counts) {
  char *query = text_to_cstring(pg::required_text(fcinfo, 0, "query"));
  InitMaterializedSRF(fcinfo, 0);
  auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
  SPIPlanPtr plan = SPI_prepare(query, 0, nullptr);
  if (plan == nullptr) elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
  const int rc = SPI_execute_snapshot(plan, nullptr, nullptr, GetLatestSnapshot(), InvalidSnapshot, true, false, 0);
  if (rc != SPI_OK_SELECT) elog(ERROR, "recount query failed: %s", SPI_result_code_string(rc));
  for (uint64 i = 0; i < SPI_processed; ++i) {
    Datum values[2];
    bool nulls[2];
    values[0] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &nulls[0]);
    values[1] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &nulls[1]);
    // The tuplestore copies the values into its own context.
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
  }
  SPI_finish();
  return (Datum)0;
}


// seats._block_recording(): the block queue's counters.
BROKER_SEATS_FUNCTION(seats_block_recording) {
  const pg::BlockQueueStats stats = pg::block_queue_stats();
  InitMaterializedSRF(fcinfo, 0);
  auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
  Datum values[5] = {BoolGetDatum(stats.enabled), Int64GetDatum(static_cast<int64>(stats.queued)),
                     Int64GetDatum(static_cast<int64>(stats.dropped)), Int64GetDatum(static_cast<int64>(stats.recorded)),
                     Int64GetDatum(static_cast<int64>(stats.capacity))};
  bool nulls[5] = {false, false, false, false, false};
  tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
  return (Datum)0;
}

// seats._require(value, name): value, or 22004 naming the argument. In C
// so that the first call of any API function loads the library, whose
// error hook keeps internal CONTEXT lines from the caller (error_context.cpp).
BROKER_SEATS_FUNCTION(seats_require) {
  if (PG_ARGISNULL(0)) {
    text *name = pg::required_text(fcinfo, 1, "name");
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("%s must not be null", text_to_cstring(name))));
  }
  PG_RETURN_DATUM(PG_GETARG_DATUM(0));
}

// seats._blank(value): whether the text says nothing (core::is_blank); in
// a database whose encoding is not UTF-8, only ASCII white space is blank.
BROKER_SEATS_FUNCTION(seats_blank) {
  text *value = PG_GETARG_TEXT_PP(0);
  const std::string_view bytes = pg::view_of(value);
  if (GetDatabaseEncoding() != PG_UTF8)
    for (const char c : bytes)
      if (static_cast<unsigned char>(c) >= 0x80) PG_RETURN_BOOL(false);
  PG_RETURN_BOOL(core::is_blank(bytes));
}

// seats._notice(message, detail, hint): a NOTICE of the extension's own,
// with no CONTEXT. NOTICEs below log_min_messages never reach emit_log_hook,
// so the error hook cannot trim them: this leaves the frames out instead.
BROKER_SEATS_FUNCTION(seats_notice) {
  text *message = pg::required_text(fcinfo, 0, "message");
  const char *detail = PG_ARGISNULL(1) ? nullptr : text_to_cstring(PG_GETARG_TEXT_PP(1));
  const char *hint = PG_ARGISNULL(2) ? nullptr : text_to_cstring(PG_GETARG_TEXT_PP(2));
  ErrorContextCallback *frames = error_context_stack;
  error_context_stack = nullptr;  // a NOTICE returns: restored below
  ereport(NOTICE, (errmsg_internal("%s", text_to_cstring(message)), detail ? errdetail_internal("%s", detail) : 0,
                   hint ? errhint("%s", hint) : 0));
  error_context_stack = frames;
  PG_RETURN_VOID();
}

// seats._loaded(): nothing. Calling it loads the library, and with it the
// error hook that keeps the extension's own frames out of what the caller
// raises next (src/pg/error_context.cpp): for PL/pgSQL functions that can
// raise before they call anything else in C.
BROKER_SEATS_FUNCTION(seats_loaded) { PG_RETURN_VOID(); }

// seats._can_commit(): whether the procedure whose expression calls this
// may COMMIT: called at top level (or from a top-level DO block), not
// inside BEGIN ... COMMIT, a subtransaction, or a function (an atomic
// context, where COMMIT raises 2D000). It must be called from the
// procedure's own body, so that SPI's current connection is the
// procedure's: a PL/pgSQL function in between is always atomic.
BROKER_SEATS_FUNCTION(seats_can_commit) {
  PG_RETURN_BOOL(!IsTransactionBlock() && SPI_inside_nonatomic_context());
}

// seats._internal_ddl(): true while seats.attach/detach change triggers, so
// the DDL guard lets our own trigger DDL through. The setting is SUSET.
BROKER_SEATS_FUNCTION(seats_internal_ddl) { PG_RETURN_BOOL(pg::internal_ddl()); }

// seats._boundary_selftest(kind): raises each kind of failure the boundary
// handles, for the regression suite and for a DBA checking an install.
BROKER_SEATS_FUNCTION(seats_boundary_selftest) {
  text *kind_text = pg::required_text(fcinfo, 0, "kind");
  char *kind = text_to_cstring(kind_text);
  if (strcmp(kind, "core") == 0) throw core::Error(core::ErrorCode::invalid_argument, "core error reached SQL", "detail kept", "hint kept");
  if (strcmp(kind, "bad_alloc") == 0) throw std::bad_alloc();
  if (strcmp(kind, "std") == 0) throw std::logic_error("std::logic_error reached SQL");
  if (strcmp(kind, "postgres") == 0) {
    // A PostgreSQL error raised while C++ objects are alive comes back
    // through pg_call as a C++ exception and leaves with its own SQLSTATE.
    const std::string alive("a C++ object alive across a PostgreSQL error");
    pg::pg_call([] { (void)DirectFunctionCall2(int4div, Int32GetDatum(1), Int32GetDatum(0)); });
    PG_RETURN_TEXT_P(cstring_to_text(alive.c_str()));
  }
  if (strcmp(kind, "throw_in_pg_call") == 0) {
    // A C++ exception thrown inside pg_call's PG_TRY leaves it with the
    // error stack restored: the next PostgreSQL error must still be caught
    // by the right handler (the regression test raises one right after).
    pg::pg_call([] { throw core::Error(core::ErrorCode::invalid_argument, "C++ exception inside pg_call reached SQL"); });
  }
  PG_RETURN_TEXT_P(cstring_to_text("ok"));
}
