#include "core/messages.hpp"
#include "core/seat_rules.hpp"
#include "pg/boundary.hpp"
#include "pg/module.hpp"
#include "pg/seat_counter.hpp"

extern "C" {
#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/indexing.h"
#include "nodes/execnodes.h"
#include "executor/tuptable.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
}

namespace broker_seats::pg {
namespace {

constexpr uint16 org_lock_class = 24231;  // field4 of the advisory lock tag
constexpr uint64 org_lock_seed = UINT64CONST(0x62726f6b65727365);

Oid cached_owner = InvalidOid;
bool owner_callback_registered = false;

void forget_owner(Datum, int, uint32) { cached_owner = InvalidOid; }

Oid extension_owner() {
  if (cached_owner != InvalidOid) return cached_owner;
  if (!owner_callback_registered) {
    CacheRegisterSyscacheCallback(NAMESPACEOID, forget_owner, 0);
    owner_callback_registered = true;
  }
  const Oid nsp = get_namespace_oid("seats", false);
  HeapTuple tuple = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
  if (!HeapTupleIsValid(tuple)) elog(ERROR, "cache lookup failed for namespace %u", nsp);
  cached_owner = reinterpret_cast<Form_pg_namespace>(GETSTRUCT(tuple))->nspowner;
  ReleaseSysCache(tuple);
  return cached_owner;
}

// seats.subscription and what the counter path needs of it, resolved once
// and forgotten on any relcache invalidation of the table.
struct SubscriptionTable {
  Oid relid;
  Oid org_index;  // the primary key on org
  AttrNumber org_att, limit_att, used_att;
};

SubscriptionTable subscription_table = {InvalidOid, InvalidOid, 0, 0, 0};
bool table_callback_registered = false;

void forget_table(Datum, Oid relid) {
  if (relid == InvalidOid || relid == subscription_table.relid) subscription_table.relid = InvalidOid;
}

AttrNumber attribute(Relation rel, const char *name) {
  const AttrNumber att = get_attnum(RelationGetRelid(rel), name);
  if (att == InvalidAttrNumber) elog(ERROR, "seats.subscription has no column \"%s\"", name);
  return att;
}

const SubscriptionTable &subscription() {
  if (subscription_table.relid != InvalidOid) return subscription_table;
  if (!table_callback_registered) {
    CacheRegisterRelcacheCallback(forget_table, 0);
    table_callback_registered = true;
  }
  const Oid relid = get_relname_relid("subscription", get_namespace_oid("seats", false));
  if (relid == InvalidOid) elog(ERROR, "seats.subscription does not exist");
  Relation rel = table_open(relid, AccessShareLock);
  SubscriptionTable t{relid, RelationGetPrimaryKeyIndex(rel), attribute(rel, "org"), attribute(rel, "seat_limit"),
                      attribute(rel, "seats_used")};
  table_close(rel, AccessShareLock);
  if (t.org_index == InvalidOid) elog(ERROR, "seats.subscription has no primary key");
  subscription_table = t;
  return subscription_table;
}

// The counter row's current version, read with the latest snapshot: the
// org lock is held, so it shows every committed change and none can commit
// until we do (and at REPEATABLE READ a writer that waited for the lock sees
// the winner's seat instead of failing to serialize).
struct CounterRow {
  bool found;
  int64 used;
  int64 limit;
  HeapTuple tuple;  // a copy, for the update
};

CounterRow read_counter(Relation rel, Relation index, const SubscriptionTable &t, Datum org) {
  ScanKeyData key;
  ScanKeyEntryInitialize(&key, 0, 1, BTEqualStrategyNumber, InvalidOid, index->rd_indcollation[0], F_TEXTEQ, org);
  Snapshot snapshot = RegisterSnapshot(GetLatestSnapshot());
  IndexScanDesc scan = index_beginscan(rel, index, snapshot, 1, 0);
  index_rescan(scan, &key, 1, nullptr, 0);
  TupleTableSlot *slot = table_slot_create(rel, nullptr);
  CounterRow row{false, 0, 0, nullptr};
  if (index_getnext_slot(scan, ForwardScanDirection, slot)) {
    bool isnull;
    row.found = true;
    row.used = DatumGetInt32(slot_getattr(slot, t.used_att, &isnull));
    row.limit = DatumGetInt32(slot_getattr(slot, t.limit_att, &isnull));
    row.tuple = ExecCopySlotHeapTuple(slot);
  }
  ExecDropSingleTupleTableSlot(slot);
  index_endscan(scan);
  UnregisterSnapshot(snapshot);
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

[[noreturn]] void raise_refusal(const char *org, int64 used, int64 limit, int64 requested, bool subscribed) {
  PendingError pending;
  try {
    throw subscribed ? core::no_free_seat(org, used, limit, requested, customer_language()) : core::no_subscription(org);
  } catch (...) {
    capture_current_exception(pending, "apply_seat_delta");
  }
  raise_pending(pending);
}

}  // namespace

void lock_org(const char *org, int length) {
  const uint64 h = DatumGetUInt64(hash_bytes_extended(reinterpret_cast<const unsigned char *>(org), length, org_lock_seed));
  LOCKTAG tag;
  SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, static_cast<uint32>(h >> 32), static_cast<uint32>(h), org_lock_class);
  (void)LockAcquire(&tag, ExclusiveLock, false, false);
}

void apply_seat_delta(const char *org, int64 delta) {
  lock_org(org, static_cast<int>(strlen(org)));
  // The counter is updated directly in the heap, like the system catalogs
  // are: the same MVCC row version and WAL as an UPDATE, without building an
  // executor for a one-column change on every statement (half the cost of
  // a one-row INSERT when it went through SPI). seats.subscription's own
  // triggers and CHECK constraints do not fire for this column.
  const SubscriptionTable &t = subscription();
  Relation rel = table_open(t.relid, RowExclusiveLock);
  Relation index = index_open(t.org_index, RowExclusiveLock);
  const CounterRow row = read_counter(rel, index, t, CStringGetTextDatum(org));
  index_close(index, RowExclusiveLock);
  if (!row.found) {
    table_close(rel, RowExclusiveLock);
    if (delta <= 0) return;  // freeing a seat of an org without subscription: nothing to count
    raise_refusal(org, 0, 0, delta, false);
  }
  const core::LimitCheck check = core::check_limit(row.used, row.limit, delta);
  if (!check.allowed) {
    table_close(rel, RowExclusiveLock);
    raise_refusal(org, row.used, row.limit, delta, true);
  }
  if (check.used_after < PG_INT32_MIN || check.used_after > PG_INT32_MAX)
    ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE), errmsg("seats_used of \"%s\" out of range", org)));

  TupleDesc desc = RelationGetDescr(rel);
  Datum *values = static_cast<Datum *>(palloc0(sizeof(Datum) * desc->natts));
  bool *nulls = static_cast<bool *>(palloc0(sizeof(bool) * desc->natts));
  bool *replace = static_cast<bool *>(palloc0(sizeof(bool) * desc->natts));
  values[t.used_att - 1] = Int32GetDatum(static_cast<int32>(check.used_after));
  replace[t.used_att - 1] = true;
  HeapTuple updated = heap_modify_tuple(row.tuple, desc, values, nulls, replace);
  simple_heap_update(rel, &row.tuple->t_self, updated);
  // No indexed column changed: the new version is usually heap-only (HOT)
  // and the indexes need nothing. Only when it moved to another page do
  // they get entries, and only then are they opened.
  if (!HeapTupleIsHeapOnly(updated)) insert_index_entries(rel, updated);
  table_close(rel, RowExclusiveLock);
  // The next counter change in this statement (another trigger of a MERGE,
  // say) must see this one.
  CommandCounterIncrement();
}

OwnerRights become_extension_owner() {
  OwnerRights rights;
  GetUserIdAndSecContext(&rights.saved_user, &rights.saved_context);
  SetUserIdAndSecContext(extension_owner(),
                         rights.saved_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_NOFORCE_RLS);
  return rights;
}

void restore_rights(const OwnerRights &rights) { SetUserIdAndSecContext(rights.saved_user, rights.saved_context); }

}  // namespace broker_seats::pg
