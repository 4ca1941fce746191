#include "pg/boundary.hpp"

#include <cstring>

namespace broker_seats::pg {
namespace {

void copy_text(char *to, std::size_t size, const char *from) noexcept { strlcpy(to, from, size); }

}  // namespace

void capture_error(PendingError &pending, const core::Error &e) noexcept {
  copy_text(pending.sqlstate, sizeof pending.sqlstate, core::sqlstate_of(e.code()));
  copy_text(pending.message, sizeof pending.message, e.what());
  copy_text(pending.detail, sizeof pending.detail, e.detail().c_str());
  copy_text(pending.hint, sizeof pending.hint, e.hint().c_str());
  pending.has_detail = !e.detail().empty();
  pending.has_hint = !e.hint().empty();
  copy_text(pending.schema, sizeof pending.schema, e.schema().c_str());
  copy_text(pending.table, sizeof pending.table, e.table().c_str());
  copy_text(pending.constraint, sizeof pending.constraint, e.constraint().c_str());
}

void capture_current_exception(PendingError &pending, const char *function) noexcept {
  try {
    throw;
  } catch (const PgError &e) {
    pending.pg_error = e.data();
  } catch (const core::Error &e) {
    capture_error(pending, e);
  } catch (const std::bad_alloc &) {
    copy_text(pending.sqlstate, sizeof pending.sqlstate, "53200");
    copy_text(pending.message, sizeof pending.message, "out of memory in C++ code");
  } catch (const std::exception &e) {
    copy_text(pending.message, sizeof pending.message, e.what());
  } catch (...) {
    copy_text(pending.message, sizeof pending.message, "unknown C++ exception");
  }
  if (pending.pg_error == nullptr && std::strcmp(pending.sqlstate, "XX000") == 0) {
    // Only a bug lands here: say where, so the report can be acted on.
    copy_text(pending.detail, sizeof pending.detail, function);
    pending.has_detail = true;
  }
}

void raise_pending(const PendingError &pending) {
  if (pending.pg_error != nullptr) ReThrowError(pending.pg_error);
  const char *s = pending.sqlstate;
  ereport(ERROR, (errcode(MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4])), errmsg_internal("%s", pending.message),
                  pending.has_detail ? errdetail_internal("%s", pending.detail) : 0,
                  pending.has_hint ? errhint("%s", pending.hint) : 0,
                  pending.schema[0] ? err_generic_string(PG_DIAG_SCHEMA_NAME, pending.schema) : 0,
                  pending.table[0] ? err_generic_string(PG_DIAG_TABLE_NAME, pending.table) : 0,
                  pending.constraint[0] ? err_generic_string(PG_DIAG_CONSTRAINT_NAME, pending.constraint) : 0));
  pg_unreachable();
}

}  // namespace broker_seats::pg
