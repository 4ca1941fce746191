// The extension's errors reach clients without its internal CONTEXT lines.
#pragma once

namespace broker_seats::pg {

// Chains emit_log_hook: every message (error, warning, notice) whose
// CONTEXT starts with the extension's own frames loses those frames before
// it is logged and sent; the frames of the caller's code stay.
void install_error_context_hook();

}  // namespace broker_seats::pg
