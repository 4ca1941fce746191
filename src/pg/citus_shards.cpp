// Citus shards of the seats tables (citus_shards.hpp). The trigger of a
// member table's shard runs on the worker that holds the shard, and the
// counter row of its organization is in the seats.subscription shard of the
// same colocation group and hash range, on the same worker. Citus is never
// linked against: its metadata is asked through its SQL API, schema-
// qualified, by SPI.
#include "pg/citus_shards.hpp"

extern "C" {
#include "catalog/namespace.h"
#include "catalog/pg_namespace_d.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
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

void forget(Datum, Oid relid) {
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

// The shard of `relid` for `org` on this node (InvalidOid: elsewhere); its
// id in *shard_out.
Oid find_local_shard(Oid relid, const char *org, int length, int64 *shard_out) {
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
  Oid types[2] = {REGCLASSOID, TEXTOID};
  Datum values[2] = {ObjectIdGetDatum(relid), org ? PointerGetDatum(cstring_to_text_with_len(org, length)) : 0};
  const char nulls[2] = {' ', static_cast<char>(org ? ' ' : 'n')};
  // The shard of the hash range of `org` (of the one shard of a reference
  // table), by Citus's own hash of the distribution column.
  const int rc = SPI_execute_with_args("SELECT pg_catalog.get_shard_id_for_distribution_column($1, $2)", 2, types,
                                       values, nulls, true, 1);
  if (rc != SPI_OK_SELECT || SPI_processed != 1) elog(ERROR, "no Citus shard for %s", get_rel_name(relid));
  bool isnull;
  const int64 shard = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
  SPI_finish();
  if (isnull) elog(ERROR, "no Citus shard for %s", get_rel_name(relid));
  // Citus names a shard <table>_<shard id>, in the table's schema (the
  // seats tables' names are far from NAMEDATALEN, where it would shorten).
  char name[NAMEDATALEN * 2];
  snprintf(name, sizeof name, "%s_" INT64_FORMAT, get_rel_name(relid), shard);
  *shard_out = shard;
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
