// The seat columns of an attached member table: attribute numbers, how each
// column's values are read, and the seat roles. One definition serves the
// change trigger, the TRUNCATE trigger and every recount (seat_count.hpp), so
// "who holds a seat" is decided in one place. The trigger's copy is cached per
// trigger and dropped on relcache invalidation: no catalog lookup per row.
//
// Nothing here calls a function a non-superuser can define: the supported
// column types are read with PostgreSQL's built-in functions, called
// directly, never through a type's (replaceable) cast or output function.
#pragma once

#include <string_view>

#include "core/seat_rules.hpp"

extern "C" {
#include "postgres.h"

#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "utils/rel.h"
}

namespace broker_seats::pg {

enum class ActiveKind { boolean_true, null_timestamp };
enum class OrgKind { text, int4, int8, uuid };
enum class RoleKind { text, blank_padded, enumeration };

struct MemberColumns {
  Oid trigger_oid;  // hash key of the trigger cache
  Oid relid;
  bool valid;
  AttrNumber org_att;
  AttrNumber role_att;
  AttrNumber active_att;
  OrgKind org_kind;
  RoleKind role_kind;
  ActiveKind active_kind;
  // For the binary comparison of old and new rows of an UPDATE.
  int16 org_len, role_len, active_len;
  bool org_byval, role_byval, active_byval;
  int role_count;
  char **roles;  // the seat role labels
  int *role_lengths;
  Oid *role_enum_values;  // RoleKind::enumeration: each label's pg_enum oid
};

// Resolves the mapping (org column, role column, active column, seat roles)
// on `rel` into `out`, allocating in `context`. Raises 42703 for a missing
// column, 42804 naming the column and its type when the type is not one
// SPEC §7 supports, and 22023 when a seat role is not a label of an enum
// role type.
void resolve_member_columns(Relation rel, const char *org_column, const char *role_column,
                            const char *active_column, const char *const *roles, int role_count,
                            MemoryContext context, MemberColumns *out);

// The columns for the trigger being fired on `trigdata->tg_relation`; the
// trigger's arguments are (org column, role column, active column, roles...).
const MemberColumns &member_columns(const TriggerData *trigdata);

// The text of the last org key converted: the rows of one statement mostly
// share a few orgs (a bulk load: one), so the key is converted once per run
// of equal keys, not once per row.
struct OrgTextCache {
  Datum key;
  bool valid;
  std::string_view text;
};

// What rule 2 needs of the row in `slot`: active, seat role, and the org's
// text (only when the row is an active seat role). With `orgs`, equal
// consecutive keys are converted once.
core::MemberSeat read_member(const MemberColumns &cols, TupleTableSlot *slot, OrgTextCache *orgs);

bool is_active(const MemberColumns &cols, Datum active, bool isnull);
bool is_seat_role(const MemberColumns &cols, Datum role);

// The organization key as text, the canonical output of the column's type
// (palloc'd in the current memory context, NUL-terminated).
std::string_view org_text(const MemberColumns &cols, Datum org);

// The org column's value for an organization key, when `org` is the
// canonical text of a value of that type; false when no row can have it.
bool org_datum(const MemberColumns &cols, std::string_view org, Datum *value);

void register_member_column_invalidation();

}  // namespace broker_seats::pg
