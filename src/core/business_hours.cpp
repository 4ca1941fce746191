#include "core/business_hours.hpp"

#include <boost/date_time/gregorian/gregorian.hpp>
#include <string>

#include "core/error.hpp"

namespace broker_seats::core {
namespace {

Error bad_days(std::string_view days) {
  return Error(ErrorCode::invalid_argument, "invalid business days \"" + std::string(days) + "\"", {},
               "Use ISO weekday numbers (1 = Monday .. 7 = Sunday) and ranges, e.g. 1-5 or 1,2,3,4,5.");
}

// Business microseconds of one day within [from, to) microseconds of it.
std::int64_t day_overlap(const Date &day, std::int64_t from, std::int64_t to, const BusinessHours &hours) {
  if ((hours.days & (1u << iso_weekday(day))) == 0) return 0;
  const std::int64_t start = from > hours.open ? from : hours.open;
  const std::int64_t end = to < hours.close ? to : hours.close;
  return end > start ? end - start : 0;
}

}  // namespace

BusinessHours make_business_hours(std::int64_t open, std::int64_t close, std::string_view days) {
  if (open < 0 || close > micros_per_day || close <= open)
    throw Error(ErrorCode::invalid_argument, "business hours must open before they close", {},
                "Give an opening time earlier than the closing time, e.g. 09:00 and 18:00.");
  unsigned set = 0;
  std::size_t i = 0;
  auto digit = [&](std::size_t at) -> int {
    if (at >= days.size() || days[at] < '1' || days[at] > '7') throw bad_days(days);
    return days[at] - '0';
  };
  while (i < days.size()) {
    const int first = digit(i++);
    int last = first;
    if (i < days.size() && days[i] == '-') {
      last = digit(i + 1);
      i += 2;
      if (last < first) throw bad_days(days);
    }
    for (int d = first; d <= last; ++d) set |= 1u << d;
    if (i < days.size()) {
      if (days[i] != ',') throw bad_days(days);
      if (++i == days.size()) throw bad_days(days);
    }
  }
  if (set == 0) throw bad_days(days);
  return BusinessHours{open, close, set};
}

int iso_weekday(const Date &date) {
  check_date(date);
  const boost::gregorian::date d(static_cast<unsigned short>(date.year), static_cast<unsigned short>(date.month),
                                 static_cast<unsigned short>(date.day));
  const int sunday_first = d.day_of_week().as_number();  // 0 = Sunday
  return sunday_first == 0 ? 7 : sunday_first;
}

std::int64_t business_micros(const LocalDateTime &from, const LocalDateTime &to, const BusinessHours &hours) {
  const std::int64_t days = days_between(from.date, to.date);
  if (days < 0 || (days == 0 && to.micros <= from.micros)) return 0;
  if (days == 0) return day_overlap(from.date, from.micros, to.micros, hours);

  std::int64_t total = day_overlap(from.date, from.micros, micros_per_day, hours) +
                       day_overlap(to.date, 0, to.micros, hours);
  // The whole days between: full weeks at once, then the rest day by day.
  const std::int64_t middle = days - 1;
  const std::int64_t weeks = middle / 7;
  int per_week_days = 0;
  for (int d = 1; d <= 7; ++d) per_week_days += (hours.days >> d) & 1u;
  total += weeks * per_week_days * (hours.close - hours.open);
  Date day = add_days(from.date, 1 + weeks * 7);
  for (std::int64_t k = 0; k < middle % 7; ++k, day = add_days(day, 1))
    total += day_overlap(day, 0, micros_per_day, hours);
  return total;
}

}  // namespace broker_seats::core
