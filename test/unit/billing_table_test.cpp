// The billing table: calendar boundaries and proration amounts, including the
// cases Boost's `date + months(k)` gets wrong and published worked examples.
#include <gtest/gtest.h>

#include <ostream>
#include <string>

#include "core/calendar.hpp"
#include "core/error.hpp"
#include "core/proration.hpp"

namespace core = broker_seats::core;
using core::BillingPeriod;
using core::Date;

namespace {

std::string text(const Date &d) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", d.year, d.month, d.day);
  return buf;
}

struct BoundaryCase {
  Date anchor;
  BillingPeriod period;
  std::int64_t k;
  Date expected;
};

void PrintTo(const BoundaryCase &c, std::ostream *os) {
  *os << text(c.anchor) << " +" << c.k << "x" << core::months_in(c.period) << "m";
}

constexpr auto M = BillingPeriod::monthly;
constexpr auto Q = BillingPeriod::quarterly;
constexpr auto S = BillingPeriod::semiannual;
constexpr auto A = BillingPeriod::annual;

}  // namespace

class Boundaries : public ::testing::TestWithParam<BoundaryCase> {};

TEST_P(Boundaries, FromTheAnchor) {
  const BoundaryCase &c = GetParam();
  EXPECT_EQ(text(core::cycle_boundary(c.anchor, c.period, c.k)), text(c.expected));
}

INSTANTIATE_TEST_SUITE_P(
    Calendar, Boundaries,
    ::testing::Values(
        // Anchor 31 Jan: clamped only where the month is shorter, never drifting.
        BoundaryCase{{2026, 1, 31}, M, 1, {2026, 2, 28}}, BoundaryCase{{2026, 1, 31}, M, 2, {2026, 3, 31}},
        BoundaryCase{{2026, 1, 31}, M, 3, {2026, 4, 30}}, BoundaryCase{{2026, 1, 31}, M, 4, {2026, 5, 31}},
        BoundaryCase{{2026, 1, 31}, M, 12, {2027, 1, 31}}, BoundaryCase{{2028, 1, 31}, M, 1, {2028, 2, 29}},
        // Anchors 29 and 30 across February, leap and common years.
        BoundaryCase{{2028, 1, 30}, M, 1, {2028, 2, 29}}, BoundaryCase{{2028, 1, 29}, M, 1, {2028, 2, 29}},
        BoundaryCase{{2026, 1, 29}, M, 1, {2026, 2, 28}}, BoundaryCase{{2026, 1, 30}, M, 1, {2026, 2, 28}},
        BoundaryCase{{2026, 1, 30}, M, 2, {2026, 3, 30}}, BoundaryCase{{2026, 1, 29}, M, 2, {2026, 3, 29}},
        // A short month's last day keeps its day (Boost would snap to 31 May / 31 Mar).
        BoundaryCase{{2026, 4, 30}, M, 1, {2026, 5, 30}}, BoundaryCase{{2026, 4, 30}, M, 2, {2026, 6, 30}},
        BoundaryCase{{2026, 2, 28}, M, 1, {2026, 3, 28}}, BoundaryCase{{2026, 2, 28}, M, 12, {2027, 2, 28}},
        BoundaryCase{{2028, 2, 29}, M, 1, {2028, 3, 29}}, BoundaryCase{{2028, 2, 29}, M, 12, {2029, 2, 28}},
        // Annual on 29 Feb: 28 Feb in common years, 29 Feb again in leap years.
        BoundaryCase{{2028, 2, 29}, A, 1, {2029, 2, 28}}, BoundaryCase{{2028, 2, 29}, A, 2, {2030, 2, 28}},
        BoundaryCase{{2028, 2, 29}, A, 4, {2032, 2, 29}}, BoundaryCase{{2026, 6, 30}, A, 1, {2027, 6, 30}},
        // Quarterly and semiannual.
        BoundaryCase{{2026, 11, 30}, Q, 1, {2027, 2, 28}}, BoundaryCase{{2026, 11, 30}, Q, 2, {2027, 5, 30}},
        BoundaryCase{{2027, 11, 30}, Q, 1, {2028, 2, 29}}, BoundaryCase{{2026, 5, 31}, Q, 1, {2026, 8, 31}},
        BoundaryCase{{2026, 5, 31}, Q, 3, {2027, 2, 28}}, BoundaryCase{{2026, 1, 1}, Q, 4, {2027, 1, 1}},
        BoundaryCase{{2026, 8, 31}, S, 1, {2027, 2, 28}}, BoundaryCase{{2026, 8, 31}, S, 2, {2027, 8, 31}},
        BoundaryCase{{2026, 3, 31}, S, 1, {2026, 9, 30}},
        // Before the anchor, and across a year end.
        BoundaryCase{{2026, 1, 31}, M, -1, {2025, 12, 31}}, BoundaryCase{{2026, 3, 31}, M, -1, {2026, 2, 28}},
        BoundaryCase{{2026, 12, 15}, M, 1, {2027, 1, 15}}));

struct ContainingCase {
  Date anchor;
  BillingPeriod period;
  Date at;
  Date start;
  Date end;
};

void PrintTo(const ContainingCase &c, std::ostream *os) { *os << text(c.anchor) << " at " << text(c.at); }

class Containing : public ::testing::TestWithParam<ContainingCase> {};

TEST_P(Containing, CycleOfADate) {
  const ContainingCase &c = GetParam();
  const core::CycleBounds b = core::cycle_containing(c.anchor, c.period, c.at);
  EXPECT_EQ(text(b.start), text(c.start));
  EXPECT_EQ(text(b.end), text(c.end));
}

INSTANTIATE_TEST_SUITE_P(
    Calendar, Containing,
    ::testing::Values(ContainingCase{{2026, 1, 31}, M, {2026, 2, 27}, {2026, 1, 31}, {2026, 2, 28}},
                      ContainingCase{{2026, 1, 31}, M, {2026, 2, 28}, {2026, 2, 28}, {2026, 3, 31}},
                      ContainingCase{{2026, 1, 31}, M, {2026, 3, 30}, {2026, 2, 28}, {2026, 3, 31}},
                      ContainingCase{{2028, 2, 29}, A, {2029, 3, 1}, {2029, 2, 28}, {2030, 2, 28}},
                      ContainingCase{{2026, 4, 30}, M, {2026, 5, 29}, {2026, 4, 30}, {2026, 5, 30}},
                      ContainingCase{{2026, 11, 29}, M, {2026, 11, 29}, {2026, 11, 29}, {2026, 12, 29}},
                      ContainingCase{{2026, 8, 31}, S, {2027, 8, 30}, {2027, 2, 28}, {2027, 8, 31}}));

struct ProrationCase {
  const char *name;
  std::int64_t delta;
  const char *price;
  core::Units units;
  int digits;
  const char *expected;
};

void PrintTo(const ProrationCase &c, std::ostream *os) { *os << c.name; }

class Proration : public ::testing::TestWithParam<ProrationCase> {};

TEST_P(Proration, ExactAmount) {
  const ProrationCase &c = GetParam();
  const core::MinorUnits minor = core::prorate_minor(c.delta, core::parse_decimal(c.price), c.units, c.digits);
  EXPECT_EQ(core::format_minor(minor, c.digits), c.expected);
}

INSTANTIATE_TEST_SUITE_P(
    Billing, Proration,
    ::testing::Values(
        // Published worked examples.
        ProrationCase{"plan_10_to_20_halfway_through_28_days", 1, "10", {14, 28}, 2, "5.00"},
        ProrationCase{"20_of_30_days_on_8_00", 1, "8.00", {20, 30}, 2, "5.33"},
        ProrationCase{"killbill_23_of_31", 1, "31.00", {23, 31}, 2, "23.00"},
        ProrationCase{"killbill_22_of_30", 1, "30.00", {22, 30}, 2, "22.00"},
        ProrationCase{"killbill_20_of_28", 1, "28.00", {20, 28}, 2, "20.00"},
        ProrationCase{"killbill_21_of_29_leap_february", 1, "29.00", {21, 29}, 2, "21.00"},
        ProrationCase{"killbill_23_of_31_on_49_90", 1, "49.90", {23, 31}, 2, "37.02"},
        // Ties round half away from zero, once.
        ProrationCase{"tie_0_025", 1, "0.05", {1, 2}, 2, "0.03"},
        ProrationCase{"tie_negative", -1, "0.05", {1, 2}, 2, "-0.03"},
        ProrationCase{"below_tie", 1, "0.0499", {1, 2}, 2, "0.02"},
        ProrationCase{"above_tie", 1, "0.0501", {1, 2}, 2, "0.03"},
        ProrationCase{"third_of_a_cent", 1, "0.01", {1, 3}, 2, "0.00"},
        // Whole cycle, last day, nothing.
        ProrationCase{"full_cycle_3_seats", 3, "89.90", {30, 30}, 2, "269.70"},
        ProrationCase{"last_day", 1, "89.90", {1, 30}, 2, "3.00"},
        ProrationCase{"zero_delta", 0, "89.90", {10, 30}, 2, "0.00"},
        ProrationCase{"free_plan", 5, "0", {10, 30}, 2, "0.00"},
        ProrationCase{"credit", -2, "49.90", {15, 30}, 2, "-49.90"},
        // Second granularity: half of a 30-day cycle in seconds.
        ProrationCase{"seconds_half", 3, "49.90", {1296000, 2592000}, 2, "74.85"},
        ProrationCase{"seconds_one_left", 1, "49.90", {1, 2592000}, 2, "0.00"},
        // Currencies without and with three minor digits.
        ProrationCase{"jpy_third", 1, "1000", {1, 3}, 0, "333"},
        ProrationCase{"jpy_two_thirds", 1, "1000", {2, 3}, 0, "667"},
        ProrationCase{"clp_tie", 1, "999", {1, 2}, 0, "500"},
        ProrationCase{"bhd_third", 1, "1.000", {1, 3}, 3, "0.333"},
        // Sub-cent prices.
        ProrationCase{"micro_price", 1000, "0.001234", {1, 1}, 2, "1.23"},
        // Limits near 2^31-1 and prices near 10^9 without overflow.
        ProrationCase{"max_limit_full", 2147483647, "999999999.99", {30, 30}, 2, "2147483646978525163.53"},
        ProrationCase{"max_limit_one_second_of_a_year", 2147483647, "999999999.99", {1, 31536000}, 2,
                      "68096259734.23"},
        ProrationCase{"max_limit_17_of_31", 2147483647, "999999999.99", {17, 31}, 2, "1177652322536610573.55"}),
    [](const ::testing::TestParamInfo<ProrationCase> &info) { return std::string(info.param.name); });

TEST(Proration, DayUnitsCountTheLocalDayOfAt) {
  // Kill Bill's fractions from real calendar days.
  EXPECT_EQ(core::day_units({2026, 1, 1}, {2026, 2, 1}, {2026, 1, 9}).remaining, 23);
  EXPECT_EQ(core::day_units({2026, 1, 1}, {2026, 2, 1}, {2026, 1, 9}).total, 31);
  EXPECT_EQ(core::day_units({2026, 4, 1}, {2026, 5, 1}, {2026, 4, 9}).remaining, 22);
  EXPECT_EQ(core::day_units({2026, 2, 1}, {2026, 3, 1}, {2026, 2, 9}).remaining, 20);
  EXPECT_EQ(core::day_units({2026, 2, 1}, {2026, 3, 1}, {2026, 2, 9}).total, 28);
  EXPECT_EQ(core::day_units({2028, 2, 1}, {2028, 3, 1}, {2028, 2, 9}).remaining, 21);
  EXPECT_EQ(core::day_units({2028, 2, 1}, {2028, 3, 1}, {2028, 2, 9}).total, 29);
  // The first day counts whole; the last day is one unit.
  EXPECT_EQ(core::day_units({2026, 1, 31}, {2026, 2, 28}, {2026, 1, 31}).remaining, 28);
  EXPECT_EQ(core::day_units({2026, 1, 31}, {2026, 2, 28}, {2026, 2, 27}).remaining, 1);
}

TEST(Proration, OutsideTheCycleIsRefused) {
  EXPECT_THROW(core::day_units({2026, 1, 1}, {2026, 2, 1}, {2026, 2, 1}), core::Error);
  EXPECT_THROW(core::day_units({2026, 1, 1}, {2026, 2, 1}, {2025, 12, 31}), core::Error);
  EXPECT_THROW(core::day_units({2026, 2, 1}, {2026, 1, 1}, {2026, 1, 15}), core::Error);
  EXPECT_THROW(core::second_units(0, 100, 100), core::Error);
  EXPECT_THROW(core::second_units(100, 100, 100), core::Error);
  EXPECT_EQ(core::second_units(0, 100, 0).remaining, 100);
}

TEST(Proration, Decimals) {
  EXPECT_EQ(core::parse_decimal("49.90").mantissa, 4990);
  EXPECT_EQ(core::parse_decimal("49.90").scale, 2);
  EXPECT_EQ(core::parse_decimal("10").scale, 0);
  EXPECT_EQ(core::parse_decimal("1.1234560000").scale, 6);
  EXPECT_THROW(core::parse_decimal("1.1234567"), core::Error);
  EXPECT_THROW(core::parse_decimal("NaN"), core::Error);
  EXPECT_THROW(core::parse_decimal(""), core::Error);
  EXPECT_THROW(core::parse_decimal("1e5"), core::Error);
  EXPECT_THROW(core::parse_decimal("10000000000000000"), core::Error);
  EXPECT_EQ(core::format_minor(5, 2), "0.05");
  EXPECT_EQ(core::format_minor(-5, 2), "-0.05");
  EXPECT_EQ(core::format_minor(12345, 0), "12345");
  EXPECT_EQ(core::format_minor(7, 3), "0.007");
}

TEST(Proration, BadInput) {
  EXPECT_THROW(core::parse_granularity("hour"), core::Error);
  EXPECT_THROW(core::prorate_minor(1, core::parse_decimal("-1"), {1, 2}, 2), core::Error);
  EXPECT_THROW(core::prorate_minor(1, core::parse_decimal("1"), {3, 2}, 2), core::Error);
  try {
    // A thousand-year cycle in seconds at the largest price overflows 128 bits.
    core::prorate_minor(2147483647, core::parse_decimal("999999999999999"), {31536000000, 31536000000}, 3);
    FAIL() << "expected an overflow";
  } catch (const core::Error &e) {
    EXPECT_STREQ(core::sqlstate_of(e.code()), "22003");
  }
}
