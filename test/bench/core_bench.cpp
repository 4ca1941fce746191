// Google Benchmark for the pure core: what one call costs without SQL.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "core/calendar.hpp"
#include "core/proration.hpp"
#include "core/seat_rules.hpp"

namespace core = broker_seats::core;

static void BM_ProrateDay(benchmark::State &state) {
  const core::Decimal price = core::parse_decimal("49.90");
  int day = 0;
  for (auto _ : state) {
    const core::Units units = core::day_units({2026, 10, 31}, {2026, 11, 30}, {2026, 11, 1 + day});
    benchmark::DoNotOptimize(core::prorate_minor(3, price, units, 2));
    day = (day + 1) % 29;
  }
}
BENCHMARK(BM_ProrateDay);

static void BM_ProrateSecond(benchmark::State &state) {
  const core::Decimal price = core::parse_decimal("49.90");
  std::int64_t t = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(core::prorate_minor(3, price, core::second_units(0, 2592000, t), 2));
    t = (t + 7919) % 2592000;
  }
}
BENCHMARK(BM_ProrateSecond);

static void BM_ParseAndFormat(benchmark::State &state) {
  for (auto _ : state) {
    const core::Decimal price = core::parse_decimal("49.90");
    benchmark::DoNotOptimize(core::format_minor(price.mantissa * 3, 2));
  }
}
BENCHMARK(BM_ParseAndFormat);

static void BM_CycleContaining(benchmark::State &state) {
  int day = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(core::cycle_containing({2026, 1, 31}, core::BillingPeriod::monthly, {2027, 3, 1 + day}));
    day = (day + 1) % 28;
  }
}
BENCHMARK(BM_CycleContaining);

// One statement touching n seats of a few orgs: netting is n log n.
static void BM_NetDeltas(benchmark::State &state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<std::string> orgs = {"org-a", "org-b", "org-c"};
  std::vector<core::SeatChange> changes(n);
  for (std::size_t i = 0; i < n; ++i) changes[i] = core::SeatChange{orgs[i % orgs.size()], i % 5 ? +1 : -1};
  std::vector<core::OrgDelta> out(n);
  for (auto _ : state) benchmark::DoNotOptimize(core::net_deltas(changes.data(), n, out.data()));
  state.SetComplexityN(state.range(0));
}
BENCHMARK(BM_NetDeltas)->RangeMultiplier(10)->Range(10, 100000)->Complexity();

BENCHMARK_MAIN();
