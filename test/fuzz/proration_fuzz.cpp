// libFuzzer target on the billing core: calendar boundaries, day and second
// units, and the proration amount. Whatever the input: no crash, no
// undefined behaviour (built with ASan and UBSan), an amount never beyond the
// full-cycle price, and never growing as `at` moves later in the cycle.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>

#include "core/calendar.hpp"
#include "core/error.hpp"
#include "core/proration.hpp"

namespace core = broker_seats::core;

namespace {

core::Date any_date(FuzzedDataProvider &fdp) {
  return core::Date{fdp.ConsumeIntegralInRange<int>(1300, 10100), fdp.ConsumeIntegralInRange<int>(0, 13),
                    fdp.ConsumeIntegralInRange<int>(0, 32)};
}

core::MinorUnits magnitude(core::MinorUnits v) { return v < 0 ? -v : v; }

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  FuzzedDataProvider fdp(data, size);
  const core::BillingPeriod periods[] = {core::BillingPeriod::monthly, core::BillingPeriod::quarterly,
                                         core::BillingPeriod::semiannual, core::BillingPeriod::annual};
  const core::BillingPeriod period = periods[fdp.ConsumeIntegralInRange<int>(0, 3)];
  const core::Date anchor = any_date(fdp);
  const core::Date at = any_date(fdp);
  const std::int64_t delta = fdp.ConsumeIntegralInRange<std::int64_t>(-2147483648LL, 2147483647LL);
  const core::Decimal price{fdp.ConsumeIntegralInRange<std::int64_t>(0, core::max_price_mantissa),
                            fdp.ConsumeIntegralInRange<int>(0, core::max_price_scale)};
  const int digits = fdp.ConsumeIntegralInRange<int>(0, 3);
  const int later_by = fdp.ConsumeIntegralInRange<int>(0, 400);
  const bool seconds = fdp.ConsumeBool();
  try {
    const core::CycleBounds cycle = core::cycle_containing(anchor, period, at);
    check(cycle.start <= at && at < cycle.end);
    // Units at `at` and at a moment `later_by` units later in the cycle
    // (or none left when that moment is past the end).
    core::Units units, later;
    if (seconds) {
      const core::Date epoch{2000, 1, 1};
      const std::int64_t start = core::days_between(epoch, cycle.start) * 86400;
      const std::int64_t end = core::days_between(epoch, cycle.end) * 86400;
      const std::int64_t t = core::days_between(epoch, at) * 86400;
      units = core::second_units(start, end, t);
      later = t + later_by < end ? core::second_units(start, end, t + later_by) : core::Units{0, units.total};
    } else {
      units = core::day_units(cycle.start, cycle.end, at);
      const core::Date next = core::add_days(at, later_by);
      later = next < cycle.end ? core::day_units(cycle.start, cycle.end, next) : core::Units{0, units.total};
    }
    check(units.total > 0 && units.remaining >= 0 && units.remaining <= units.total);
    const core::MinorUnits amount = core::prorate_minor(delta, price, units, digits);
    const core::MinorUnits full = core::prorate_minor(delta, price, core::Units{units.total, units.total}, digits);
    const core::MinorUnits after = core::prorate_minor(delta, price, later, digits);
    check(magnitude(amount) <= magnitude(full));
    check(magnitude(after) <= magnitude(amount));
  } catch (const core::Error &) {
    // Out-of-range dates and amounts are refused with an error: fine.
  }
  return 0;
}
