// The time zones of subscriptions and of proration: zones of the time zone
// database, nothing else PostgreSQL would take as a TimeZone.
#pragma once

extern "C" {
#include "postgres.h"

#include "pgtime.h"
}

namespace broker_seats::pg {

// The loaded zone that `name` (in any case) names in the time zone
// database, its spelling there copied into `canonical` (TZ_STRLEN_MAX + 1
// bytes); nullptr for anything else: a POSIX string such as "+03" (which
// PostgreSQL reads as UTC-3: POSIX signs are inverted), the database's
// non-zones (localtime, posixrules, Factory, also under posix/ or right/),
// a zone with leap seconds (right/...), a directory, an empty or too long
// name.
pg_tz *database_zone(const char *name, char *canonical);

// 22023 for a time_zone that names no zone, with what to use instead.
[[noreturn]] void unknown_time_zone(const char *name);

}  // namespace broker_seats::pg
