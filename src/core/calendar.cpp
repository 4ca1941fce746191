#include "core/calendar.hpp"

#include <boost/date_time/gregorian/gregorian.hpp>
#include <cstdio>
#include <string>

#include "core/error.hpp"

namespace broker_seats::core {
namespace {

namespace greg = boost::gregorian;

constexpr int min_year = 1400;  // Boost.Date_Time's range
constexpr int max_year = 9999;

greg::date to_boost(const Date &d) {
  check_date(d);
  return greg::date(static_cast<unsigned short>(d.year), static_cast<unsigned short>(d.month),
                    static_cast<unsigned short>(d.day));
}

std::string to_text(const Date &d) {
  // ISO 8601, as PostgreSQL prints dates with DateStyle ISO.
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", d.year, d.month, d.day);
  return buf;
}

}  // namespace

BillingPeriod parse_billing_period(std::string_view name) {
  if (name == "monthly") return BillingPeriod::monthly;
  if (name == "quarterly") return BillingPeriod::quarterly;
  if (name == "semiannual") return BillingPeriod::semiannual;
  if (name == "annual") return BillingPeriod::annual;
  throw Error(ErrorCode::invalid_argument, "unknown billing_period \"" + std::string(name) + "\"", {},
              "Use monthly, quarterly, semiannual or annual.");
}

int months_in(BillingPeriod period) noexcept { return static_cast<int>(period); }

void check_date(const Date &d) {
  if (d.year < min_year || d.year > max_year || d.month < 1 || d.month > 12 || d.day < 1 ||
      d.day > greg::gregorian_calendar::end_of_month_day(static_cast<unsigned short>(d.year),
                                                         static_cast<unsigned short>(d.month)))
    throw Error(ErrorCode::datetime_out_of_range, "date " + to_text(d) + " is out of range",
                "Billing dates must lie between 1400-01-01 and 9999-12-31.");
}

Date cycle_boundary(const Date &anchor, BillingPeriod period, std::int64_t k) {
  check_date(anchor);
  // Month arithmetic on a month index, then the anchor's day clamped to the
  // target month: Boost's `date + months(k)` would snap to month ends instead.
  const std::int64_t months = static_cast<std::int64_t>(months_in(period));
  const std::int64_t limit = static_cast<std::int64_t>(max_year + 1) * 12;
  if (k > limit || k < -limit)
    throw Error(ErrorCode::datetime_out_of_range, "cycle " + std::to_string(k) + " is out of range");
  const std::int64_t index = static_cast<std::int64_t>(anchor.year) * 12 + (anchor.month - 1) + k * months;
  const std::int64_t year = index >= 0 ? index / 12 : (index - 11) / 12;
  const int month = static_cast<int>(index - year * 12) + 1;
  if (year < min_year || year > max_year)
    throw Error(ErrorCode::datetime_out_of_range,
                "cycle boundary in year " + std::to_string(year) + " is out of range",
                "Billing dates must lie between 1400-01-01 and 9999-12-31.");
  const int last = greg::gregorian_calendar::end_of_month_day(static_cast<unsigned short>(year),
                                                             static_cast<unsigned short>(month));
  return Date{static_cast<int>(year), month, anchor.day < last ? anchor.day : last};
}

CycleBounds cycle_containing(const Date &anchor, BillingPeriod period, const Date &at) {
  check_date(anchor);
  check_date(at);
  const std::int64_t months = months_in(period);
  const std::int64_t diff = (static_cast<std::int64_t>(at.year) * 12 + at.month) -
                            (static_cast<std::int64_t>(anchor.year) * 12 + anchor.month);
  // An estimate from whole months, corrected by at most one step either way.
  std::int64_t k = diff >= 0 ? diff / months : -((-diff + months - 1) / months);
  while (at < cycle_boundary(anchor, period, k)) --k;
  while (cycle_boundary(anchor, period, k + 1) <= at) ++k;
  return {cycle_boundary(anchor, period, k), cycle_boundary(anchor, period, k + 1)};
}

Date add_days(const Date &date, std::int64_t days) {
  const greg::date start = to_boost(date);
  // Check on day numbers first: past Boost's years the sum is not a date, and
  // Boost would throw its own exception where ours (22008) belongs.
  static const std::int64_t first = greg::date(min_year, 1, 1).day_number();
  static const std::int64_t last = greg::date(max_year, 12, 31).day_number();
  const std::int64_t target = static_cast<std::int64_t>(start.day_number()) + days;
  if (days > last - first || days < first - last || target < first || target > last)
    throw Error(ErrorCode::datetime_out_of_range,
                "date " + to_text(date) + " + " + std::to_string(days) + " days is out of range",
                "Billing dates must lie between 1400-01-01 and 9999-12-31.");
  const auto ymd = (start + greg::date_duration(static_cast<long>(days))).year_month_day();
  return Date{static_cast<int>(ymd.year), static_cast<int>(ymd.month), static_cast<int>(ymd.day)};
}

std::int64_t days_between(const Date &from, const Date &to) {
  return (to_boost(to) - to_boost(from)).days();
}

}  // namespace broker_seats::core
