// Enforcement on attached member tables.
//
// seats.attach() installs, on the table and on each of its partitions,
// AFTER ... FOR EACH STATEMENT triggers with transition tables for INSERT,
// UPDATE and DELETE, and a BEFORE TRUNCATE trigger. Statement level with
// transition tables gives, for every write path (plain DML, ON CONFLICT,
// MERGE, COPY, routing into partitions), the rows as finally stored, after
// any BEFORE trigger rewrote them, once per statement. So each statement
// locks each organization it touches once, counts in memory and writes the
// counter once: linear in the rows touched, O(1) in the org's size.
//
// The work runs in three phases so that no C++ object with a destructor is
// ever alive across a PostgreSQL call that can raise an ERROR:
//   1. read the transition tables (PostgreSQL calls, plain C data);
//   2. net the seat changes per organization (pure C++ core);
//   3. lock, check and write each organization's counter.
#include "core/seat_rules.hpp"
#include "pg/boundary.hpp"
#include "pg/member_columns.hpp"
#include "pg/seat_counter.hpp"

extern "C" {
#include "access/tupdesc.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/snapmgr.h"
}

namespace broker_seats::pg {
namespace {

// Phase 1 output: one seat held before (-1) or after (+1) the statement.
struct CollectedChanges {
  core::SeatChange *items;
  size_t count;
};

// The text of the last org key converted: the rows of one statement mostly
// share a few orgs (a bulk load: one), so the output function runs once per
// run of equal keys, not once per row.
struct OrgTextCache {
  Datum key;
  bool valid;
  std::string_view text;
};

std::string_view org_text(const MemberColumns &cols, Datum org, OrgTextCache &cache) {
  if (cache.valid && datumIsEqual(cache.key, org, cols.org_byval, cols.org_len)) return cache.text;
  const char *converted = cols.org_is_text ? text_to_cstring(DatumGetTextPP(org))
                                           : OutputFunctionCall(const_cast<FmgrInfo *>(&cols.org_output), org);
  // The slot's datum dies with the next row: keep a copy of the key.
  cache.key = datumCopy(org, cols.org_byval, cols.org_len);
  cache.valid = true;
  cache.text = std::string_view(converted, strlen(converted));
  return cache.text;
}

// Reads the seat-relevant columns of the row in `slot`; the org's text only
// when the row consumes a seat.
core::MemberSeat read_member(const MemberColumns &cols, TupleTableSlot *slot, OrgTextCache &orgs) {
  core::MemberSeat seat;
  bool isnull;
  Datum active = slot_getattr(slot, cols.active_att, &isnull);
  seat.active = cols.active_kind == ActiveKind::boolean_true ? (!isnull && DatumGetBool(active)) : isnull;
  if (!seat.active) return seat;
  Datum role = slot_getattr(slot, cols.role_att, &isnull);
  seat.seat_role = !isnull && is_seat_role(cols, role);
  if (!seat.seat_role) return seat;
  Datum org = slot_getattr(slot, cols.org_att, &isnull);
  if (!isnull) seat.org = org_text(cols, org, orgs);
  return seat;
}

// Appends one seat change, merged into the previous one when it is for the
// same org (so a bulk statement on one org nets in O(rows), not O(rows log rows)).
void push(CollectedChanges *out, std::string_view org, int sign) {
  if (out->count > 0 && out->items[out->count - 1].org == org) {
    out->items[out->count - 1].sign += sign;
    return;
  }
  out->items[out->count++] = core::SeatChange{org, sign};
}

// Records what the row's transition (old -> new; a missing side is an
// INSERT or a DELETE) does to seats, by the core's rules.
void collect(const std::optional<core::MemberSeat> &before, const std::optional<core::MemberSeat> &after,
             CollectedChanges *out) {
  const core::Transition t = core::classify(before, after);
  if (t.kind == core::TransitionKind::release || t.kind == core::TransitionKind::move) push(out, t.from, -1);
  if (t.kind == core::TransitionKind::acquire || t.kind == core::TransitionKind::move) push(out, t.to, +1);
}

bool same_column(TupleTableSlot *a, TupleTableSlot *b, AttrNumber att, bool byval, int16 len) {
  bool a_null, b_null;
  Datum da = slot_getattr(a, att, &a_null);
  Datum db = slot_getattr(b, att, &b_null);
  if (a_null || b_null) return a_null == b_null;
  return datumIsEqual(da, db, byval, len);
}

// An UPDATE that leaves org, role and active as they were cannot move a seat:
// such pairs cancel out exactly, so skipping them never changes the result.
bool same_seat_columns(const MemberColumns &cols, TupleTableSlot *before, TupleTableSlot *after) {
  return same_column(before, after, cols.active_att, cols.active_byval, cols.active_len) &&
         same_column(before, after, cols.role_att, cols.role_byval, cols.role_len) &&
         same_column(before, after, cols.org_att, cols.org_byval, cols.org_len);
}

// Transition tuplestores may be read by other triggers too: read through a
// read pointer of our own, from the start.
void start_reading(Tuplestorestate *store) {
  const int pointer = tuplestore_alloc_read_pointer(store, 0);
  tuplestore_select_read_pointer(store, pointer);
  tuplestore_rescan(store);
}

CollectedChanges collect_changes(const TriggerData *trigdata, const MemberColumns &cols) {
  Tuplestorestate *olds = trigdata->tg_oldtable;
  Tuplestorestate *news = trigdata->tg_newtable;
  const int64 old_count = olds ? tuplestore_tuple_count(olds) : 0;
  const int64 new_count = news ? tuplestore_tuple_count(news) : 0;
  CollectedChanges out{nullptr, 0};
  if (old_count + new_count == 0) return out;
  out.items = static_cast<core::SeatChange *>(
      palloc_extended(sizeof(core::SeatChange) * (old_count + new_count), MCXT_ALLOC_HUGE));

  TupleDesc desc = RelationGetDescr(trigdata->tg_relation);
  TupleTableSlot *old_slot = olds ? MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple) : nullptr;
  TupleTableSlot *new_slot = news ? MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple) : nullptr;
  if (olds) start_reading(olds);
  if (news) start_reading(news);
  OrgTextCache old_orgs{0, false, {}}, new_orgs{0, false, {}};
  // Old and new rows of an UPDATE are captured pairwise, in step. Were a
  // pair ever not the same row, the per-org sums would still be exact: each
  // side counts its own seats.
  bool have_old = olds && tuplestore_gettupleslot(olds, true, false, old_slot);
  bool have_new = news && tuplestore_gettupleslot(news, true, false, new_slot);
  while (have_old || have_new) {
    if (!(have_old && have_new && same_seat_columns(cols, old_slot, new_slot))) {
      std::optional<core::MemberSeat> before, after;
      if (have_old) before = read_member(cols, old_slot, old_orgs);
      if (have_new) after = read_member(cols, new_slot, new_orgs);
      collect(before, after, &out);
    }
    if (have_old) have_old = tuplestore_gettupleslot(olds, true, false, old_slot);
    if (have_new) have_new = tuplestore_gettupleslot(news, true, false, new_slot);
  }
  if (old_slot) ExecDropSingleTupleTableSlot(old_slot);
  if (new_slot) ExecDropSingleTupleTableSlot(new_slot);
  return out;
}

void check_protocol(FunctionCallInfo fcinfo, const char *name) {
  if (!CALLED_AS_TRIGGER(fcinfo))
    ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                    errmsg("%s: not called by the trigger manager", name)));
  const auto *trigdata = reinterpret_cast<TriggerData *>(fcinfo->context);
  if (!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
    ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                    errmsg("%s: must be fired for each statement", name),
                    errhint("Install it with seats.attach().")));
}

}  // namespace
}  // namespace broker_seats::pg

using namespace broker_seats;

BROKER_SEATS_FUNCTION(member_change_trigger) {
  pg::check_protocol(fcinfo, "member_change_trigger");
  const auto *trigdata = reinterpret_cast<TriggerData *>(fcinfo->context);
  const TriggerEvent event = trigdata->tg_event;
  if (!TRIGGER_FIRED_AFTER(event) || TRIGGER_FIRED_BY_TRUNCATE(event))
    ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                    errmsg("member_change_trigger: must be fired AFTER INSERT, UPDATE or DELETE")));
  const bool wants_old = TRIGGER_FIRED_BY_UPDATE(event) || TRIGGER_FIRED_BY_DELETE(event);
  const bool wants_new = TRIGGER_FIRED_BY_UPDATE(event) || TRIGGER_FIRED_BY_INSERT(event);
  if ((wants_old && trigdata->tg_oldtable == nullptr) || (wants_new && trigdata->tg_newtable == nullptr))
    ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                    errmsg("member_change_trigger: transition tables are missing"),
                    errhint("Install it with seats.attach().")));

  // Phase 1: PostgreSQL reads into plain arrays.
  const pg::MemberColumns &cols = pg::member_columns(trigdata);
  const pg::CollectedChanges changes = pg::collect_changes(trigdata, cols);
  if (changes.count == 0) return PointerGetDatum(nullptr);

  // Phase 2: the core nets the changes; its temporaries die in this scope.
  auto *deltas = static_cast<core::OrgDelta *>(
      palloc_extended(sizeof(core::OrgDelta) * changes.count, MCXT_ALLOC_HUGE));
  const size_t orgs = core::net_deltas(changes.items, changes.count, deltas);
  if (orgs == 0) return PointerGetDatum(nullptr);

  // Phase 3: each organization locked, checked and written once, in org order.
  // No rights to switch: the counter path runs no SQL, so nothing checks them.
  for (size_t i = 0; i < orgs; ++i) pg::apply_seat_delta(deltas[i].org.data(), deltas[i].delta);
  return PointerGetDatum(nullptr);
}

// TRUNCATE empties a table without row events: before it runs, count the
// seats each organization holds in this table and give them back. Installed
// on every partition too, where the rows are; on a partitioned parent it does
// nothing, since TRUNCATE fires the trigger of each truncated partition.
BROKER_SEATS_FUNCTION(member_truncate_trigger) {
  pg::check_protocol(fcinfo, "member_truncate_trigger");
  const auto *trigdata = reinterpret_cast<TriggerData *>(fcinfo->context);
  if (!TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event))
    ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                    errmsg("member_truncate_trigger: must be fired BEFORE TRUNCATE")));
  Relation rel = trigdata->tg_relation;
  if (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE) return PointerGetDatum(nullptr);
  const Trigger *trigger = trigdata->tg_trigger;
  (void)pg::member_columns(trigdata);  // validates the arguments and columns

  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
  const pg::OwnerRights rights = pg::become_extension_owner();
  // The count query is built by the same SQL function seats.revalidate uses.
  Datum roles_datum;
  {
    Datum *elems = static_cast<Datum *>(palloc(sizeof(Datum) * (trigger->tgnargs - 3 + 1)));
    for (int i = 3; i < trigger->tgnargs; ++i) elems[i - 3] = CStringGetTextDatum(trigger->tgargs[i]);
    roles_datum = PointerGetDatum(construct_array(elems, trigger->tgnargs - 3, TEXTOID, -1, false, TYPALIGN_INT));
  }
  Oid types[5] = {OIDOID, TEXTOID, TEXTOID, TEXTOID, TEXTARRAYOID};
  Datum values[5] = {ObjectIdGetDatum(RelationGetRelid(rel)), CStringGetTextDatum(trigger->tgargs[0]),
                     CStringGetTextDatum(trigger->tgargs[1]), CStringGetTextDatum(trigger->tgargs[2]), roles_datum};
  if (SPI_execute_with_args("SELECT seats._member_count_sql($1::pg_catalog.regclass, $2, $3, $4, $5, true)", 5,
                            types, values, nullptr, true, 1) != SPI_OK_SELECT ||
      SPI_processed != 1)
    elog(ERROR, "could not build the seat count of relation \"%s\"", RelationGetRelationName(rel));
  char *query = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
  SPIPlanPtr plan = SPI_prepare(query, 0, nullptr);
  if (plan == nullptr) elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
  if (SPI_execute_snapshot(plan, nullptr, nullptr, GetLatestSnapshot(), InvalidSnapshot, true, false, 0) != SPI_OK_SELECT)
    elog(ERROR, "could not count the seats of relation \"%s\"", RelationGetRelationName(rel));
  // Copy out before apply_seat_delta runs queries of its own.
  const uint64 orgs = SPI_processed;
  char **org_names = static_cast<char **>(palloc(sizeof(char *) * (orgs + 1)));
  int64 *counts = static_cast<int64 *>(palloc(sizeof(int64) * (orgs + 1)));
  for (uint64 i = 0; i < orgs; ++i) {
    bool isnull;
    org_names[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
    counts[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
  }
  for (uint64 i = 0; i < orgs; ++i) pg::apply_seat_delta(org_names[i], -counts[i]);
  pg::restore_rights(rights);
  SPI_finish();
  return PointerGetDatum(nullptr);
}
