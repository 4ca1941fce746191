// The seat counter (see seat_counter.hpp for the lock scheme).
#include <algorithm>

#include "core/messages.hpp"
#include "core/seat_rules.hpp"
#include "pg/boundary.hpp"
#include "pg/block_queue.hpp"
#include "pg/citus_shards.hpp"
#include "pg/module.hpp"
#include "pg/seat_counter.hpp"

extern "C" {
#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
}

namespace broker_seats::pg {
namespace {

constexpr uint16 org_lock_class = 24231;  // field4 of the advisory lock tag
constexpr uint16 chain_lock_class = 24232;  // an org's audit chain (seats._log_event)
constexpr uint64 org_lock_seed = UINT64CONST(0x62726f6b65727365);

// seats.subscription (or, under Citus, one of its shards on this node) and
// what the counter path needs of it, resolved once and forgotten on any
// relcache invalidation of the table.
struct SubscriptionTable {
  Oid relid;
  Oid org_index;  // the primary key on org
  AttrNumber org_att, limit_att, used_att;
  AttrNumber episode_started_att, episode_resolved_att;
  AttrNumber language_att;  // the customer's language; InvalidAttrNumber in a 1.0 schema
};

SubscriptionTable subscription_table = {InvalidOid, InvalidOid, 0, 0, 0, 0, 0, 0};
// Its shards on this node that the counter path used (Citus), by relid.
constexpr int kShardTables = 16;
SubscriptionTable shard_tables[kShardTables];
int shard_table_count = 0;
bool table_callback_registered = false;

void forget_table(Datum, Oid relid) {
  if (relid == InvalidOid || relid == subscription_table.relid) subscription_table.relid = InvalidOid;
  for (int i = shard_table_count - 1; i >= 0; --i)
    if (relid == InvalidOid || shard_tables[i].relid == relid) shard_tables[i] = shard_tables[--shard_table_count];
}

AttrNumber attribute(Relation rel, const char *name) {
  const AttrNumber att = get_attnum(RelationGetRelid(rel), name);
  if (att == InvalidAttrNumber) elog(ERROR, "seats.subscription has no column \"%s\"", name);
  return att;
}

// The columns and primary key of `relid` (seats.subscription or a shard of
// it: a shard's column numbers are its own).
SubscriptionTable describe_subscription(Oid relid) {
  if (!table_callback_registered) {
    CacheRegisterRelcacheCallback(forget_table, 0);
    table_callback_registered = true;
  }
  Relation rel = table_open(relid, AccessShareLock);
  SubscriptionTable t{relid,
                      RelationGetPrimaryKeyIndex(rel),
                      attribute(rel, "org"),
                      attribute(rel, "seat_limit"),
                      attribute(rel, "seats_used"),
                      attribute(rel, "block_episode_started_at"),
                      // Absent from a 1.0 schema not yet updated: no episodes end then.
                      get_attnum(relid, "block_episode_resolved_at"),
                      get_attnum(relid, "language")};
  table_close(rel, AccessShareLock);
  if (t.org_index == InvalidOid) elog(ERROR, "seats.subscription has no primary key");
  return t;
}

// seats.subscription itself: the relation the locks are named after, on
// every node.
const SubscriptionTable &subscription() {
  if (subscription_table.relid != InvalidOid) return subscription_table;
  const Oid relid = get_relname_relid("subscription", get_namespace_oid("seats", false));
  if (relid == InvalidOid) elog(ERROR, "seats.subscription does not exist");
  subscription_table = describe_subscription(relid);
  return subscription_table;
}

// The table holding the counter row of `org` on this node: seats.subscription,
// or under Citus its shard for the org (0A000 when that is on another node).
const SubscriptionTable &counter_table(const char *org, int length) {
  const SubscriptionTable &logical = subscription();
  if (!is_citus_table(logical.relid)) return logical;
  const Oid shard = local_rows(logical.relid, org, length);
  for (int i = 0; i < shard_table_count; ++i)
    if (shard_tables[i].relid == shard) return shard_tables[i];
  const SubscriptionTable t = describe_subscription(shard);
  if (shard_table_count == kShardTables) shard_table_count = 0;
  shard_tables[shard_table_count] = t;
  return shard_tables[shard_table_count++];
}

// The counter row's current version, read with the latest snapshot: the
// org lock is held, so it shows every committed change and none can commit
// until we do (at REPEATABLE READ a version the transaction cannot see is
// then refused with 40001: check_visible_to_transaction).
struct CounterRow {
  bool found;
  int64 used;
  int64 limit;
  bool episode_open;  // a block episode started and not yet resolved
  TimestampTz episode_started;
  core::Language language;  // the org's, or broker_seats.language when it has none
  HeapTuple tuple;  // a copy, for the update
};

// The subscription's language column: 'pt_BR', 'en' (a CHECK keeps it to
// those) or NULL to follow broker_seats.language.
core::Language org_language(TupleTableSlot *slot, const SubscriptionTable &t) {
  if (t.language_att == InvalidAttrNumber) return customer_language();
  bool isnull;
  const Datum value = slot_getattr(slot, t.language_att, &isnull);
  if (isnull) return customer_language();
  text *lang = DatumGetTextPP(value);
  const std::string_view name(VARDATA_ANY(lang), VARSIZE_ANY_EXHDR(lang));
  if (name == "en") return core::Language::en;
  if (name == "pt_BR") return core::Language::pt_BR;
  return customer_language();
}

// The first row, in `direction`, of `index` (whose first column is text)
// equal to `key`, read with the latest snapshot, into `slot` (which keeps
// its own pin). The one lookup of the counter row, the freeze state and a
// chain's head.
bool fetch_latest_by_text_key(Relation rel, Relation index, Datum key, ScanDirection direction,
                              TupleTableSlot *slot) {
  ScanKeyData scan_key;
  ScanKeyEntryInitialize(&scan_key, 0, 1, BTEqualStrategyNumber, InvalidOid, index->rd_indcollation[0], F_TEXTEQ,
                         key);
  Snapshot snapshot = RegisterSnapshot(GetLatestSnapshot());
  IndexScanDesc scan = index_beginscan(rel, index, snapshot, 1, 0);
  index_rescan(scan, &scan_key, 1, nullptr, 0);
  const bool found = index_getnext_slot(scan, direction, slot);
  index_endscan(scan);
  UnregisterSnapshot(snapshot);
  return found;
}

CounterRow read_counter(Relation rel, Relation index, const SubscriptionTable &t, Datum org) {
  TupleTableSlot *slot = table_slot_create(rel, nullptr);
  CounterRow row{false, 0, 0, false, 0, core::Language::pt_BR, nullptr};
  if (fetch_latest_by_text_key(rel, index, org, ForwardScanDirection, slot)) {
    bool isnull;
    row.found = true;
    row.used = DatumGetInt32(slot_getattr(slot, t.used_att, &isnull));
    row.limit = DatumGetInt32(slot_getattr(slot, t.limit_att, &isnull));
    bool started_null, resolved_null = true;
    const Datum started = slot_getattr(slot, t.episode_started_att, &started_null);
    if (t.episode_resolved_att != InvalidAttrNumber) (void)slot_getattr(slot, t.episode_resolved_att, &resolved_null);
    row.episode_open = t.episode_resolved_att != InvalidAttrNumber && !started_null && resolved_null;
    if (row.episode_open) row.episode_started = DatumGetTimestampTz(started);
    row.language = org_language(slot, t);
    row.tuple = ExecCopySlotHeapTuple(slot);
  }
  ExecDropSingleTupleTableSlot(slot);
  return row;
}

// Index entries for a new row version that is not heap-only, as the
// catalogs get them: the indexes of seats.subscription are plain columns.
void insert_index_entries(Relation rel, HeapTuple tuple) {
  CatalogIndexState indexes = CatalogOpenIndexes(rel);
  TupleTableSlot *slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsHeapTuple);
  ExecStoreHeapTuple(tuple, slot, false);
  for (int i = 0; i < indexes->ri_NumIndices; ++i) {
    IndexInfo *info = indexes->ri_IndexRelationInfo[i];
    Relation index = indexes->ri_IndexRelationDescs[i];
    if (!info->ii_ReadyForInserts) continue;
    if (info->ii_Expressions != NIL || info->ii_Predicate != NIL)
      elog(ERROR, "index \"%s\" on seats.subscription has expressions or a predicate", RelationGetRelationName(index));
    Datum values[INDEX_MAX_KEYS];
    bool isnull[INDEX_MAX_KEYS];
    FormIndexDatum(info, slot, nullptr, values, isnull);
    index_insert(index, values, isnull, &tuple->t_self, rel,
                 index->rd_index->indisunique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO, false, info);
  }
  ExecDropSingleTupleTableSlot(slot);
  CatalogCloseIndexes(indexes);
}

// Transaction-level bookkeeping of the org locks this transaction acquired
// (never decremented: locks released by a subtransaction's abort are still
// counted, which only makes escalation come sooner).
std::size_t org_locks_taken = 0;
std::size_t chain_locks_taken = 0;  // the same for the audit chains' locks

void forget_org_locks(XactEvent event, void *) {
  if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PREPARE ||
      event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
    org_locks_taken = chain_locks_taken = 0;
}

// Does this transaction hold the all-organizations lock?
bool holds_all_orgs(Oid relid) {
  LOCKTAG tag;
  SET_LOCKTAG_RELATION(tag, MyDatabaseId, relid);
  return LockHeldByMe(&tag, ExclusiveLock) || LockHeldByMe(&tag, AccessExclusiveLock);
}

LOCKTAG org_lock_tag(const char *org, int length, uint16 lock_class = org_lock_class) {
  const uint64 h = DatumGetUInt64(hash_bytes_extended(reinterpret_cast<const unsigned char *>(org), length, org_lock_seed));
  LOCKTAG tag;
  SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, static_cast<uint32>(h >> 32), static_cast<uint32>(h), lock_class);
  return tag;
}

[[noreturn]] void serialization_failure(const char *org) {
  ereport(ERROR, (errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
                  errmsg("could not serialize access due to concurrent update of the seats of \"%s\"", org),
                  errdetail("The seat counter of the organization changed after this transaction's snapshot."),
                  errhint("Retry the transaction.")));
}

// At REPEATABLE READ and SERIALIZABLE, a counter row version the
// transaction's snapshot cannot see was written by a transaction that
// committed after that snapshot: like an UPDATE of the row, fail with 40001
// (the crosscheck ri_triggers.c makes) instead of writing past it.
void check_visible_to_transaction(Relation rel, const CounterRow &row, const char *org) {
  if (!IsolationUsesXactSnapshot()) return;
  TupleTableSlot *slot = table_slot_create(rel, nullptr);
  ItemPointerData tid = row.tuple->t_self;
  const bool visible = table_tuple_fetch_row_version(rel, &tid, GetTransactionSnapshot(), slot);
  ExecDropSingleTupleTableSlot(slot);
  if (!visible) serialization_failure(org);
}

// Writes the counter of one locked org. Returns false when the row changed
// under us (a direct UPDATE of seats.subscription that does not take the org
// lock, now committed): at READ COMMITTED the caller reads it again and
// judges the newest version, as an UPDATE would.
bool write_counter(Relation rel, const SubscriptionTable &t, const CounterRow &row, int64 used_after,
                   bool resolve_episode, const char *org) {
  TupleDesc desc = RelationGetDescr(rel);
  Datum *values = static_cast<Datum *>(palloc0(sizeof(Datum) * desc->natts));
  bool *nulls = static_cast<bool *>(palloc0(sizeof(bool) * desc->natts));
  bool *replace = static_cast<bool *>(palloc0(sizeof(bool) * desc->natts));
  values[t.used_att - 1] = Int32GetDatum(static_cast<int32>(used_after));
  replace[t.used_att - 1] = true;
  if (resolve_episode) {
    // A seat acquired ends the org's block episode (SPEC §5), in this very
    // row version: if the statement rolls back, so does the end.
    values[t.episode_resolved_att - 1] =
        TimestampTzGetDatum(std::max(GetCurrentStatementStartTimestamp(), row.episode_started));
    replace[t.episode_resolved_att - 1] = true;
  }
  HeapTuple updated = heap_modify_tuple(row.tuple, desc, values, nulls, replace);
  TM_FailureData failure;
  LockTupleMode mode;
  ItemPointerData tid = row.tuple->t_self;
  const Snapshot crosscheck = IsolationUsesXactSnapshot() ? GetTransactionSnapshot() : InvalidSnapshot;
  // wait = true: a concurrent writer of the row is waited for, as an UPDATE waits.
  const TM_Result result = heap_update(rel, &tid, updated, GetCurrentCommandId(true), crosscheck, true, &failure, &mode);
  switch (result) {
    case TM_Ok:
      break;
    case TM_Updated:
    case TM_Deleted:
      if (IsolationUsesXactSnapshot()) serialization_failure(org);
      return false;
    case TM_SelfModified:
      ereport(ERROR, (errcode(ERRCODE_TRIGGERED_DATA_CHANGE_VIOLATION),
                      errmsg("the seat counter of \"%s\" was already changed by this command", org)));
      break;
    default:
      elog(ERROR, "unexpected result %d updating the seat counter of \"%s\"", static_cast<int>(result), org);
  }
  // No indexed column changed: the new version is usually heap-only (HOT)
  // and the indexes need nothing. Only when it moved to another page do
  // they get entries.
  if (!HeapTupleIsHeapOnly(updated)) insert_index_entries(rel, updated);
  return true;
}

// SB001's text, made by the core in a scope of its own and copied into
// `pending` (no C++ object outlives this call).
void capture_refusal(PendingError &pending, const char *org, const CounterRow &row, int64 delta,
                     const char *schema, const char *table) noexcept {
  try {
    const core::Error e = core::no_free_seat(org, row.used, row.limit, delta, row.language)
                              .about(schema ? schema : "", table ? table : "", "broker_seat_limit");
    capture_error(pending, e);
  } catch (...) {
    capture_current_exception(pending, "broker_seats refusal");
  }
}

// Refuses `delta` more seats of `org` against `row` (the counter row read):
// queues the block for the recorder, and raises SB001 with the member table
// and a constraint name in the standard error fields, for drivers and ORMs
// that report them. Raised directly rather than thrown to the boundary: a
// C++ throw costs a full unwind (FDE lookups in libgcc), a tenth of a
// refused statement's CPU. Every caller up to the entry point keeps no C++
// object with a destructor alive, as around every PostgreSQL call here.
// Relations are closed by the abort.
[[noreturn]] void refuse(const char *org, std::string_view org_view, const CounterRow &row, int64 delta,
                         const BlockSource *source) {
  // The refusal rolls back: the block survives in the recorder's queue.
  if (source != nullptr)
    (void)queue_block(org_view, source->relation, source->role ? source->role : "", delta, row.used, row.limit);
  const char *schema = source ? get_namespace_name(get_rel_namespace(source->relation)) : nullptr;
  const char *table = source ? get_rel_name(source->relation) : nullptr;
  PendingError pending;
  capture_refusal(pending, org, row, delta, schema, table);
  raise_pending(pending);
}

bool take_org_lock(const char *org, int length, bool wait);

// Has a transaction that has not (visibly) committed updated or deleted
// this row version? Its xmax names an updater (not only lockers, such as
// the key-share locks of foreign keys) that did not abort.
bool pending_update(const CounterRow &row) {
  HeapTupleHeader header = row.tuple->t_data;
  if (header->t_infomask & HEAP_XMAX_INVALID) return false;
  if (HEAP_XMAX_IS_LOCKED_ONLY(header->t_infomask)) return false;
  const TransactionId updater = HeapTupleHeaderGetUpdateXid(header);
  return TransactionIdIsValid(updater) && !TransactionIdDidAbort(updater);
}

// One org's net change, under its lock. SB001 is raised by refuse(); SB002
// is thrown as a core error, which the entry point's boundary raises; both
// name the member table and a constraint (broker_seat_limit,
// broker_seat_subscription) in the standard error fields.
//
// When another transaction holds the org's lock, a write that asks for
// seats does not wait for it if the latest committed counter already
// refuses it and no transaction is changing that counter row: exactly what
// an `UPDATE ... SET seats_used = seats_used + Δ WHERE seats_used + Δ <=
// seat_limit` would do, which waits only for a concurrent writer of the row
// and otherwise judges the latest committed version. Refused writers of a
// full organization thus no longer queue behind each other on its lock
// (docs/design.md, The error path). A write that may pass always waits
// for the lock and judges the counter under it.
void apply_seat_delta(const SubscriptionTable &t, Relation rel, std::string_view org_view, int64 delta,
                      const BlockSource *source) {
  char *org = pnstrdup(org_view.data(), org_view.size());
  const Datum key = PointerGetDatum(cstring_to_text_with_len(org, static_cast<int>(org_view.size())));
  Relation index = index_open(t.org_index, RowExclusiveLock);
  if (!take_org_lock(org, static_cast<int>(org_view.size()), false)) {
    if (delta > 0) {
      const CounterRow row = read_counter(rel, index, t, key);
      if (row.found && !pending_update(row)) {
        check_visible_to_transaction(rel, row, org);
        if (!core::check_limit(row.used, row.limit, delta).allowed) {
          index_close(index, RowExclusiveLock);
          refuse(org, org_view, row, delta, source);
        }
      }
    }
    (void)take_org_lock(org, static_cast<int>(org_view.size()), true);
  }
  for (;;) {
    const CounterRow row = read_counter(rel, index, t, key);
    if (!row.found) {
      if (delta <= 0) break;  // freeing a seat of an org without subscription: nothing to count
      index_close(index, RowExclusiveLock);
      // Like SB001, the member table and a constraint name in the standard fields.
      const char *schema = source ? get_namespace_name(get_rel_namespace(source->relation)) : nullptr;
      const char *table = source ? get_rel_name(source->relation) : nullptr;
      throw core::no_subscription(org).about(schema ? schema : "", table ? table : "",
                                             table ? "broker_seat_subscription" : "");
    }
    check_visible_to_transaction(rel, row, org);
    const core::LimitCheck check = core::check_limit(row.used, row.limit, delta);
    if (!check.allowed) {
      index_close(index, RowExclusiveLock);
      refuse(org, org_view, row, delta, source);
    }
    if (check.used_after < PG_INT32_MIN || check.used_after > PG_INT32_MAX)
      ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE), errmsg("seats_used of \"%s\" out of range", org)));
    if (write_counter(rel, t, row, check.used_after, delta > 0 && row.episode_open, org)) break;
  }
  index_close(index, RowExclusiveLock);
}

// The org lock, waiting for it or not: true when this transaction holds it
// (or every org) afterwards, false only without waiting, when another
// transaction holds it.
bool take_org_lock(const char *org, int length, bool wait) {
  const Oid relid = subscription().relid;
  // The coarse level first: RowExclusiveLock on seats.subscription (fast
  // path), unless this transaction holds every org already.
  if (holds_all_orgs(relid)) return true;
  // Past the limit, one lock for all: a transaction locking orgs one by one
  // (onboarding thousands in one statement) stays within the lock table.
  if (org_locks_taken >= static_cast<std::size_t>(org_lock_limit())) {
    if (!wait) return ConditionalLockRelationOid(relid, ExclusiveLock);
    LockRelationOid(relid, ExclusiveLock);
    return true;
  }
  LockRelationOid(relid, RowExclusiveLock);
  const LOCKTAG tag = org_lock_tag(org, length);
  switch (LockAcquire(&tag, ExclusiveLock, false, !wait)) {
    case LOCKACQUIRE_NOT_AVAIL:
      return false;
    case LOCKACQUIRE_OK:
      ++org_locks_taken;
      return true;
    default:  // already held by this transaction
      return true;
  }
}

}  // namespace

void lock_org(const char *org, int length) {
  // Under Citus the lock means something only on the node that holds the
  // org's rows, where its members' triggers take it: refuse elsewhere.
  (void)counter_table(org, length);
  (void)take_org_lock(org, length, true);
}

void reserve_org_locks(const core::OrgDelta *orgs, std::size_t count) {
  const Oid relid = subscription().relid;
  if (count == 0 || holds_all_orgs(relid)) return;
  // Only the locks this transaction does not hold yet count.
  std::size_t needed = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (orgs[i].delta == 0) continue;
    const LOCKTAG tag = org_lock_tag(orgs[i].org.data(), static_cast<int>(orgs[i].org.size()));
    if (!LockHeldByMe(&tag, ExclusiveLock)) ++needed;
  }
  if (needed > 0 && org_locks_taken + needed > static_cast<std::size_t>(org_lock_limit()))
    LockRelationOid(relid, ExclusiveLock);
}

void lock_all_orgs() { LockRelationOid(subscription().relid, ExclusiveLock); }

Oid event_relid() {
  const Oid relid = get_relname_relid("event", get_namespace_oid("seats", false));
  if (relid == InvalidOid) elog(ERROR, "seats.event does not exist");
  return relid;
}

namespace {

// Under Citus, the global chain (org '') of a seats.event shard on another
// node, read through Citus. Every writer of the global chain (plans,
// attachments, global freezes, incidents) runs on the coordinator and
// takes the chain lock there, so that lock serializes them.
bytea *remote_global_chain_head(int64 *id) {
  MemoryContext caller = CurrentMemoryContext;
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
  const int rc = SPI_execute("SELECT e.id, e.hash FROM seats.event e WHERE e.org OPERATOR(pg_catalog.=) '' "
                             "ORDER BY e.id DESC LIMIT 1",
                             false, 1);
  bytea *head = nullptr;
  if (rc != SPI_OK_SELECT) elog(ERROR, "could not read the global audit chain");
  if (SPI_processed == 1) {
    bool isnull;
    const Datum event_id = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
    if (id != nullptr) *id = isnull ? 0 : DatumGetInt64(event_id);
    const Datum hash = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
    if (!isnull) {
      MemoryContext spi = MemoryContextSwitchTo(caller);
      head = DatumGetByteaPCopy(hash);
      MemoryContextSwitchTo(spi);
    }
  }
  SPI_finish();
  return head;
}

}  // namespace

bytea *chain_head(const char *org, int length, int64 *id) {
  // The chain's last event, read with the latest snapshot: under the chain
  // lock that is the true head even at REPEATABLE READ, whose transaction
  // snapshot may predate an event the block recorder committed since.
  if (id != nullptr) *id = 0;
  Oid relid = local_rows_if_here(event_relid(), org, length);
  if (relid == InvalidOid) {
    if (length == 0) return remote_global_chain_head(id);
    relid = local_rows(event_relid(), org, length);  // raises: not on this node
  }
  Relation rel = table_open(relid, AccessShareLock);
  const Oid index_oid = RelationGetPrimaryKeyIndex(rel);  // (org, id)
  if (index_oid == InvalidOid) elog(ERROR, "seats.event has no primary key");
  const AttrNumber hash_att = get_attnum(RelationGetRelid(rel), "hash");
  const AttrNumber id_att = get_attnum(RelationGetRelid(rel), "id");
  Relation index = index_open(index_oid, AccessShareLock);
  TupleTableSlot *slot = table_slot_create(rel, nullptr);
  bytea *head = nullptr;
  if (fetch_latest_by_text_key(rel, index, PointerGetDatum(cstring_to_text_with_len(org, length)),
                               BackwardScanDirection, slot)) {
    bool isnull;
    const Datum value = slot_getattr(slot, hash_att, &isnull);
    if (!isnull) head = DatumGetByteaPCopy(value);
    const Datum event_id = slot_getattr(slot, id_att, &isnull);
    if (id != nullptr && !isnull) *id = DatumGetInt64(event_id);
  }
  ExecDropSingleTupleTableSlot(slot);
  index_close(index, AccessShareLock);
  table_close(rel, AccessShareLock);
  return head;
}

namespace {

// A column of `slot` by name (absent from an older schema: NULL).
Datum named_column(TupleTableSlot *slot, Relation rel, const char *name, bool *isnull) {
  const AttrNumber att = get_attnum(RelationGetRelid(rel), name);
  *isnull = true;
  return att == InvalidAttrNumber ? 0 : slot_getattr(slot, att, isnull);
}

// Its text, or `fallback` when NULL.
const char *text_column(TupleTableSlot *slot, Relation rel, const char *name, const char *fallback) {
  bool isnull;
  const Datum value = named_column(slot, rel, name, &isnull);
  return isnull ? fallback : TextDatumGetCString(value);
}

const char *id_column(TupleTableSlot *slot, Relation rel, const char *name) {
  bool isnull;
  const Datum value = named_column(slot, rel, name, &isnull);
  return isnull ? nullptr : psprintf(INT64_FORMAT, DatumGetInt64(value));
}

const char *when_column(TupleTableSlot *slot, Relation rel, const char *name) {
  bool isnull;
  const Datum value = named_column(slot, rel, name, &isnull);
  if (isnull) return nullptr;
  return TextDatumGetCString(DirectFunctionCall2(timestamptz_to_char, value,
                                                 CStringGetTextDatum("YYYY-MM-DD HH24:MI:SSOF")));
}

[[noreturn]] void frozen_error(const char *what, const char *reason, const char *by, const char *at,
                               const char *incident, const char *hint) {
  if (by == nullptr)
    ereport(ERROR, (errcode(MAKE_SQLSTATE('S', 'B', '0', '0', '3')), errmsg("%s: %s", what, reason), errhint("%s", hint)));
  ereport(ERROR, (errcode(MAKE_SQLSTATE('S', 'B', '0', '0', '3')), errmsg("%s: %s", what, reason),
                  errdetail("Frozen by %s at %s%s%s.", by, at ? at : "an unknown time", incident ? ", incident " : "",
                            incident ? incident : ""),
                  errhint("%s", hint)));
}

}  // namespace

void check_not_frozen(const char *org, int length) {
  // Under the org lock (which every freeze takes), the latest committed
  // versions are the truth: read with the latest snapshot, a REPEATABLE
  // READ transaction cannot miss a freeze committed after its snapshot.
  const SubscriptionTable t = counter_table(org, length);
  Relation rel = table_open(t.relid, AccessShareLock);
  Relation index = index_open(t.org_index, AccessShareLock);
  TupleTableSlot *slot = table_slot_create(rel, nullptr);
  if (fetch_latest_by_text_key(rel, index, PointerGetDatum(cstring_to_text_with_len(org, length)),
                               ForwardScanDirection, slot)) {
    bool isnull;
    const Datum frozen = named_column(slot, rel, "frozen", &isnull);
    if (!isnull && DatumGetBool(frozen)) {
      char what[NAMEDATALEN * 4 + 64];
      snprintf(what, sizeof what, "organization \"%.*s\" is frozen", length, org);
      char hint[NAMEDATALEN * 4 + 64];
      snprintf(hint, sizeof hint, "Commercial changes resume after seats.unfreeze('%.*s').", length, org);
      frozen_error(what, text_column(slot, rel, "frozen_reason", "no reason given"),
                   text_column(slot, rel, "frozen_by", nullptr), when_column(slot, rel, "frozen_at"),
                   id_column(slot, rel, "frozen_incident"), hint);
    }
  }
  ExecDropSingleTupleTableSlot(slot);
  index_close(index, AccessShareLock);
  table_close(rel, AccessShareLock);

  const Oid global = get_relname_relid("global_freeze", get_namespace_oid("seats", false));
  if (global != InvalidOid) {
    Snapshot snapshot = RegisterSnapshot(GetLatestSnapshot());
    Relation grel = table_open(local_rows(global, nullptr, 0), AccessShareLock);
    TableScanDesc gscan = table_beginscan(grel, snapshot, 0, nullptr);
    TupleTableSlot *gslot = table_slot_create(grel, nullptr);
    if (table_scan_getnextslot(gscan, ForwardScanDirection, gslot))
      frozen_error("commercial changes are frozen system-wide", text_column(gslot, grel, "reason", "no reason given"),
                   text_column(gslot, grel, "frozen_by", "unknown"), when_column(gslot, grel, "frozen_at"),
                   id_column(gslot, grel, "incident"), "Commercial changes resume after seats.unfreeze().");
    ExecDropSingleTupleTableSlot(gslot);
    table_endscan(gscan);
    table_close(grel, AccessShareLock);
    UnregisterSnapshot(snapshot);
  }
}

void lock_chain(const char *org, int length) {
  // The same two levels as the org lock, on seats.event: RowExclusiveLock
  // then one advisory lock per chain, or ExclusiveLock on seats.event past
  // the limit (which every chain writer then waits for before it reads the
  // chain's last hash, so no chain can fork).
  const Oid relid = event_relid();
  // Under Citus, only where the chain is (see lock_org); the global chain's
  // writers all run on the coordinator (remote_global_chain_head).
  if (length > 0) (void)local_rows(relid, org, length);
  if (holds_all_orgs(relid)) return;
  // A transaction that holds every org (or escalated its org locks) holds
  // every chain too, taken at once: escalating later, with chain locks
  // already held, could deadlock with another chain writer.
  if (chain_locks_taken >= static_cast<std::size_t>(org_lock_limit()) ||
      org_locks_taken >= static_cast<std::size_t>(org_lock_limit()) || holds_all_orgs(subscription().relid)) {
    LockRelationOid(relid, ExclusiveLock);
    return;
  }
  LockRelationOid(relid, RowExclusiveLock);
  const LOCKTAG tag = org_lock_tag(org, length, chain_lock_class);
  if (LockAcquire(&tag, ExclusiveLock, false, false) == LOCKACQUIRE_OK) ++chain_locks_taken;
}

void apply_seat_deltas(const core::OrgDelta *deltas, std::size_t count, const BlockSource *source) {
  if (count == 0) return;
  reserve_org_locks(deltas, count);
  // See what this command wrote so far (a writable CTE's UPDATE of
  // seats.subscription, a SQL function's last statement), so that the
  // counter row read is the one heap_update will find.
  CommandCounterIncrement();
  // The counter is updated directly in the heap: the same MVCC row version,
  // WAL and concurrency checks as an UPDATE (heap_update, waiting for a
  // concurrent writer, with the crosscheck at REPEATABLE READ), without
  // building an executor for a one-column change on every statement.
  // seats.subscription's own triggers and CHECK constraints do not fire
  // for this column.
  // One relation on a single node; under Citus each org's shard here (the
  // orgs come sorted by key, not by shard: a shard is reopened when the
  // next org is in another one).
  Relation rel = nullptr;
  // Each org's tuples and keys in memory of its own, freed as it is done.
  MemoryContext per_org = AllocSetContextCreate(CurrentMemoryContext, "broker_seats counter", ALLOCSET_SMALL_SIZES);
  for (std::size_t i = 0; i < count; ++i) {
    if (deltas[i].delta == 0) continue;
    // A copy: an invalidation while locking may evict the cached entry.
    const SubscriptionTable t = counter_table(deltas[i].org.data(), static_cast<int>(deltas[i].org.size()));
    if (rel == nullptr || RelationGetRelid(rel) != t.relid) {
      if (rel != nullptr) table_close(rel, RowExclusiveLock);
      rel = table_open(t.relid, RowExclusiveLock);
    }
    MemoryContext caller = MemoryContextSwitchTo(per_org);
    // A refusal leaves by ereport or a C++ exception; the transaction's
    // abort closes `rel` and frees the context.
    apply_seat_delta(t, rel, deltas[i].org, deltas[i].delta, source);
    MemoryContextSwitchTo(caller);
    MemoryContextReset(per_org);
  }
  MemoryContextDelete(per_org);
  if (rel != nullptr) table_close(rel, RowExclusiveLock);
  // The orgs of one run are distinct: one increment makes every counter
  // change visible to what follows (another statement's triggers, say).
  CommandCounterIncrement();
}

bool subscription_is_distributed() { return is_citus_table(subscription().relid); }

bool org_is_here(const char *org, int length) {
  return local_rows_if_here(subscription().relid, org, length) != InvalidOid;
}

void register_seat_counter_callbacks() { RegisterXactCallback(forget_org_locks, nullptr); }

}  // namespace broker_seats::pg
