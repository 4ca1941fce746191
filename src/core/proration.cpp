#include "core/proration.hpp"

#include <limits>

#include "core/error.hpp"

namespace broker_seats::core {
namespace {

using int128 = MinorUnits;

int128 pow10(int n) {
  int128 r = 1;
  while (n-- > 0) r *= 10;
  return r;
}

[[noreturn]] void bad_price(std::string_view text, const std::string &why) {
  throw Error(ErrorCode::invalid_argument, "invalid seat_price \"" + std::string(text) + "\": " + why);
}

// Round a / b half away from zero (b > 0).
int128 divide_rounded(int128 a, int128 b) {
  const bool negative = a < 0;
  const int128 magnitude = negative ? -a : a;
  int128 q = magnitude / b;
  if ((magnitude % b) * 2 >= b) ++q;
  return negative ? -q : q;
}

}  // namespace

Decimal parse_decimal(std::string_view text) {
  std::size_t i = 0;
  bool negative = false;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) negative = text[i++] == '-';
  int128 mantissa = 0;
  int scale = 0;
  bool digits = false, point = false;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '.' && !point) {
      point = true;
      continue;
    }
    if (c < '0' || c > '9') bad_price(text, "not a decimal number");
    digits = true;
    if (point) {
      if (c == '0' && scale >= max_price_scale) continue;  // trailing zeros beyond the scale are harmless
      if (++scale > max_price_scale) bad_price(text, "more than 6 decimal places");
    }
    mantissa = mantissa * 10 + (c - '0');
    if (mantissa > max_price_mantissa) bad_price(text, "too large: at most 10^15 once the decimal point is dropped");
  }
  if (!digits) bad_price(text, "not a decimal number");
  // Trailing zeros after the point were counted in scale only when significant.
  return Decimal{static_cast<std::int64_t>(negative ? -mantissa : mantissa), scale};
}

std::string format_minor(MinorUnits minor, int digits) {
  const bool negative = minor < 0;
  // Via unsigned so that the most negative value is formatted too.
  __extension__ typedef unsigned __int128 uint128;
  uint128 magnitude = negative ? ~static_cast<uint128>(minor) + 1 : static_cast<uint128>(minor);
  std::string s;
  do {
    s.insert(s.begin(), static_cast<char>('0' + static_cast<int>(magnitude % 10)));
    magnitude /= 10;
  } while (magnitude != 0);
  if (digits > 0) {
    if (s.size() <= static_cast<std::size_t>(digits)) s.insert(0, static_cast<std::size_t>(digits) + 1 - s.size(), '0');
    s.insert(s.size() - static_cast<std::size_t>(digits), 1, '.');
  }
  return negative ? "-" + s : s;
}

Granularity parse_granularity(std::string_view name) {
  if (name == "day") return Granularity::day;
  if (name == "second") return Granularity::second;
  throw Error(ErrorCode::invalid_argument, "unknown granularity \"" + std::string(name) + "\"", {},
              "Use day or second.");
}

Units day_units(const Date &start, const Date &end, const Date &at) {
  // Day proration counts local dates (in time_zone): a cycle or an `at`
  // that is fine in instants can still be empty or outside in dates.
  const std::int64_t total = days_between(start, end);
  if (total <= 0)
    throw Error(ErrorCode::invalid_argument, "the cycle has no day: cycle_end's local date must be after cycle_start's",
                "Day proration counts local dates in time_zone; use granularity 'second' for a cycle shorter than a day.");
  if (at < start || !(at < end))
    throw Error(ErrorCode::invalid_argument, "at lies outside the cycle's local dates",
                "Day proration counts local dates in time_zone: at's local date must be on or after cycle_start's and "
                "before cycle_end's.");
  return Units{days_between(at, end), total};
}

Units second_units(std::int64_t start, std::int64_t end, std::int64_t at) {
  if (end <= start) throw Error(ErrorCode::invalid_argument, "the cycle is empty: cycle_end must be after cycle_start");
  if (at < start || at >= end)
    throw Error(ErrorCode::invalid_argument, "at lies outside the cycle", "Proration applies within [cycle_start, cycle_end).");
  return Units{end - at, end - start};
}

MinorUnits prorate_minor(std::int64_t delta, const Decimal &price, const Units &units, int minor_digits) {
  if (units.total <= 0 || units.remaining < 0 || units.remaining > units.total)
    throw Error(ErrorCode::invalid_argument, "remaining units must lie within the cycle");
  if (price.mantissa < 0) throw Error(ErrorCode::invalid_argument, "seat_price must not be negative");
  // The exact product in 128 bits, checked on the way: for |delta| < 2^31, a
  // price mantissa <= 10^15, an annual cycle in seconds and 3 minor digits
  // it stays below 2^117.
  const int128 limit = std::numeric_limits<int128>::max() / 16;
  int128 numerator = static_cast<int128>(delta) * price.mantissa;
  const auto mul = [&](int128 factor) {
    if (factor != 0 && (numerator > limit / factor || numerator < -limit / factor))
      throw Error(ErrorCode::numeric_out_of_range, "proration amount out of range");
    numerator *= factor;
  };
  mul(units.remaining);
  mul(pow10(minor_digits));
  const int128 denominator = static_cast<int128>(units.total) * pow10(price.scale);
  return divide_rounded(numerator, denominator);
}

}  // namespace broker_seats::core
