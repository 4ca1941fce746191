// Module-wide settings of broker_seats.
#pragma once

#include "core/messages.hpp"

namespace broker_seats::pg {

// broker_seats.language: the language of customer-facing texts (pt_BR, en).
core::Language customer_language() noexcept;

// broker_seats.internal_ddl (superuser-only, set locally by seats.attach and
// seats.detach): lets the DDL guard accept our own trigger changes.
bool internal_ddl() noexcept;

// broker_seats.org_lock_limit (superuser-only): how many org locks one
// transaction takes before it escalates to the all-organizations lock.
int org_lock_limit() noexcept;

}  // namespace broker_seats::pg
