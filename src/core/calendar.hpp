// Billing calendar (SPEC §6): cycle boundaries are anchor + k periods, the
// anchor's day kept and clamped only where a month is shorter, always computed
// from the anchor and never by stepping from the previous boundary.
#pragma once
#include "core/pure.hpp"

#include <cstdint>
#include <string_view>

namespace broker_seats::core {

struct Date {
  int year = 2000;
  int month = 1;  // 1..12
  int day = 1;    // 1..31
  friend bool operator==(const Date &a, const Date &b) {
    return a.year == b.year && a.month == b.month && a.day == b.day;
  }
  friend bool operator<(const Date &a, const Date &b) {
    if (a.year != b.year) return a.year < b.year;
    if (a.month != b.month) return a.month < b.month;
    return a.day < b.day;
  }
  friend bool operator<=(const Date &a, const Date &b) { return !(b < a); }
};

enum class BillingPeriod { monthly = 1, quarterly = 3, semiannual = 6, annual = 12 };

// "monthly", "quarterly", "semiannual", "annual"; anything else is 22023.
BillingPeriod parse_billing_period(std::string_view name);
int months_in(BillingPeriod period) noexcept;

// The k-th boundary after the anchor (k may be negative). 22008 outside the
// years 1400..9999 that the calendar supports.
Date cycle_boundary(const Date &anchor, BillingPeriod period, std::int64_t k);

struct CycleBounds {
  Date start;  // inclusive
  Date end;    // exclusive: the next cycle starts here
};

// The cycle [boundary(k), boundary(k+1)) that contains `at`.
CycleBounds cycle_containing(const Date &anchor, BillingPeriod period, const Date &at);

// The date `days` days after `date` (before it when negative); 22008 out of range.
Date add_days(const Date &date, std::int64_t days);

// Days from `from` to `to` (negative when `to` is earlier).
std::int64_t days_between(const Date &from, const Date &to);

// A valid Gregorian date in the supported range, else 22008.
void check_date(const Date &date);

}  // namespace broker_seats::core
