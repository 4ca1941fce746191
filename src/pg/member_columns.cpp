#include "pg/member_columns.hpp"

extern "C" {
#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
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

AttrNumber column_number(Relation rel, const char *name, const char *what) {
  const int attnum = SPI_fnumber(RelationGetDescr(rel), name);
  if (attnum <= 0)
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
                    errmsg("%s column \"%s\" of relation \"%s\" does not exist", what, name,
                           RelationGetRelationName(rel)),
                    errhint("Run seats.attach() again after renaming or dropping a seat column.")));
  return static_cast<AttrNumber>(attnum);
}

void type_facts(Relation rel, AttrNumber att, Oid *type, int16 *len, bool *byval) {
  const Form_pg_attribute attr = TupleDescAttr(RelationGetDescr(rel), att - 1);
  *type = attr->atttypid;
  *len = attr->attlen;
  *byval = attr->attbyval;
}

bool is_text_type(Oid type) { return type == TEXTOID || type == VARCHAROID || type == BPCHAROID; }

void output_function(Oid type, FmgrInfo *out) {
  Oid func;
  bool varlena;
  getTypeOutputInfo(type, &func, &varlena);
  fmgr_info_cxt(func, out, CacheMemoryContext);
}

void fill(MemberColumns *cols, const TriggerData *trigdata) {
  const Trigger *trigger = trigdata->tg_trigger;
  Relation rel = trigdata->tg_relation;
  if (trigger->tgnargs < 3)
    ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                    errmsg("trigger \"%s\" needs the org, role and active column names as arguments",
                           trigger->tgname)));
  if (cols->roles != nullptr) {
    for (int i = 0; i < cols->role_count; ++i) pfree(cols->roles[i]);
    pfree(cols->roles);
    pfree(cols->role_lengths);
    cols->roles = nullptr;
  }
  cols->relid = RelationGetRelid(rel);
  cols->org_att = column_number(rel, trigger->tgargs[0], "org");
  cols->role_att = column_number(rel, trigger->tgargs[1], "role");
  cols->active_att = column_number(rel, trigger->tgargs[2], "active");

  type_facts(rel, cols->org_att, &cols->org_type, &cols->org_len, &cols->org_byval);
  cols->org_is_text = is_text_type(cols->org_type);
  output_function(cols->org_type, &cols->org_output);

  Oid role_type;
  type_facts(rel, cols->role_att, &role_type, &cols->role_len, &cols->role_byval);
  cols->role_is_text = role_type == TEXTOID || role_type == VARCHAROID;
  output_function(role_type, &cols->role_output);

  Oid active_type;
  type_facts(rel, cols->active_att, &active_type, &cols->active_len, &cols->active_byval);
  if (active_type == BOOLOID)
    cols->active_kind = ActiveKind::boolean_true;
  else if (active_type == TIMESTAMPOID || active_type == TIMESTAMPTZOID || active_type == DATEOID)
    cols->active_kind = ActiveKind::null_timestamp;
  else
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("active column \"%s\" must be boolean or a timestamp, not %s", trigger->tgargs[2],
                           format_type_be(active_type))));

  cols->role_count = trigger->tgnargs - 3;
  MemoryContext old = MemoryContextSwitchTo(CacheMemoryContext);
  cols->roles = static_cast<char **>(palloc(sizeof(char *) * (cols->role_count + 1)));
  cols->role_lengths = static_cast<int *>(palloc(sizeof(int) * (cols->role_count + 1)));
  for (int i = 0; i < cols->role_count; ++i) {
    cols->roles[i] = pstrdup(trigger->tgargs[3 + i]);
    cols->role_lengths[i] = static_cast<int>(strlen(cols->roles[i]));
  }
  MemoryContextSwitchTo(old);
  cols->valid = true;
}

}  // namespace

void register_member_column_invalidation() { CacheRegisterRelcacheCallback(invalidate_relation, 0); }

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
  if (!cols->valid || cols->relid != RelationGetRelid(trigdata->tg_relation)) fill(cols, trigdata);
  return *cols;
}

bool is_seat_role(const MemberColumns &cols, Datum role) {
  const char *data;
  int length;
  if (cols.role_is_text) {
    text *t = DatumGetTextPP(role);
    data = VARDATA_ANY(t);
    length = VARSIZE_ANY_EXHDR(t);
  } else {
    data = OutputFunctionCall(const_cast<FmgrInfo *>(&cols.role_output), role);
    length = static_cast<int>(strlen(data));
  }
  for (int i = 0; i < cols.role_count; ++i)
    if (cols.role_lengths[i] == length && memcmp(cols.roles[i], data, length) == 0) return true;
  return false;
}

}  // namespace broker_seats::pg
