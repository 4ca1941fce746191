#include "core/calendar.hpp"

#include <gtest/gtest.h>

#include "core/currency.hpp"
#include "core/error.hpp"

namespace core = broker_seats::core;
using core::BillingPeriod;
using core::Date;

TEST(Calendar, MonthlyBoundariesKeepTheAnchorDay) {
  const Date jan31{2026, 1, 31};
  EXPECT_EQ(core::cycle_boundary(jan31, BillingPeriod::monthly, 1), (Date{2026, 2, 28}));
  EXPECT_EQ(core::cycle_boundary(jan31, BillingPeriod::monthly, 2), (Date{2026, 3, 31}));
  EXPECT_EQ(core::cycle_boundary(jan31, BillingPeriod::monthly, 3), (Date{2026, 4, 30}));
  EXPECT_EQ(core::cycle_boundary(Date{2028, 1, 31}, BillingPeriod::monthly, 1), (Date{2028, 2, 29}));
  EXPECT_EQ(core::cycle_boundary(Date{2026, 4, 30}, BillingPeriod::monthly, 1), (Date{2026, 5, 30}));
  EXPECT_EQ(core::cycle_boundary(Date{2026, 2, 28}, BillingPeriod::monthly, 1), (Date{2026, 3, 28}));
  EXPECT_EQ(core::cycle_boundary(Date{2028, 2, 29}, BillingPeriod::annual, 1), (Date{2029, 2, 28}));
  EXPECT_EQ(core::cycle_boundary(Date{2028, 2, 29}, BillingPeriod::annual, 4), (Date{2032, 2, 29}));
  EXPECT_EQ(core::cycle_boundary(jan31, BillingPeriod::monthly, -2), (Date{2025, 11, 30}));
}

TEST(Calendar, CycleContaining) {
  const auto b = core::cycle_containing(Date{2026, 1, 31}, BillingPeriod::monthly, Date{2026, 3, 15});
  EXPECT_EQ(b.start, (Date{2026, 2, 28}));
  EXPECT_EQ(b.end, (Date{2026, 3, 31}));
  const auto on = core::cycle_containing(Date{2026, 1, 31}, BillingPeriod::monthly, Date{2026, 3, 31});
  EXPECT_EQ(on.start, (Date{2026, 3, 31}));
  EXPECT_EQ(on.end, (Date{2026, 4, 30}));
  const auto q = core::cycle_containing(Date{2026, 1, 15}, BillingPeriod::quarterly, Date{2026, 4, 14});
  EXPECT_EQ(q.start, (Date{2026, 1, 15}));
  EXPECT_EQ(q.end, (Date{2026, 4, 15}));
  const auto before = core::cycle_containing(Date{2026, 5, 10}, BillingPeriod::monthly, Date{2026, 3, 1});
  EXPECT_EQ(before.start, (Date{2026, 2, 10}));
  EXPECT_EQ(before.end, (Date{2026, 3, 10}));
}

TEST(Calendar, BadInput) {
  EXPECT_THROW(core::parse_billing_period("weekly"), core::Error);
  EXPECT_THROW(core::check_date(Date{2026, 2, 30}), core::Error);
  try {
    core::cycle_boundary(Date{9999, 6, 1}, BillingPeriod::annual, 1);
    FAIL() << "expected an error";
  } catch (const core::Error &e) {
    EXPECT_STREQ(core::sqlstate_of(e.code()), "22008");
  }
}

TEST(Currency, MinorUnits) {
  EXPECT_EQ(core::parse_currency("brl").code, "BRL");
  EXPECT_EQ(core::parse_currency("BRL").minor_digits, 2);
  EXPECT_EQ(core::parse_currency("JPY").minor_digits, 0);
  EXPECT_EQ(core::parse_currency("CLP").minor_digits, 0);
  EXPECT_THROW(core::parse_currency("XXX"), core::Error);
}

TEST(Calendar, AddDays) {
  EXPECT_EQ(core::add_days(Date{2028, 2, 28}, 1), (Date{2028, 2, 29}));
  EXPECT_EQ(core::add_days(Date{2026, 2, 28}, 1), (Date{2026, 3, 1}));
  EXPECT_EQ(core::add_days(Date{2026, 1, 1}, -1), (Date{2025, 12, 31}));
  EXPECT_EQ(core::days_between(Date{2026, 1, 1}, Date{2027, 1, 1}), 365);
  EXPECT_THROW(core::add_days(Date{9999, 12, 31}, 1), core::Error);
}
