// Module-wide settings of broker_seats.
#pragma once

#include "core/messages.hpp"

namespace broker_seats::pg {

// broker_seats.language: the language of customer-facing texts (pt_BR, en).
core::Language customer_language() noexcept;

}  // namespace broker_seats::pg
