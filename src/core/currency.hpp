// ISO 4217 currencies the catalog accepts, with their minor units.
#pragma once
#include "core/pure.hpp"

#include <string>
#include <string_view>

namespace broker_seats::core {

struct Currency {
  std::string code;  // upper case, e.g. "BRL"
  int minor_digits;  // 2 for BRL (centavos), 0 for JPY
};

// Case-insensitive lookup; an unknown code is 22023.
Currency parse_currency(std::string_view code);

}  // namespace broker_seats::core
