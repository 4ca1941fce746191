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
#include "pg/seat_count.hpp"
#include "pg/seat_counter.hpp"
#include "pg/statement_deltas.hpp"

extern "C" {
#include "access/tupdesc.h"
#include "commands/trigger.h"
#include "executor/executor.h"
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
  const int pointer = tuplestore_alloc_read_pointer(store, EXEC_FLAG_REWIND);
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
      if (have_old) before = read_member(cols, old_slot, &old_orgs);
      if (have_new) after = read_member(cols, new_slot, &new_orgs);
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

  // Phase 3: each organization locked, checked and written once, in org
  // order. Nothing runs SQL or switches rights: the caller's own rights
  // are all the counter path needs.
  const pg::BlockSource source{RelationGetRelid(trigdata->tg_relation), cols.role_count > 0 ? cols.roles[0] : ""};
  pg::record_seat_deltas(deltas, orgs, &source);
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
  const pg::MemberColumns &cols = pg::member_columns(trigdata);

  // The same recount as seats.revalidate, in C over the same column rules:
  // nothing the caller or the table's owner defined runs here.
  HTAB *counts = pg::create_seat_counts(CurrentMemoryContext);
  pg::count_relation_seats(rel, cols, nullptr, counts);
  const long orgs = hash_get_num_entries(counts);
  if (orgs == 0) return PointerGetDatum(nullptr);
  auto *changes = static_cast<core::SeatChange *>(palloc_extended(sizeof(core::SeatChange) * orgs, MCXT_ALLOC_HUGE));
  size_t n = 0;
  HASH_SEQ_STATUS scan;
  hash_seq_init(&scan, counts);
  while (auto *entry = static_cast<pg::OrgCount *>(hash_seq_search(&scan)))
    changes[n++] = core::SeatChange{std::string_view(entry->org), static_cast<int>(-entry->count)};
  auto *deltas = static_cast<core::OrgDelta *>(palloc_extended(sizeof(core::OrgDelta) * n, MCXT_ALLOC_HUGE));
  const size_t freed = core::net_deltas(changes, n, deltas);
  pg::record_seat_deltas(deltas, freed, nullptr);
  return PointerGetDatum(nullptr);
}
