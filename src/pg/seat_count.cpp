#include "pg/seat_count.hpp"

#include "core/seat_rules.hpp"

extern "C" {
#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/tableam.h"
#include "catalog/pg_am.h"
#include "catalog/pg_index.h"
#include "common/hashfn.h"
#include "executor/tuptable.h"
#include "nodes/pg_list.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
}

namespace broker_seats::pg {
namespace {

uint32 org_hash(const void *key, Size) {
  const char *org = *static_cast<char *const *>(key);
  return hash_bytes(reinterpret_cast<const unsigned char *>(org), static_cast<int>(strlen(org)));
}

int org_match(const void *a, const void *b, Size) {
  return strcmp(*static_cast<char *const *>(a), *static_cast<char *const *>(b));
}


// A btree index whose first column is the org column, usable to find one
// organization's rows. Its operator class is one a superuser created (only
// superusers can create operator classes), and every row it returns is
// checked again byte for byte, so a collation that equates more than bytes
// cannot add seats.
Oid org_index(Relation rel, const MemberColumns &cols) {
  List *indexes = RelationGetIndexList(rel);
  Oid found = InvalidOid;
  ListCell *lc;
  foreach (lc, indexes) {
    const Oid index_oid = lfirst_oid(lc);
    Relation index = index_open(index_oid, AccessShareLock);
    const bool usable = index->rd_rel->relam == BTREE_AM_OID && index->rd_index->indisvalid &&
                        index->rd_index->indkey.values[0] == cols.org_att &&
                        heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, nullptr);
    index_close(index, AccessShareLock);
    if (usable) {
      found = index_oid;
      break;
    }
  }
  list_free(indexes);
  return found;
}

// Counts the row in `slot` when it holds a seat (of `org`, when given),
// by the same reading and rule as the change trigger.
// The row's text conversions live in `row_context`, reset after each row.
void count_row(const MemberColumns &cols, TupleTableSlot *slot, const std::string_view *org, HTAB *counts,
               MemoryContext keep, MemoryContext row_context) {
  MemoryContext old = MemoryContextSwitchTo(row_context);
  const core::MemberSeat seat = read_member(cols, slot, nullptr);
  if (core::consumes_seat(seat) && (org == nullptr || *seat.org == *org)) add_seats(counts, *seat.org, 1, keep);
  MemoryContextSwitchTo(old);
  MemoryContextReset(row_context);
}

}  // namespace

void add_seats(HTAB *counts, std::string_view org, int64 seats, MemoryContext keep) {
  // The views point at NUL-terminated text (org_text guarantees it).
  const char *key = org.data();
  bool found;
  auto *entry = static_cast<OrgCount *>(hash_search(counts, &key, HASH_ENTER, &found));
  if (!found) {
    entry->org = MemoryContextStrdup(keep, key);
    entry->count = 0;
  }
  entry->count += seats;
}

core::OrgDelta *deltas_of_counts(HTAB *counts, int sign, std::size_t *n) {
  *n = 0;
  const long entries = hash_get_num_entries(counts);
  if (entries == 0) return nullptr;
  auto *deltas = static_cast<core::OrgDelta *>(palloc_extended(sizeof(core::OrgDelta) * entries, MCXT_ALLOC_HUGE));
  HASH_SEQ_STATUS scan;
  hash_seq_init(&scan, counts);
  while (auto *entry = static_cast<OrgCount *>(hash_seq_search(&scan)))
    if (entry->count != 0) deltas[(*n)++] = core::OrgDelta{std::string_view(entry->org), sign * entry->count};
  return deltas;
}

HTAB *create_seat_counts(MemoryContext context) {
  HASHCTL ctl;
  memset(&ctl, 0, sizeof ctl);
  ctl.keysize = sizeof(char *);
  ctl.entrysize = sizeof(OrgCount);
  ctl.hash = org_hash;
  ctl.match = org_match;
  ctl.hcxt = context;
  return hash_create("broker_seats seat counts", 256, &ctl, HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
}

void count_relation_seats(Relation rel, const MemberColumns &cols, const std::string_view *org, HTAB *counts,
                          bool active_snapshot) {
  if (!RELKIND_HAS_STORAGE(rel->rd_rel->relkind)) return;
  Datum key_value = 0;
  if (org != nullptr && !org_datum(cols, *org, &key_value)) return;  // no row can have that key
  const Oid index_oid = org != nullptr ? org_index(rel, cols) : InvalidOid;

  // Per-row text conversions live in a context reset every row; the
  // counts' keys in the caller's.
  MemoryContext keep = CurrentMemoryContext;
  MemoryContext row_context =
      AllocSetContextCreate(CurrentMemoryContext, "broker_seats recount row", ALLOCSET_SMALL_SIZES);
  Snapshot snapshot = RegisterSnapshot(active_snapshot ? GetActiveSnapshot() : GetLatestSnapshot());
  TupleTableSlot *slot = table_slot_create(rel, nullptr);
  if (index_oid != InvalidOid) {
    Relation index = index_open(index_oid, AccessShareLock);
    const Oid operator_oid = get_opfamily_member(index->rd_opfamily[0], index->rd_opcintype[0],
                                                 index->rd_opcintype[0], BTEqualStrategyNumber);
    if (!OidIsValid(operator_oid))
      elog(ERROR, "no equality operator in the operator family of index \"%s\"", RelationGetRelationName(index));
    ScanKeyData key;
    ScanKeyEntryInitialize(&key, 0, 1, BTEqualStrategyNumber, index->rd_opcintype[0], index->rd_indcollation[0],
                           get_opcode(operator_oid), key_value);
    IndexScanDesc scan = index_beginscan(rel, index, snapshot, 1, 0);
    index_rescan(scan, &key, 1, nullptr, 0);
    while (index_getnext_slot(scan, ForwardScanDirection, slot)) count_row(cols, slot, org, counts, keep, row_context);
    index_endscan(scan);
    index_close(index, AccessShareLock);
  } else {
    TableScanDesc scan = table_beginscan(rel, snapshot, 0, nullptr);
    while (table_scan_getnextslot(scan, ForwardScanDirection, slot)) count_row(cols, slot, org, counts, keep, row_context);
    table_endscan(scan);
  }
  ExecDropSingleTupleTableSlot(slot);
  UnregisterSnapshot(snapshot);
  MemoryContextDelete(row_context);
}

}  // namespace broker_seats::pg
