// seats.prorate and seats._proration: the proration core fed with local
// dates from PostgreSQL's own time zone code (Boost has no usable tz data).
#include <string>

#include "core/currency.hpp"
#include "core/proration.hpp"
#include "pg/boundary.hpp"
#include "pg/time_zone.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "funcapi.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/datetime.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
}

namespace broker_seats::pg {
namespace {

// Arguments that repeat across calls of one query (price, currency, time
// zone, granularity, cycle bounds) are parsed once and kept in fn_extra;
// each call compares their bytes and re-parses only what changed.
struct CachedText {
  char bytes[TZ_STRLEN_MAX + 1];
  int length;  // -1: empty cache
};

struct ProrationCache {
  char price_bytes[64];  // the numeric's varlena payload
  int price_length;
  core::Decimal price;
  CachedText currency;
  int minor_digits;
  CachedText zone_name;
  pg_tz *zone;
  CachedText granularity_name;
  core::Granularity granularity;
  TimestampTz start, end;  // their local dates in `zone`
  core::Date start_date, end_date;
  bool have_bounds;
  // The last amount returned, as a numeric: rows of one day share it. Bytes,
  // not a MinorUnits: palloc aligns to 8 and a 128-bit store wants 16.
  unsigned char last_minor[sizeof(core::MinorUnits)];
  int last_digits;
  Datum last_numeric;  // in fn_mcxt; 0: none
};

// Is `t` the text cached in `c`? If not, remember it and say so.
bool same_text(CachedText &c, text *t) {
  const int length = VARSIZE_ANY_EXHDR(t);
  if (length == c.length && memcmp(c.bytes, VARDATA_ANY(t), length) == 0) return true;
  if (length < static_cast<int>(sizeof c.bytes)) {
    memcpy(c.bytes, VARDATA_ANY(t), length);
    c.bytes[length] = '\0';
    c.length = length;
  } else {
    c.length = -1;  // too long to cache: parsed (and refused) every time
  }
  return false;
}

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
    cache->price_length = -1;
    cache->currency.length = cache->zone_name.length = cache->granularity_name.length = -1;
    fcinfo->flinfo->fn_extra = cache;
  }
  return static_cast<ProrationCache *>(fcinfo->flinfo->fn_extra);
}

// The price as the billing core takes it (core::parse_decimal), or 22023:
// the one rule for prorate, quotes and upgrades, and for create_plan
// (seats._check_price), so that no plan has a price it cannot bill.
core::Decimal billable_price(Datum numeric) {
  char *price_text = DatumGetCString(DirectFunctionCall1(numeric_out, numeric));
  const core::Decimal price = core::parse_decimal(price_text);
  if (price.mantissa < 0)
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("seat_price must not be negative, got %s", price_text)));
  return price;
}

void set_price(ProrationCache *cache, Datum numeric) {
  struct varlena *v = PG_DETOAST_DATUM_PACKED(numeric);
  const int length = VARSIZE_ANY_EXHDR(v);
  if (length == cache->price_length && memcmp(cache->price_bytes, VARDATA_ANY(v), length) == 0) return;
  cache->price = billable_price(numeric);
  if (length <= static_cast<int>(sizeof cache->price_bytes)) {
    memcpy(cache->price_bytes, VARDATA_ANY(v), length);
    cache->price_length = length;
  }
}

void set_zone(ProrationCache *cache, text *name) {
  if (same_text(cache->zone_name, name) && cache->zone != nullptr) return;
  char *zone_name = text_to_cstring(name);
  char canonical[TZ_STRLEN_MAX + 1];
  pg_tz *zone = database_zone(zone_name, canonical);
  if (zone == nullptr) {
    cache->zone_name.length = -1;
    unknown_time_zone(zone_name);
  }
  cache->zone = zone;
  cache->have_bounds = false;  // local dates depend on the zone
}

// Arguments: (seat_delta int, seat_price numeric, cycle_start, cycle_end, at
// timestamptz, granularity text, time_zone text, currency text).
ProrationResult compute(FunctionCallInfo fcinfo) {
  ProrationCache *cache = cache_of(fcinfo);
  const int32 delta = DatumGetInt32(required(fcinfo, 0, "seat_delta"));
  set_price(cache, required(fcinfo, 1, "seat_price"));
  const TimestampTz start = required_timestamp(fcinfo, 2, "cycle_start");
  const TimestampTz end = required_timestamp(fcinfo, 3, "cycle_end");
  const TimestampTz at = required_timestamp(fcinfo, 4, "at");

  text *granularity = DatumGetTextPP(required(fcinfo, 5, "granularity"));
  if (!same_text(cache->granularity_name, granularity)) {
    cache->granularity_name.length = -1;  // kept only once it parsed
    cache->granularity = core::parse_granularity(std::string_view(VARDATA_ANY(granularity), VARSIZE_ANY_EXHDR(granularity)));
    same_text(cache->granularity_name, granularity);
  }
  set_zone(cache, DatumGetTextPP(required(fcinfo, 6, "time_zone")));
  text *currency = DatumGetTextPP(required(fcinfo, 7, "currency"));
  if (!same_text(cache->currency, currency)) {
    cache->currency.length = -1;
    cache->minor_digits = core::parse_currency(std::string_view(VARDATA_ANY(currency), VARSIZE_ANY_EXHDR(currency))).minor_digits;
    same_text(cache->currency, currency);
  }

  ProrationResult result;
  result.minor_digits = cache->minor_digits;
  if (cache->granularity == core::Granularity::day) {
    if (!cache->have_bounds || cache->start != start || cache->end != end) {
      cache->start_date = local_date(start, cache->zone, "cycle_start");
      cache->end_date = local_date(end, cache->zone, "cycle_end");
      cache->start = start;
      cache->end = end;
      cache->have_bounds = true;
    }
    result.units = core::day_units(cache->start_date, cache->end_date, local_date(at, cache->zone, "at"));
  } else {
    result.units = core::second_units(start / USECS_PER_SEC, end / USECS_PER_SEC, at / USECS_PER_SEC);
  }
  result.minor = core::prorate_minor(delta, cache->price, result.units, result.minor_digits);
  return result;
}

Datum numeric_of(FunctionCallInfo fcinfo, const ProrationResult &r) {
  ProrationCache *cache = cache_of(fcinfo);
  if (cache->last_numeric != 0 && memcmp(cache->last_minor, &r.minor, sizeof r.minor) == 0 &&
      cache->last_digits == r.minor_digits)
    return datumCopy(cache->last_numeric, false, -1);
  char buf[64];
  strlcpy(buf, core::format_minor(r.minor, r.minor_digits).c_str(), sizeof buf);
  const Datum value = DirectFunctionCall3(numeric_in, CStringGetDatum(buf), ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
  MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
  if (cache->last_numeric != 0) pfree(DatumGetPointer(cache->last_numeric));
  cache->last_numeric = datumCopy(value, false, -1);
  MemoryContextSwitchTo(old);
  memcpy(cache->last_minor, &r.minor, sizeof r.minor);
  cache->last_digits = r.minor_digits;
  return value;
}

}  // namespace
}  // namespace broker_seats::pg

using namespace broker_seats;

// seats.prorate(seat_delta, seat_price, cycle_start, cycle_end, at,
// granularity, time_zone, currency) -> numeric
// seats._check_price(numeric): the price, when the billing core can bill it.
BROKER_SEATS_FUNCTION(seats_check_price) {
  const Datum price = PG_GETARG_DATUM(0);
  (void)pg::billable_price(price);
  PG_RETURN_DATUM(price);
}

BROKER_SEATS_FUNCTION(seats_prorate) { return pg::numeric_of(fcinfo, pg::compute(fcinfo)); }

// seats._proration(same arguments) -> (amount, units_remaining, units_in_cycle)
BROKER_SEATS_FUNCTION(seats_proration) {
  const pg::ProrationResult r = pg::compute(fcinfo);
  TupleDesc desc;
  if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
    elog(ERROR, "seats._proration must return a composite");
  desc = BlessTupleDesc(desc);
  if (r.units.remaining > PG_INT32_MAX || r.units.total > PG_INT32_MAX)
    ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE), errmsg("the cycle is too long to count in integer units")));
  Datum values[3] = {pg::numeric_of(fcinfo, r), Int32GetDatum(static_cast<int32>(r.units.remaining)),
                     Int32GetDatum(static_cast<int32>(r.units.total))};
  bool nulls[3] = {false, false, false};
  return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}
