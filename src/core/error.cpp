#include "core/error.hpp"

namespace broker_seats::core {

const char *sqlstate_of(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::no_free_seat: return "SB001";
    case ErrorCode::no_subscription: return "SB002";
    case ErrorCode::invalid_argument: return "22023";
    case ErrorCode::datetime_out_of_range: return "22008";
    case ErrorCode::numeric_out_of_range: return "22003";
  }
  return "XX000";
}

}  // namespace broker_seats::core
