#include <algorithm>

#include "pg/member_columns.hpp"
#include "core/seat_rules.hpp"

extern "C" {
#include "access/htup_details.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/uuid.h"
}

namespace broker_seats::pg {
namespace {

HTAB *column_cache = nullptr;

void invalidate_relation(Datum, Oid relid) {
  if (column_cache == nullptr) return;
  HASH_SEQ_STATUS scan;
  hash_seq_init(&scan, column_cache);
  while (auto *entry = static_cast<MemberColumns *>(hash_seq_search(&scan)))
    if (relid == InvalidOid || entry->relid == relid) entry->valid = false;
}

// A renamed enum label changes pg_enum, not the table: drop every cached
// label resolution.
void invalidate_enum(Datum, int, uint32) { invalidate_relation(0, InvalidOid); }

AttrNumber column_number(Relation rel, const char *name, const char *what) {
  const int attnum = SPI_fnumber(RelationGetDescr(rel), name);
  if (attnum <= 0)
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
                    errmsg("%s column \"%s\" of relation \"%s\" does not exist", what, name,
                           RelationGetRelationName(rel)),
                    errhint("Run seats.attach() again after renaming or dropping a seat column.")));
  return static_cast<AttrNumber>(attnum);
}

// The column's base type (through domains), with its length facts.
Oid column_type(Relation rel, AttrNumber att, int16 *len, bool *byval) {
  const Form_pg_attribute attr = TupleDescAttr(RelationGetDescr(rel), att - 1);
  *len = attr->attlen;
  *byval = attr->attbyval;
  return attr->atttypid;
}

[[noreturn]] void unsupported_type(Relation rel, const char *what, const char *column, Oid type,
                                   const char *expected) {
  ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                  errmsg("%s column \"%s\" of relation \"%s\" has type %s, expected %s", what, column,
                         RelationGetRelationName(rel), format_type_be(type), expected)));
}

OrgKind org_kind_of(Relation rel, const char *column, Oid type) {
  // No domains: the key's text must be the base type's canonical output.
  switch (type) {
    case TEXTOID:
    case VARCHAROID:
      return OrgKind::text;
    case INT4OID:
      return OrgKind::int4;
    case INT8OID:
      return OrgKind::int8;
    case UUIDOID:
      return OrgKind::uuid;
    default:
      unsupported_type(rel, "org", column, type, "bigint, integer, uuid, text or varchar");
  }
}

RoleKind role_kind_of(Relation rel, const char *column, Oid type, Oid *enum_type) {
  const Oid base = getBaseType(type);
  if (base == TEXTOID || base == VARCHAROID) return RoleKind::text;
  if (base == BPCHAROID) return RoleKind::blank_padded;
  if (type_is_enum(base)) {
    *enum_type = base;
    return RoleKind::enumeration;
  }
  unsupported_type(rel, "role", column, type, "text, varchar, char(n), an enum or a domain over one of them");
}

ActiveKind active_kind_of(Relation rel, const char *column, Oid type) {
  const Oid base = getBaseType(type);
  if (base == BOOLOID) return ActiveKind::boolean_true;
  if (base == TIMESTAMPOID || base == TIMESTAMPTZOID || base == DATEOID) return ActiveKind::null_timestamp;
  unsupported_type(rel, "active", column, type, "boolean (true = active) or a timestamp or date (NULL = active)");
}

Oid enum_value(Oid enum_type, const char *label) {
  if (strlen(label) >= NAMEDATALEN) return InvalidOid;
  HeapTuple tuple = SearchSysCache2(ENUMTYPOIDNAME, ObjectIdGetDatum(enum_type), CStringGetDatum(label));
  if (!HeapTupleIsValid(tuple)) return InvalidOid;
  const Oid value = reinterpret_cast<Form_pg_enum>(GETSTRUCT(tuple))->oid;
  ReleaseSysCache(tuple);
  return value;
}

void fill_from_trigger(MemberColumns *cols, const TriggerData *trigdata) {
  const Trigger *trigger = trigdata->tg_trigger;
  if (trigger->tgnargs < 4)
    ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                    errmsg("trigger \"%s\" needs the org, role and active column names and the seat roles as arguments",
                           trigger->tgname)));
  if (cols->roles != nullptr) {
    for (int i = 0; i < cols->role_count; ++i) pfree(cols->roles[i]);
    pfree(cols->roles);
    pfree(cols->role_lengths);
    pfree(cols->role_enum_values);
    cols->roles = nullptr;
  }
  const Oid key = cols->trigger_oid;
  resolve_member_columns(trigdata->tg_relation, trigger->tgargs[0], trigger->tgargs[1], trigger->tgargs[2],
                         trigger->tgargs + 3, trigger->tgnargs - 3, CacheMemoryContext, cols);
  cols->trigger_oid = key;
}

bool parse_canonical_integer(std::string_view s, int64 min, int64 max, int64 *out) {
  if (s.empty() || s.size() > 20) return false;
  size_t i = 0;
  const bool negative = s[0] == '-';
  if (negative) i = 1;
  if (i == s.size()) return false;
  if (s[i] == '0' && (s.size() - i > 1 || negative)) return false;  // "007", "-0" are not canonical
  __int128 value = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    value = value * 10 + (s[i] - '0');
  }
  if (negative) value = -value;
  if (value < min || value > max) return false;
  *out = static_cast<int64>(value);
  return true;
}

bool canonical_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

}  // namespace

void resolve_member_columns(Relation rel, const char *org_column, const char *role_column,
                            const char *active_column, const char *const *roles, int role_count,
                            MemoryContext context, MemberColumns *out) {
  MemberColumns cols{};
  cols.relid = RelationGetRelid(rel);
  cols.org_att = column_number(rel, org_column, "org");
  cols.role_att = column_number(rel, role_column, "role");
  cols.active_att = column_number(rel, active_column, "active");
  cols.org_kind = org_kind_of(rel, org_column, column_type(rel, cols.org_att, &cols.org_len, &cols.org_byval));
  Oid enum_type = InvalidOid;
  cols.role_kind =
      role_kind_of(rel, role_column, column_type(rel, cols.role_att, &cols.role_len, &cols.role_byval), &enum_type);
  cols.active_kind =
      active_kind_of(rel, active_column, column_type(rel, cols.active_att, &cols.active_len, &cols.active_byval));

  // Enum labels resolved (and refused) before anything is kept in
  // `context`, which may be CacheMemoryContext.
  Oid *enum_values = static_cast<Oid *>(palloc(sizeof(Oid) * (role_count + 1)));
  for (int i = 0; i < role_count; ++i) {
    enum_values[i] = InvalidOid;
    if (cols.role_kind != RoleKind::enumeration) continue;
    enum_values[i] = enum_value(enum_type, roles[i]);
    if (enum_values[i] == InvalidOid)
      ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                      errmsg("seat role \"%s\" is not a label of enum type %s (role column \"%s\" of relation \"%s\")",
                             roles[i], format_type_be(enum_type), role_column, RelationGetRelationName(rel)),
                      errhint("Name the seat roles exactly as the enum's labels.")));
  }
  MemoryContext old = MemoryContextSwitchTo(context);
  cols.role_count = role_count;
  cols.roles = static_cast<char **>(palloc(sizeof(char *) * (role_count + 1)));
  cols.role_lengths = static_cast<int *>(palloc(sizeof(int) * (role_count + 1)));
  cols.role_enum_values = static_cast<Oid *>(palloc(sizeof(Oid) * (role_count + 1)));
  for (int i = 0; i < role_count; ++i) {
    cols.roles[i] = pstrdup(roles[i]);
    cols.role_lengths[i] = static_cast<int>(strlen(cols.roles[i]));
    cols.role_enum_values[i] = enum_values[i];
  }
  MemoryContextSwitchTo(old);
  pfree(enum_values);
  cols.valid = true;
  *out = cols;
}

void register_member_column_invalidation() {
  CacheRegisterRelcacheCallback(invalidate_relation, 0);
  CacheRegisterSyscacheCallback(ENUMTYPOIDNAME, invalidate_enum, 0);
}

const MemberColumns &member_columns(const TriggerData *trigdata) {
  if (column_cache == nullptr) {
    HASHCTL ctl;
    memset(&ctl, 0, sizeof ctl);
    ctl.keysize = sizeof(Oid);
    ctl.entrysize = sizeof(MemberColumns);
    ctl.hcxt = CacheMemoryContext;
    column_cache = hash_create("broker_seats member columns", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
  }
  const Oid key = trigdata->tg_trigger->tgoid;
  bool found;
  auto *cols = static_cast<MemberColumns *>(hash_search(column_cache, &key, HASH_ENTER, &found));
  if (!found) {
    cols->valid = false;
    cols->roles = nullptr;
    cols->role_count = 0;
  }
  if (!cols->valid || cols->relid != RelationGetRelid(trigdata->tg_relation)) {
    // Marked invalid first: should resolving fail, the next call tries again.
    cols->valid = false;
    fill_from_trigger(cols, trigdata);
  }
  return *cols;
}

bool is_active(const MemberColumns &cols, Datum active, bool isnull) {
  return cols.active_kind == ActiveKind::boolean_true ? (!isnull && DatumGetBool(active)) : isnull;
}

bool is_seat_role(const MemberColumns &cols, Datum role) {
  if (cols.role_kind == RoleKind::enumeration) {
    const Oid value = DatumGetObjectId(role);
    for (int i = 0; i < cols.role_count; ++i)
      if (cols.role_enum_values[i] == value) return true;
    return false;
  }
  text *t = DatumGetTextPP(role);
  const std::string_view value(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
  // At most a handful of seat roles: views on the stack, no allocation.
  constexpr int max_inline = 16;
  std::string_view labels[max_inline];
  const core::RoleComparison how =
      cols.role_kind == RoleKind::blank_padded ? core::RoleComparison::blank_padded : core::RoleComparison::exact;
  for (int start = 0; start < cols.role_count; start += max_inline) {
    const int n = std::min(max_inline, cols.role_count - start);
    for (int i = 0; i < n; ++i) labels[i] = std::string_view(cols.roles[start + i], cols.role_lengths[start + i]);
    if (core::is_seat_role(value, labels, static_cast<size_t>(n), how)) return true;
  }
  return false;
}

std::string_view org_text(const MemberColumns &cols, Datum org) {
  const char *converted = nullptr;
  switch (cols.org_kind) {
    case OrgKind::text: {
      text *t = DatumGetTextPP(org);
      const int length = VARSIZE_ANY_EXHDR(t);
      char *copy = static_cast<char *>(palloc(length + 1));
      memcpy(copy, VARDATA_ANY(t), length);
      copy[length] = '\0';
      return std::string_view(copy, length);
    }
    case OrgKind::int4:
      converted = DatumGetCString(DirectFunctionCall1(int4out, org));
      break;
    case OrgKind::int8:
      converted = DatumGetCString(DirectFunctionCall1(int8out, org));
      break;
    case OrgKind::uuid:
      converted = DatumGetCString(DirectFunctionCall1(uuid_out, org));
      break;
  }
  return std::string_view(converted, strlen(converted));
}

core::MemberSeat read_member(const MemberColumns &cols, TupleTableSlot *slot, OrgTextCache *orgs) {
  core::MemberSeat seat;
  bool isnull;
  const Datum active = slot_getattr(slot, cols.active_att, &isnull);
  seat.active = is_active(cols, active, isnull);
  if (!seat.active) return seat;
  const Datum role = slot_getattr(slot, cols.role_att, &isnull);
  seat.seat_role = !isnull && is_seat_role(cols, role);
  if (!seat.seat_role) return seat;
  const Datum org = slot_getattr(slot, cols.org_att, &isnull);
  if (isnull) return seat;
  if (orgs == nullptr) {
    seat.org = org_text(cols, org);
    return seat;
  }
  if (!orgs->valid || !datumIsEqual(orgs->key, org, cols.org_byval, cols.org_len)) {
    // The slot's datum dies with the next row: keep a copy of the key.
    orgs->key = datumCopy(org, cols.org_byval, cols.org_len);
    orgs->valid = true;
    orgs->text = org_text(cols, org);
  }
  seat.org = orgs->text;
  return seat;
}

bool org_datum(const MemberColumns &cols, std::string_view org, Datum *value) {
  int64 number;
  switch (cols.org_kind) {
    case OrgKind::text:
      *value = PointerGetDatum(cstring_to_text_with_len(org.data(), static_cast<int>(org.size())));
      return true;
    case OrgKind::int4:
      if (!parse_canonical_integer(org, PG_INT32_MIN, PG_INT32_MAX, &number)) return false;
      *value = Int32GetDatum(static_cast<int32>(number));
      return true;
    case OrgKind::int8:
      if (!parse_canonical_integer(org, PG_INT64_MIN, PG_INT64_MAX, &number)) return false;
      *value = Int64GetDatum(number);
      return true;
    case OrgKind::uuid: {
      if (!canonical_uuid(org)) return false;
      char buffer[37];
      memcpy(buffer, org.data(), 36);
      buffer[36] = '\0';
      *value = DirectFunctionCall1(uuid_in, CStringGetDatum(buffer));
      return true;
    }
  }
  return false;
}

}  // namespace broker_seats::pg
