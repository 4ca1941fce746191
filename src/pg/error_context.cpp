// emit_log_hook that drops the extension's own CONTEXT frames (issue 12):
// PL/pgSQL line numbers and helper names are internal detail that drivers
// show to end users, and would change with every release. The rule of what
// is ours is core::internal_context_length.
#include "pg/error_context.hpp"

#include <cstring>

#include "core/error_context.hpp"

extern "C" {
#include "postgres.h"

#include "utils/elog.h"
}

namespace broker_seats::pg {
namespace {

emit_log_hook_type previous_emit_log_hook = nullptr;

// Runs inside error reporting: must not raise, allocate or look at catalogs.
// The text is shortened in place (memmove), so whoever frees edata->context
// later frees the same chunk.
void drop_internal_context(ErrorData *edata) {
  if (edata->context != nullptr) {
    std::size_t length = std::strlen(edata->context);
    std::size_t ours = core::internal_context_length(std::string_view(edata->context, length));
    if (ours >= length)
      edata->context[0] = '\0';
    else if (ours > 0)
      std::memmove(edata->context, edata->context + ours, length - ours + 1);
    // An emptied context is sent as no CONTEXT at all.
    if (edata->context[0] == '\0') edata->context = nullptr;
  }
  if (previous_emit_log_hook != nullptr) previous_emit_log_hook(edata);
}

}  // namespace

void install_error_context_hook() {
  previous_emit_log_hook = emit_log_hook;
  emit_log_hook = drop_internal_context;
}

}  // namespace broker_seats::pg
