// The part of the DDL guard that must see a command before it runs: after
// CREATE OR REPLACE TRIGGER, the catalog shows only the new trigger, and a
// replaced enforcement trigger cannot be told from one that never was. The
// rest of the guard judges the catalog state afterwards (55_ddl_guard.sql).
#include "pg/boundary.hpp"
#include "pg/module.hpp"

extern "C" {
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_trigger.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "nodes/parsenodes.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
}

namespace broker_seats::pg {
namespace {

// The oid of seats.<name>(), looked up in schema seats only.
Oid enforcement_function(const char *name) {
  List *qualified = list_make2(makeString(pstrdup("seats")), makeString(pstrdup(name)));
  const Oid no_arguments[1] = {InvalidOid};
  return LookupFuncName(qualified, 0, no_arguments, true);
}

// The function of the trigger `name` on `relid`, or InvalidOid.
Oid trigger_function(Oid relid, const char *name) {
  Relation triggers = table_open(TriggerRelationId, AccessShareLock);
  ScanKeyData keys[2];
  ScanKeyInit(&keys[0], Anum_pg_trigger_tgrelid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
  ScanKeyInit(&keys[1], Anum_pg_trigger_tgname, BTEqualStrategyNumber, F_NAMEEQ, CStringGetDatum(name));
  SysScanDesc scan = systable_beginscan(triggers, TriggerRelidNameIndexId, true, nullptr, 2, keys);
  HeapTuple tuple = systable_getnext(scan);
  const Oid function = HeapTupleIsValid(tuple) ? reinterpret_cast<Form_pg_trigger>(GETSTRUCT(tuple))->tgfoid : InvalidOid;
  systable_endscan(scan);
  table_close(triggers, AccessShareLock);
  return function;
}

}  // namespace
}  // namespace broker_seats::pg

using namespace broker_seats;

// seats._ddl_start_guard(): ddl_command_start on CREATE TRIGGER. Refuses
// (55006) a CREATE OR REPLACE TRIGGER that would replace an enforcement
// trigger, whatever it is called now.
BROKER_SEATS_FUNCTION(seats_ddl_start_guard) {
  if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
    ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                    errmsg("seats._ddl_start_guard: not called by the event trigger manager")));
  const auto *event = reinterpret_cast<EventTriggerData *>(fcinfo->context);
  if (pg::internal_ddl() || event->parsetree == nullptr || !IsA(event->parsetree, CreateTrigStmt))
    PG_RETURN_VOID();
  const auto *stmt = reinterpret_cast<const CreateTrigStmt *>(event->parsetree);
  if (!stmt->replace) PG_RETURN_VOID();
  // The relation as the command will resolve it, locked as the command
  // locks it (so no rename can swap it in between); a missing one is the
  // command's own error to raise.
  const Oid relid = RangeVarGetRelidExtended(stmt->relation, ShareRowExclusiveLock, RVR_MISSING_OK, nullptr, nullptr);
  if (!OidIsValid(relid)) PG_RETURN_VOID();
  // A row trigger on a partitioned table is cloned to every partition, and
  // the clone replaces a partition's trigger of that name: look at them all.
  List *relations = list_make1_oid(relid);
  if (stmt->row && get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE)
    relations = find_all_inheritors(relid, ShareRowExclusiveLock, nullptr);
  const Oid change_function = pg::enforcement_function("member_change_trigger");
  const Oid truncate_function = pg::enforcement_function("member_truncate_trigger");
  ListCell *lc;
  foreach (lc, relations) {
    const Oid target = lfirst_oid(lc);
    const Oid function = pg::trigger_function(target, stmt->trigname);
    if (OidIsValid(function) && (function == change_function || function == truncate_function))
      ereport(ERROR, (errcode(ERRCODE_OBJECT_IN_USE),
                      errmsg("enforcement trigger \"%s\" on %s cannot be replaced", stmt->trigname,
                             get_rel_name(target)),
                      errhint("Use seats.detach() to stop enforcing seats on a table.")));
  }
  PG_RETURN_VOID();
}
