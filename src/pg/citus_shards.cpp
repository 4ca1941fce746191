// Citus shards of the seats tables (citus_shards.hpp). The trigger of a
// member table's shard runs on the worker that holds the shard, and the
// counter row of its organization is in the seats.subscription shard of the
// same colocation group and hash range, on the same worker. Citus is never
// linked against: its SQL API is called through fmgr or SPI, schema-
// qualified, and its catalogs (pg_dist_*) are read by name.
#include "pg/citus_shards.hpp"

extern "C" {
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation_d.h"
#include "catalog/pg_namespace_d.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
}

namespace broker_seats::pg {
namespace {

// Which relations are Citus tables, for the few seats tables asked about.
// Forgotten on any relcache invalidation of the relation: Citus
// invalidates a table's relcache entry whenever its metadata changes
// (create_distributed_table, undistribute_table, shard changes).
struct CitusState {
  Oid relid;
  bool citus;
};
constexpr int kStates = 8;
CitusState states[kStates];
int state_count = 0;
bool callback_registered = false;

// pg_dist_placement, its unique index on (shardid, groupid) and those
// columns' numbers in the table, looked up once and forgotten with the
// other answers (a full relcache reset, or an invalidation of the table).
struct Placements {
  Oid relid, index;
  AttrNumber shardid, groupid;
};
Placements placements = {InvalidOid, InvalidOid, 0, 0};

// This node's Citus group (pg_dist_local_group), read once.
int32 local_group = -1;

void forget(Datum, Oid relid) {
  if (relid == InvalidOid || relid == placements.relid) {
    placements.relid = InvalidOid;
    local_group = -1;
  }
  if (relid == InvalidOid) {
    state_count = 0;
    return;
  }
  for (int i = state_count - 1; i >= 0; --i)
    if (states[i].relid == relid) states[i] = states[--state_count];
}

bool ask_citus(Oid relid) {
  // No Citus in this database: its metadata table does not exist.
  if (get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE) == InvalidOid) return false;
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
  Oid types[1] = {OIDOID};
  Datum values[1] = {ObjectIdGetDatum(relid)};
  const int rc = SPI_execute_with_args(
      "SELECT 1 FROM pg_catalog.pg_dist_partition WHERE logicalrelid OPERATOR(pg_catalog.=) $1", 1, types, values,
      nullptr, true, 1);
  const bool found = rc == SPI_OK_SELECT && SPI_processed == 1;
  SPI_finish();
  return found;
}

}  // namespace

bool is_citus_table(Oid relid) {
  for (int i = 0; i < state_count; ++i)
    if (states[i].relid == relid) return states[i].citus;
  if (!callback_registered) {
    CacheRegisterRelcacheCallback(forget, 0);
    callback_registered = true;
  }
  const bool citus = ask_citus(relid);
  if (state_count == kStates) state_count = 0;  // a handful of tables ever ask: start over
  states[state_count++] = CitusState{relid, citus};
  return citus;
}

namespace {

// Citus's get_shard_id_for_distribution_column(regclass, "any"), called
// directly (no SPI: one planner and executor run per organization and
// statement cost a third of an insert through the coordinator). Its
// FmgrInfo carries an expression whose second argument is text, so that
// the function can tell the value's type (get_fn_expr_argtype).
FmgrInfo shard_id_function;
bool shard_id_function_ready = false;

const FmgrInfo *shard_id_of() {
  if (shard_id_function_ready) return &shard_id_function;
  List *name = list_make2(makeString(pstrdup("pg_catalog")), makeString(pstrdup("get_shard_id_for_distribution_column")));
  const Oid argtypes[2] = {REGCLASSOID, ANYOID};
  const Oid function = LookupFuncName(name, 2, argtypes, false);
  MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
  fmgr_info_cxt(function, &shard_id_function, TopMemoryContext);
  List *args = list_make2(makeNullConst(REGCLASSOID, -1, InvalidOid), makeNullConst(TEXTOID, -1, DEFAULT_COLLATION_OID));
  fmgr_info_set_expr(reinterpret_cast<Node *>(makeFuncExpr(function, INT8OID, args, InvalidOid, DEFAULT_COLLATION_OID,
                                                            COERCE_EXPLICIT_CALL)),
                     &shard_id_function);
  MemoryContextSwitchTo(old);
  shard_id_function_ready = true;
  return &shard_id_function;
}


int32 local_group_id() {
  if (local_group >= 0) return local_group;
  Relation rel = table_open(get_relname_relid("pg_dist_local_group", PG_CATALOG_NAMESPACE), AccessShareLock);
  SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, nullptr, 0, nullptr);
  HeapTuple tuple = systable_getnext(scan);
  if (!HeapTupleIsValid(tuple)) elog(ERROR, "pg_dist_local_group is empty");
  bool isnull;
  const Datum group = heap_getattr(tuple, get_attnum(RelationGetRelid(rel), "groupid"), RelationGetDescr(rel), &isnull);
  local_group = isnull ? 0 : DatumGetInt32(group);
  systable_endscan(scan);
  table_close(rel, AccessShareLock);
  return local_group;
}

const Placements &placement_catalog() {
  if (placements.relid != InvalidOid) return placements;
  Placements p;
  p.relid = get_relname_relid("pg_dist_placement", PG_CATALOG_NAMESPACE);
  p.index = get_relname_relid("placement_shardid_groupid_unique_index", PG_CATALOG_NAMESPACE);
  if (p.relid == InvalidOid || p.index == InvalidOid) elog(ERROR, "Citus's pg_dist_placement is missing");
  p.shardid = get_attnum(p.relid, "shardid");
  p.groupid = get_attnum(p.relid, "groupid");
  placements = p;
  return placements;
}

// Has this node's group a placement of `shard`?
bool placement_here(int64 shard) {
  const int32 group = local_group_id();
  const Placements &p = placement_catalog();
  Relation rel = table_open(p.relid, AccessShareLock);
  ScanKeyData keys[2];
  // Heap column numbers (systable_beginscan maps them to the index).
  ScanKeyInit(&keys[0], p.shardid, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(shard));
  ScanKeyInit(&keys[1], p.groupid, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(group));
  SysScanDesc scan = systable_beginscan(rel, p.index, true, nullptr, 2, keys);
  const bool found = HeapTupleIsValid(systable_getnext(scan));
  systable_endscan(scan);
  table_close(rel, AccessShareLock);
  return found;
}

// The shard of `relid` for `org` on this node (InvalidOid: elsewhere); its
// id in *shard_out. Citus checks SELECT on the table, which the writers of
// member tables are not granted on the seats tables: asked as the table's
// owner (the extension's), with no name resolved.
Oid find_local_shard(Oid relid, const char *org, int length, int64 *shard_out) {
  const FmgrInfo *flinfo = shard_id_of();
  LOCAL_FCINFO(fcinfo, 2);
  InitFunctionCallInfoData(*fcinfo, const_cast<FmgrInfo *>(flinfo), 2, DEFAULT_COLLATION_OID, nullptr, nullptr);
  fcinfo->args[0].value = ObjectIdGetDatum(relid);
  fcinfo->args[0].isnull = false;
  fcinfo->args[1].value = org ? PointerGetDatum(cstring_to_text_with_len(org, length)) : 0;
  fcinfo->args[1].isnull = org == nullptr;
  HeapTuple classtuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
  if (!HeapTupleIsValid(classtuple)) elog(ERROR, "cache lookup failed for relation %u", relid);
  const Oid owner = reinterpret_cast<Form_pg_class>(GETSTRUCT(classtuple))->relowner;
  ReleaseSysCache(classtuple);
  Oid user;
  int security;
  GetUserIdAndSecContext(&user, &security);
  SetUserIdAndSecContext(owner, security | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
  // An error unwinds the user change with the (sub)transaction.
  const Datum result = FunctionCallInvoke(fcinfo);
  SetUserIdAndSecContext(user, security);
  if (fcinfo->isnull) elog(ERROR, "no Citus shard for %s", get_rel_name(relid));
  const int64 shard = DatumGetInt64(result);
  *shard_out = shard;
  // A shard moved away leaves its table behind until Citus cleans it up:
  // only a placement of this node's group is the org's rows.
  if (!placement_here(shard)) return InvalidOid;
  char name[NAMEDATALEN * 2];
  snprintf(name, sizeof name, "%s_" INT64_FORMAT, get_rel_name(relid), shard);
  return get_relname_relid(name, get_rel_namespace(relid));
}

}  // namespace

Oid local_rows_if_here(Oid relid, const char *org, int length) {
  if (!is_citus_table(relid)) return relid;
  int64 shard;
  return find_local_shard(relid, org, length, &shard);
}

Oid local_rows(Oid relid, const char *org, int length) {
  if (!is_citus_table(relid)) return relid;
  int64 shard;
  const Oid local = find_local_shard(relid, org, length, &shard);
  if (local == InvalidOid)
    ereport(ERROR,
            (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
             errmsg("the seats of organization \"%.*s\" are not on this node", org ? length : 0, org ? org : ""),
             errdetail("%s is distributed by Citus and its shard " INT64_FORMAT " is on another node.",
                       get_rel_name(relid), shard),
             errhint("Call the seats functions through the coordinator: seats.distribute() delegates them to the "
                     "worker that holds the organization (docs/citus.md).")));
  return local;
}

}  // namespace broker_seats::pg
