// Errors raised by the core. Each carries the SQLSTATE the boundary reports,
// so that a caller sees the same code whichever layer found the problem.
#pragma once
#include "core/pure.hpp"

#include <stdexcept>
#include <string>

namespace broker_seats::core {

// The codes the core raises (SB003, SB004 and 22004 are raised by the SQL
// layer, which owns freezes, change states and argument presence).
enum class ErrorCode {
  no_free_seat,           // SB001
  no_subscription,        // SB002
  invalid_argument,       // 22023
  datetime_out_of_range,  // 22008
  numeric_out_of_range,   // 22003
};

// The five-character SQLSTATE of a code, e.g. "SB001".
const char *sqlstate_of(ErrorCode code) noexcept;

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, std::string message, std::string detail = {}, std::string hint = {})
      : std::runtime_error(message), code_(code), detail_(std::move(detail)), hint_(std::move(hint)) {}

  ErrorCode code() const noexcept { return code_; }
  const std::string &detail() const noexcept { return detail_; }
  const std::string &hint() const noexcept { return hint_; }

  // The object the error is about, for the standard error fields that
  // drivers and ORMs read (schema, table, constraint); empty when none.
  Error &about(std::string schema, std::string table, std::string constraint) {
    schema_ = std::move(schema);
    table_ = std::move(table);
    constraint_ = std::move(constraint);
    return *this;
  }
  const std::string &schema() const noexcept { return schema_; }
  const std::string &table() const noexcept { return table_; }
  const std::string &constraint() const noexcept { return constraint_; }

 private:
  ErrorCode code_;
  std::string detail_;
  std::string hint_;
  std::string schema_;
  std::string table_;
  std::string constraint_;
};

}  // namespace broker_seats::core
