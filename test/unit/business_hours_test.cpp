#include "core/business_hours.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"

namespace core = broker_seats::core;

namespace {

constexpr std::int64_t minute = INT64_C(60000000);
constexpr std::int64_t hour = 60 * minute;

core::LocalDateTime at(int y, int m, int d, int hh, int mm) { return {core::Date{y, m, d}, hh * hour + mm * minute}; }

const core::BusinessHours office = core::make_business_hours(9 * hour, 18 * hour, "1-5");

}  // namespace

TEST(BusinessHours, Weekdays) {
  EXPECT_EQ(core::iso_weekday(core::Date{2026, 12, 7}), 1);  // a Monday
  EXPECT_EQ(core::iso_weekday(core::Date{2026, 12, 6}), 7);  // a Sunday
  EXPECT_EQ(core::iso_weekday(core::Date{2024, 2, 29}), 4);
}

TEST(BusinessHours, WithinOneDay) {
  EXPECT_EQ(core::business_micros(at(2026, 12, 7, 10, 0), at(2026, 12, 7, 10, 31), office), 31 * minute);
  EXPECT_EQ(core::business_micros(at(2026, 12, 7, 7, 0), at(2026, 12, 7, 9, 10), office), 10 * minute);
  EXPECT_EQ(core::business_micros(at(2026, 12, 7, 17, 50), at(2026, 12, 7, 23, 0), office), 10 * minute);
  EXPECT_EQ(core::business_micros(at(2026, 12, 7, 19, 0), at(2026, 12, 7, 23, 0), office), 0);
  EXPECT_EQ(core::business_micros(at(2026, 12, 7, 11, 0), at(2026, 12, 7, 10, 0), office), 0) << "to before from";
}

TEST(BusinessHours, OvernightAndWeekend) {
  // Friday 17:45 to Monday 09:20: 15 + 20 minutes.
  EXPECT_EQ(core::business_micros(at(2026, 12, 4, 17, 45), at(2026, 12, 7, 9, 20), office), 35 * minute);
  // Saturday to Sunday: nothing.
  EXPECT_EQ(core::business_micros(at(2026, 12, 5, 10, 0), at(2026, 12, 6, 17, 0), office), 0);
  // Tuesday 17:50 to Wednesday 09:25.
  EXPECT_EQ(core::business_micros(at(2026, 12, 8, 17, 50), at(2026, 12, 9, 9, 25), office), 35 * minute);
}

TEST(BusinessHours, ManyWeeksAtOnce) {
  // Monday 09:00 to the Monday 52 weeks later, 09:00: 52 * 5 days * 9 h.
  EXPECT_EQ(core::business_micros(at(2026, 12, 7, 9, 0), at(2027, 12, 6, 9, 0), office), 52 * 5 * 9 * hour);
  // Not on week boundaries: Wednesday 12:00 to Tuesday 12:00 13 days later.
  const std::int64_t expected = 6 * hour + 8 * 9 * hour + 3 * hour;
  EXPECT_EQ(core::business_micros(at(2026, 12, 9, 12, 0), at(2026, 12, 22, 12, 0), office), expected);
}

TEST(BusinessHours, DaySets) {
  const core::BusinessHours weekend = core::make_business_hours(0, core::micros_per_day, "6,7");
  EXPECT_EQ(core::business_micros(at(2026, 12, 4, 12, 0), at(2026, 12, 7, 12, 0), weekend), 48 * hour);
  const core::BusinessHours odd = core::make_business_hours(8 * hour, 12 * hour, "1-3,5");
  EXPECT_EQ(core::business_micros(at(2026, 12, 7, 0, 0), at(2026, 12, 14, 0, 0), odd), 4 * 4 * hour);
}

TEST(BusinessHours, InvalidSettings) {
  for (const char *days : {"", "0", "8", "1-", "5-1", "1,,2", "1,", "mon-fri", "1 - 5"}) {
    try {
      core::make_business_hours(9 * hour, 18 * hour, days);
      FAIL() << "accepted days \"" << days << "\"";
    } catch (const core::Error &e) {
      EXPECT_STREQ(core::sqlstate_of(e.code()), "22023");
    }
  }
  EXPECT_THROW(core::make_business_hours(18 * hour, 9 * hour, "1-5"), core::Error);
  EXPECT_THROW(core::make_business_hours(9 * hour, 9 * hour, "1-5"), core::Error);
}
