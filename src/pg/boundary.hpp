// The one C++/PostgreSQL error boundary.
//
// PostgreSQL reports errors with longjmp, C++ with exceptions, and neither
// may cross into the other. Every SQL-callable entry point therefore runs its
// body through BROKER_SEATS_FUNCTION: a C++ exception is caught, its text
// copied into fixed buffers (no allocation, no PostgreSQL call inside a catch
// handler), and only after every C++ scope has closed is it raised as an
// ERROR with the exception's SQLSTATE. A PostgreSQL error raised by the body
// itself longjmps through the guard untouched, keeping its own SQLSTATE; the
// glue makes sure no C++ object with a non-trivial destructor is alive there.
// Where C++ objects must live around a PostgreSQL call, pg_call() turns the
// PostgreSQL error into a PgError exception, and the guard re-raises the
// original error (SQLSTATE and all) once the C++ scopes are gone.
#pragma once

#include <exception>
#include <new>
#include <utility>

#include "core/error.hpp"

extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "utils/elog.h"
}

namespace broker_seats::pg {

// A PostgreSQL error carried as a C++ exception between pg_call and the guard.
class PgError : public std::exception {
 public:
  explicit PgError(ErrorData *data) noexcept : data_(data) {}
  ErrorData *data() const noexcept { return data_; }
  const char *what() const noexcept override { return "PostgreSQL error"; }

 private:
  ErrorData *data_;  // palloc'd in the caller's memory context
};

// An error caught from C++, held in fixed storage until it can be raised.
struct PendingError {
  char sqlstate[6] = "XX000";
  char message[1024] = "";
  char detail[1024] = "";
  char hint[512] = "";
  char schema[NAMEDATALEN] = "";      // the standard error fields, when set
  char table[NAMEDATALEN] = "";
  char constraint[NAMEDATALEN] = "";
  ErrorData *pg_error = nullptr;  // set when the original was a PostgreSQL error
  bool has_detail = false;
  bool has_hint = false;
};

// Fills `pending` from a core error; never allocates. For a hot error path
// that raises without throwing: make the error in a scope of its own,
// capture it, let the scope close, then raise_pending.
void capture_error(PendingError &pending, const core::Error &e) noexcept;

// Fills `pending` from the exception being handled; never allocates.
void capture_current_exception(PendingError &pending, const char *function) noexcept;

// Raises `pending` as a PostgreSQL ERROR. Call only with no C++ scope open.
[[noreturn]] void raise_pending(const PendingError &pending);

template <typename Body>
Datum guarded(const char *function, Body &&body) {
  PendingError pending;
  try {
    return std::forward<Body>(body)();
  } catch (...) {
    capture_current_exception(pending, function);
  }
  raise_pending(pending);
}

// Runs a PostgreSQL call from C++ code that has live C++ objects: a
// PostgreSQL ERROR becomes a PgError exception instead of a longjmp. The call
// returns nothing; it hands results back through references it captures.
template <typename Call>
void pg_call(Call &&call) {
  MemoryContext caller_context = CurrentMemoryContext;
  ErrorData *volatile error = nullptr;
  // A C++ exception thrown by `call` must not leave PG_TRY by unwinding:
  // PG_exception_stack would keep pointing at this dead frame. It is caught
  // inside, and thrown again once PG_END_TRY has restored the stack.
  std::exception_ptr thrown;
  PG_TRY();
  {
    try {
      call();
    } catch (...) {
      thrown = std::current_exception();
    }
  }
  PG_CATCH();
  {
    MemoryContextSwitchTo(caller_context);
    error = CopyErrorData();
    FlushErrorState();
  }
  PG_END_TRY();
  if (thrown) std::rethrow_exception(thrown);
  if (error != nullptr) throw PgError(error);
}

}  // namespace broker_seats::pg

// Declares a SQL-callable function whose body is guarded C++:
//   BROKER_SEATS_FUNCTION(seats_customer_message) { ...; PG_RETURN_TEXT_P(t); }
#define BROKER_SEATS_FUNCTION(name)                                                      \
  static Datum name##_body(PG_FUNCTION_ARGS);                                            \
  extern "C" {                                                                           \
  PG_FUNCTION_INFO_V1(name);                                                             \
  Datum name(PG_FUNCTION_ARGS);                                                          \
  }                                                                                      \
  Datum name(PG_FUNCTION_ARGS) {                                                         \
    return ::broker_seats::pg::guarded(#name, [fcinfo]() { return name##_body(fcinfo); }); \
  }                                                                                      \
  static Datum name##_body(PG_FUNCTION_ARGS)
