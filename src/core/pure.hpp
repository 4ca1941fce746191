// Marks a header of the pure C++ core. The core works on plain values and is
// unit-tested without a server, so it must never see PostgreSQL's headers:
// their macros (likely, Max, snprintf, ...) silently change C++ and Boost code.
// Glue code therefore includes core headers before postgres.h.
#pragma once

#if defined(POSTGRES_H) || defined(PG_VERSION_NUM)
#error "src/core must not be compiled with PostgreSQL headers; include core headers before postgres.h"
#endif
