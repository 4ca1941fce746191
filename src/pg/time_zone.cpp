#include "pg/time_zone.hpp"

#include <cstring>
#include <initializer_list>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

// src/timezone/pgtz.c: opens the zone file of `name`, matching each level
// of the name case-insensitively against the time zone directory (hidden
// entries, hence "." and "..", never match), and gives its spelling there.
// Not in the installed headers; exported by the server since 8.x.
extern "C" int pg_open_tzfile(const char *name, char *canonname);

namespace broker_seats::pg {

pg_tz *database_zone(const char *name, char *canonical) {
  const std::size_t length = std::strlen(name);
  if (length == 0 || length > TZ_STRLEN_MAX) return nullptr;
  const int fd = pg_open_tzfile(name, canonical);
  if (fd < 0) return nullptr;
  struct stat st;
  const bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  close(fd);
  if (!regular) return nullptr;
  // The database's non-zones, also under its posix/ and right/ trees.
  const char *slash = std::strrchr(canonical, '/');
  const char *base = slash ? slash + 1 : canonical;
  for (const char *non_zone : {"localtime", "posixrules", "Factory"})
    if (std::strcmp(base, non_zone) == 0) return nullptr;
  pg_tz *zone = pg_tzset(canonical);
  // Zones with leap seconds (right/...), which PostgreSQL refuses as a
  // TimeZone too: its timestamps have none.
  if (zone != nullptr && !pg_tz_acceptable(zone)) return nullptr;
  return zone;
}

void unknown_time_zone(const char *name) {
  ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("unknown time_zone \"%s\"", name),
                  errhint("Use a zone of the time zone database such as America/Sao_Paulo (see pg_timezone_names); "
                          "not a POSIX offset such as +03, which PostgreSQL reads as UTC-3.")));
  pg_unreachable();
}

}  // namespace broker_seats::pg
