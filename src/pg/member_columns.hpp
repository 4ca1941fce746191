// Per-trigger cache of an attached member table's seat columns: attribute
// numbers, types, output functions and seat roles, resolved once and dropped
// on relcache invalidation, so the trigger does no catalog lookup per row.
#pragma once

extern "C" {
#include "postgres.h"

#include "commands/trigger.h"
#include "fmgr.h"
}

namespace broker_seats::pg {

enum class ActiveKind { boolean_true, null_timestamp };

struct MemberColumns {
  Oid trigger_oid;  // hash key
  Oid relid;
  bool valid;
  AttrNumber org_att;
  AttrNumber role_att;
  AttrNumber active_att;
  Oid org_type;
  bool org_is_text;  // text/varchar: bytes used as they are
  FmgrInfo org_output;
  bool role_is_text;
  FmgrInfo role_output;
  ActiveKind active_kind;
  // For the binary comparison of old and new rows of an UPDATE.
  int16 org_len, role_len, active_len;
  bool org_byval, role_byval, active_byval;
  int role_count;
  char **roles;  // in CacheMemoryContext
  int *role_lengths;
};

// The columns for the trigger being fired on `trigdata->tg_relation`; the
// trigger's arguments are (org column, role column, active column, roles...).
const MemberColumns &member_columns(const TriggerData *trigdata);

// Does this role datum name one of the seat roles?
bool is_seat_role(const MemberColumns &cols, Datum role);

void register_member_column_invalidation();

}  // namespace broker_seats::pg
