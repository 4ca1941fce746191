// Exact proration (SPEC §1.4, §6): amount = delta × price × remaining / total,
// in integer minor units with 128-bit intermediates, rounded once, half away
// from zero, to the currency's minor unit. Never floating point.
#pragma once
#include "core/pure.hpp"

#include <cstdint>
#include <string>
#include <string_view>

#include "core/calendar.hpp"

namespace broker_seats::core {

// Amounts in minor units. 128 bits: 2^31 seats at a price near 10^9 is
// already 2×10^20 centavos, past 64 bits.
__extension__ typedef __int128 MinorUnits;

// A non-negative decimal price: mantissa × 10^-scale (49.90 is {4990, 2}).
struct Decimal {
  std::int64_t mantissa = 0;
  int scale = 0;
};

constexpr int max_price_scale = 6;                          // micro-units
constexpr std::int64_t max_price_mantissa = 1000000000000000LL;  // 10^15

// Parses a plain decimal ("49.90", "10", "0.005", "-3"). 22023 when it is not
// one, has more than max_price_scale decimals or is too large.
Decimal parse_decimal(std::string_view text);

// Minor units as a decimal string with `digits` decimals: (533, 2) -> "5.33".
std::string format_minor(MinorUnits minor, int digits);

enum class Granularity { day, second };

// "day" or "second"; anything else is 22023.
Granularity parse_granularity(std::string_view name);

// What the cycle counts in the chosen unit.
struct Units {
  std::int64_t remaining = 0;  // from `at` (its local day counts) to the end
  std::int64_t total = 0;      // in the whole cycle
};

// Day granularity on local dates: [start, end) and the local date of `at`.
// 22023 when `at` is outside the cycle or the cycle is empty.
Units day_units(const Date &start, const Date &end, const Date &at);

// Second granularity on instants in seconds (any common epoch).
// 22023 when `at` is outside [start, end) or the cycle is empty.
Units second_units(std::int64_t start, std::int64_t end, std::int64_t at);

// delta × price × remaining / total in minor units of a currency with
// `minor_digits` decimals, rounded half away from zero. `delta` may be
// negative (a credit); the price may not. 22003 if an intermediate would
// leave 128 bits (only for absurd cycles or prices).
MinorUnits prorate_minor(std::int64_t delta, const Decimal &price, const Units &units, int minor_digits);

}  // namespace broker_seats::core
