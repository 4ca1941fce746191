// Business time (issue 10's upgrade SLA): how much of an interval between
// two local wall-clock times falls inside business hours, e.g. Monday to
// Friday 09:00-18:00. Time zones are PostgreSQL's: the glue converts both
// ends to the organization's local time first.
#pragma once
#include "core/pure.hpp"

#include <cstdint>
#include <string_view>

#include "core/calendar.hpp"

namespace broker_seats::core {

constexpr std::int64_t micros_per_day = INT64_C(86400000000);

// A local wall-clock time: a date and the microseconds since its midnight.
struct LocalDateTime {
  Date date;
  std::int64_t micros = 0;  // 0 .. micros_per_day - 1
};

struct BusinessHours {
  std::int64_t open = 0;    // microseconds after midnight
  std::int64_t close = 0;   // > open, at most micros_per_day
  unsigned days = 0;        // bit d set for ISO weekday d (1 = Monday .. 7 = Sunday)
};

// Days as ISO weekday numbers or ranges: "1-5", "1,2,3,4,5", "1-3,6".
// Anything else, an empty set, or close <= open is 22023.
BusinessHours make_business_hours(std::int64_t open, std::int64_t close, std::string_view days);

// ISO weekday of a date, 1 = Monday .. 7 = Sunday.
int iso_weekday(const Date &date);

// Business microseconds in [from, to); 0 when to <= from.
std::int64_t business_micros(const LocalDateTime &from, const LocalDateTime &to, const BusinessHours &hours);

}  // namespace broker_seats::core
