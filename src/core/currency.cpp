#include "core/currency.hpp"

#include <algorithm>
#include <cctype>

#include "core/error.hpp"

namespace broker_seats::core {
namespace {

struct Known {
  const char *code;
  int digits;
};

// ISO 4217 minor units of the currencies a Brazilian CRM bills in or is
// likely to: the Americas, Europe's majors, and the zero- and three-decimal
// cases the arithmetic must get right.
constexpr Known known[] = {
    {"ARS", 2}, {"AUD", 2}, {"BHD", 3}, {"BRL", 2}, {"CAD", 2}, {"CHF", 2}, {"CLP", 0}, {"CNY", 2},
    {"COP", 2}, {"DKK", 2}, {"EUR", 2}, {"GBP", 2}, {"HKD", 2}, {"INR", 2}, {"JPY", 0}, {"KRW", 0},
    {"KWD", 3}, {"MXN", 2}, {"NOK", 2}, {"NZD", 2}, {"PEN", 2}, {"PYG", 0}, {"SEK", 2}, {"UYU", 2},
    {"USD", 2}, {"ZAR", 2},
};

}  // namespace

Currency parse_currency(std::string_view code) {
  std::string upper(code);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  for (const Known &k : known)
    if (upper == k.code) return Currency{upper, k.digits};
  throw Error(ErrorCode::invalid_argument, "unknown currency \"" + std::string(code) + "\"", {},
              "Use an ISO 4217 code such as BRL, USD, EUR, GBP, JPY or CLP.");
}

}  // namespace broker_seats::core
