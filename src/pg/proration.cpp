// seats.prorate and seats._proration: the proration core fed with local
// dates from PostgreSQL's own time zone code (Boost has no usable tz data).
#include <string>

#include "core/currency.hpp"
#include "core/proration.hpp"
#include "pg/boundary.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "funcapi.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
}

namespace broker_seats::pg {
namespace {

// Arguments that repeat across calls of one query (price, currency, time
// zone, granularity) are parsed once and kept in fn_extra.
struct ProrationCache {
  char price_text[64];
  core::Decimal price;
  char currency_text[8];
  int minor_digits;
  char zone_name[TZ_STRLEN_MAX + 1];
  pg_tz *zone;
  core::Granularity granularity;
};

struct ProrationResult {
  core::MinorUnits minor;
  core::Units units;
  int minor_digits;
};

Datum required(FunctionCallInfo fcinfo, int arg, const char *name) {
  if (PG_ARGISNULL(arg))
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("%s must not be null", name)));
  return PG_GETARG_DATUM(arg);
}

TimestampTz required_timestamp(FunctionCallInfo fcinfo, int arg, const char *name) {
  const TimestampTz ts = DatumGetTimestampTz(required(fcinfo, arg, name));
  if (TIMESTAMP_NOT_FINITE(ts))
    ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE), errmsg("%s must be a finite timestamp", name)));
  return ts;
}

core::Date local_date(TimestampTz ts, pg_tz *zone, const char *name) {
  struct pg_tm tm;
  fsec_t fsec;
  int offset;
  if (timestamp2tm(ts, &offset, &tm, &fsec, nullptr, zone) != 0)
    ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE), errmsg("%s is out of range", name)));
  return core::Date{tm.tm_year, tm.tm_mon, tm.tm_mday};
}

ProrationCache *cache_of(FunctionCallInfo fcinfo) {
  if (fcinfo->flinfo->fn_extra == nullptr) {
    auto *cache = static_cast<ProrationCache *>(MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ProrationCache)));
    fcinfo->flinfo->fn_extra = cache;
  }
  return static_cast<ProrationCache *>(fcinfo->flinfo->fn_extra);
}

// Arguments: (seat_delta int, seat_price numeric, cycle_start, cycle_end, at
// timestamptz, granularity text, time_zone text, currency text).
ProrationResult compute(FunctionCallInfo fcinfo) {
  ProrationCache *cache = cache_of(fcinfo);
  const int32 delta = DatumGetInt32(required(fcinfo, 0, "seat_delta"));

  char *price_text = DatumGetCString(DirectFunctionCall1(numeric_out, required(fcinfo, 1, "seat_price")));
  if (strcmp(price_text, cache->price_text) != 0) {
    const core::Decimal price = core::parse_decimal(price_text);
    if (price.mantissa < 0)
      ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("seat_price must not be negative, got %s", price_text)));
    cache->price = price;
    strlcpy(cache->price_text, price_text, sizeof cache->price_text);
  }

  const TimestampTz start = required_timestamp(fcinfo, 2, "cycle_start");
  const TimestampTz end = required_timestamp(fcinfo, 3, "cycle_end");
  const TimestampTz at = required_timestamp(fcinfo, 4, "at");

  char *granularity = text_to_cstring(DatumGetTextPP(required(fcinfo, 5, "granularity")));
  cache->granularity = core::parse_granularity(granularity);

  char *zone_name = text_to_cstring(DatumGetTextPP(required(fcinfo, 6, "time_zone")));
  if (cache->zone == nullptr || strcmp(zone_name, cache->zone_name) != 0) {
    pg_tz *zone = strlen(zone_name) <= TZ_STRLEN_MAX ? pg_tzset(zone_name) : nullptr;
    if (zone == nullptr)
      ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("unknown time_zone \"%s\"", zone_name),
                      errhint("Use an IANA name such as America/Sao_Paulo (see pg_timezone_names).")));
    cache->zone = zone;
    strlcpy(cache->zone_name, zone_name, sizeof cache->zone_name);
  }

  char *currency = text_to_cstring(DatumGetTextPP(required(fcinfo, 7, "currency")));
  if (strcmp(currency, cache->currency_text) != 0) {
    cache->minor_digits = core::parse_currency(currency).minor_digits;
    strlcpy(cache->currency_text, currency, sizeof cache->currency_text);
  }

  ProrationResult result;
  result.minor_digits = cache->minor_digits;
  if (cache->granularity == core::Granularity::day)
    result.units = core::day_units(local_date(start, cache->zone, "cycle_start"),
                                   local_date(end, cache->zone, "cycle_end"), local_date(at, cache->zone, "at"));
  else
    result.units = core::second_units(start / USECS_PER_SEC, end / USECS_PER_SEC, at / USECS_PER_SEC);
  result.minor = core::prorate_minor(delta, cache->price, result.units, result.minor_digits);
  return result;
}

Datum numeric_of(const ProrationResult &r) {
  char buf[64];
  strlcpy(buf, core::format_minor(r.minor, r.minor_digits).c_str(), sizeof buf);
  return DirectFunctionCall3(numeric_in, CStringGetDatum(buf), ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
}

}  // namespace
}  // namespace broker_seats::pg

using namespace broker_seats;

// seats.prorate(seat_delta, seat_price, cycle_start, cycle_end, at,
// granularity, time_zone, currency) -> numeric
BROKER_SEATS_FUNCTION(seats_prorate) { return pg::numeric_of(pg::compute(fcinfo)); }

// seats._proration(same arguments) -> (amount, units_remaining, units_in_cycle)
BROKER_SEATS_FUNCTION(seats_proration) {
  const pg::ProrationResult r = pg::compute(fcinfo);
  TupleDesc desc;
  if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
    elog(ERROR, "seats._proration must return a composite");
  desc = BlessTupleDesc(desc);
  if (r.units.remaining > PG_INT32_MAX || r.units.total > PG_INT32_MAX)
    ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE), errmsg("the cycle is too long to count in integer units")));
  Datum values[3] = {pg::numeric_of(r), Int32GetDatum(static_cast<int32>(r.units.remaining)),
                     Int32GetDatum(static_cast<int32>(r.units.total))};
  bool nulls[3] = {false, false, false};
  return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}
