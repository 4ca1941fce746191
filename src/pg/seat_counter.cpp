#include "core/messages.hpp"
#include "pg/boundary.hpp"
#include "pg/module.hpp"
#include "pg/seat_counter.hpp"

extern "C" {
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
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

SPIPlanPtr keep(const char *sql, int nargs, Oid *types) {
  SPIPlanPtr plan = SPI_prepare(sql, nargs, types);
  if (plan == nullptr) elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql, SPI_result_code_string(SPI_result));
  SPI_keepplan(plan);
  return plan;
}

// One statement locks the row, checks the limit and writes the counter.
SPIPlanPtr add_plan() {
  static SPIPlanPtr plan = nullptr;
  if (plan == nullptr) {
    Oid types[2] = {TEXTOID, INT8OID};
    plan = keep(
        "UPDATE seats.subscription SET seats_used = seats_used + $2 "
        "WHERE org OPERATOR(pg_catalog.=) $1 "
        "AND ($2 OPERATOR(pg_catalog.<=) 0 OR seats_used + $2 OPERATOR(pg_catalog.<=) seat_limit) "
        "RETURNING seats_used",
        2, types);
  }
  return plan;
}

// Only on the refusal path: why was the update refused?
SPIPlanPtr usage_plan() {
  static SPIPlanPtr plan = nullptr;
  if (plan == nullptr) {
    Oid types[1] = {TEXTOID};
    plan = keep("SELECT seats_used, seat_limit FROM seats.subscription WHERE org OPERATOR(pg_catalog.=) $1", 1,
                types);
  }
  return plan;
}

int execute_latest(SPIPlanPtr plan, Datum *values, bool read_only) {
  // The org lock is held: the latest snapshot shows every committed change
  // to the counter and none can commit until we do. AFTER triggers the
  // statement queues fire inside this call: left to the caller's query
  // level (TRUNCATE's, say) they would outlive its executor state.
  const int rc = SPI_execute_snapshot(plan, values, nullptr, GetLatestSnapshot(), InvalidSnapshot, read_only,
                                      true, 0);
  if (rc < 0) elog(ERROR, "SPI_execute_snapshot failed: %s", SPI_result_code_string(rc));
  return rc;
}

int64 column_int8(int column) {
  bool isnull;
  Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, column, &isnull);
  if (isnull) return 0;
  return SPI_gettypeid(SPI_tuptable->tupdesc, column) == INT4OID ? DatumGetInt32(d) : DatumGetInt64(d);
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
  Datum values[2] = {CStringGetTextDatum(org), Int64GetDatum(delta)};
  execute_latest(add_plan(), values, false);
  if (SPI_processed == 1) return;
  execute_latest(usage_plan(), values, true);
  if (SPI_processed == 0) {
    if (delta <= 0) return;  // freeing a seat of an org without subscription: nothing to count
    raise_refusal(org, 0, 0, delta, false);
  }
  raise_refusal(org, column_int8(1), column_int8(2), delta, true);
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
