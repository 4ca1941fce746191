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
//   2. net the seat changes per organization (pure C++ core), batch by
//      batch, into one org -> delta table (memory O(orgs), not O(rows));
//   3. lock, check and write each organization's counter.
#include <algorithm>

#include "core/seat_rules.hpp"
#include "pg/boundary.hpp"
#include "pg/citus_shards.hpp"
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

// Phase 1 reads the rows in batches: each batch's seat changes (one seat
// held before, -1, or after, +1) are netted by the core and added to one
// org -> delta table, then the batch's memory is freed. Private memory is so
// O(organizations touched), not O(rows), however large the statement
// (docs/design.md, Huge statements).
constexpr size_t batch_rows = 4096;

struct Collector {
  core::SeatChange *items;  // this batch's changes: at most two per row
  size_t count;
  core::OrgDelta *netted;   // the batch netted by the core
  HTAB *sums;               // org -> net change, once a statement needs a second batch
  MemoryContext keep;       // the caller's: results, and the first batch's org texts
  MemoryContext batch;      // later batches' org texts, reset after each batch
};

// Appends one seat change, merged into the previous one when it is for the
// same org (a bulk statement on one org is a handful of entries).
void push(Collector *out, std::string_view org, int sign) {
  if (out->count > 0 && out->items[out->count - 1].org == org) {
    out->items[out->count - 1].sign += sign;
    return;
  }
  out->items[out->count++] = core::SeatChange{org, sign};
}

// Records what the row's transition (old -> new; a missing side is an
// INSERT or a DELETE) does to seats, by the core's rules.
void collect(const std::optional<core::MemberSeat> &before, const std::optional<core::MemberSeat> &after,
             Collector *out) {
  const core::Transition t = core::classify(before, after);
  if (t.kind == core::TransitionKind::release || t.kind == core::TransitionKind::move) push(out, t.from, -1);
  if (t.kind == core::TransitionKind::acquire || t.kind == core::TransitionKind::move) push(out, t.to, +1);
}

// Nets the batch (core) into the statement's table, then frees its texts.
// Most statements never get here: they fit in one batch, which is netted
// directly (collect_changes), with no table and no extra memory context.
void flush_batch(Collector *c) {
  if (c->sums == nullptr) c->sums = create_seat_counts(c->keep);
  if (c->count > 0) {
    const size_t orgs = core::net_deltas(c->items, c->count, c->netted);
    for (size_t i = 0; i < orgs; ++i) add_seats(c->sums, c->netted[i].org, c->netted[i].delta, c->keep);
    c->count = 0;
  }
  if (c->batch != nullptr)
    MemoryContextReset(c->batch);
  else
    c->batch = AllocSetContextCreate(c->keep, "broker_seats rows", ALLOCSET_DEFAULT_SIZES);
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

// The statement's net change per organization (entries with a zero delta
// dropped), in `keep`'s memory; `*orgs` of them.
core::OrgDelta *collect_changes(const TriggerData *trigdata, const MemberColumns &cols, size_t *orgs) {
  Tuplestorestate *olds = trigdata->tg_oldtable;
  Tuplestorestate *news = trigdata->tg_newtable;
  *orgs = 0;
  const int64 old_count = olds ? tuplestore_tuple_count(olds) : 0;
  const int64 new_count = news ? tuplestore_tuple_count(news) : 0;
  if (old_count + new_count == 0) return nullptr;

  // Each old/new pair gives at most two changes: room for the whole
  // statement when it fits in one batch, else for one batch.
  const size_t capacity = static_cast<size_t>(std::min<int64>(old_count + new_count, 2 * batch_rows));
  Collector c;
  c.keep = CurrentMemoryContext;
  c.items = static_cast<core::SeatChange *>(palloc(sizeof(core::SeatChange) * capacity));
  c.netted = static_cast<core::OrgDelta *>(palloc(sizeof(core::OrgDelta) * capacity));
  c.count = 0;
  c.sums = nullptr;
  c.batch = nullptr;

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
  size_t rows = 0;
  while (have_old || have_new) {
    if (!(have_old && have_new && same_seat_columns(cols, old_slot, new_slot))) {
      MemoryContext caller = MemoryContextSwitchTo(c.batch != nullptr ? c.batch : c.keep);
      std::optional<core::MemberSeat> before, after;
      if (have_old) before = read_member(cols, old_slot, &old_orgs);
      if (have_new) after = read_member(cols, new_slot, &new_orgs);
      collect(before, after, &c);
      MemoryContextSwitchTo(caller);
      if (++rows == batch_rows) {
        flush_batch(&c);
        // The cached org texts and keys were the batch's.
        old_orgs.valid = new_orgs.valid = false;
        rows = 0;
      }
    }
    if (have_old) have_old = tuplestore_gettupleslot(olds, true, false, old_slot);
    if (have_new) have_new = tuplestore_gettupleslot(news, true, false, new_slot);
  }
  if (old_slot) ExecDropSingleTupleTableSlot(old_slot);
  if (new_slot) ExecDropSingleTupleTableSlot(new_slot);
  if (c.sums == nullptr) {
    // One batch: the core nets it; its org texts are in `keep`.
    *orgs = core::net_deltas(c.items, c.count, c.netted);
    return c.netted;
  }
  flush_batch(&c);
  MemoryContextDelete(c.batch);
  return deltas_of_counts(c.sums, +1, orgs);
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

  // Phases 1 and 2, batch by batch: PostgreSQL reads the rows, the core
  // nets each batch (its temporaries die inside net_deltas).
  const pg::MemberColumns &cols = pg::member_columns(trigdata);
  size_t orgs = 0;
  const core::OrgDelta *deltas = pg::collect_changes(trigdata, cols, &orgs);
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
  // Under Citus the trigger fires on the coordinator's table, whose rows
  // are on the workers (Citus installs no TRUNCATE trigger on shards, and
  // truncates them after this one): once the command is done, each org is
  // recounted on its worker (statement_deltas.hpp).
  if (pg::is_citus_table(RelationGetRelid(rel))) {
    pg::recount_after_truncate(RelationGetRelid(rel));
    return PointerGetDatum(nullptr);
  }
  const pg::MemberColumns &cols = pg::member_columns(trigdata);

  // The same recount as seats.revalidate, in C over the same column rules:
  // nothing the caller or the table's owner defined runs here.
  HTAB *counts = pg::create_seat_counts(CurrentMemoryContext);
  pg::count_relation_seats(rel, cols, nullptr, counts);
  size_t orgs = 0;
  const core::OrgDelta *freed = pg::deltas_of_counts(counts, -1, &orgs);
  pg::record_seat_deltas(freed, orgs, nullptr);
  return PointerGetDatum(nullptr);
}
