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

// Block recording (block_queue.hpp, block_worker.cpp): the ring's slots
// (server start), how often the worker drains it (ms), and the database it
// records into.
int block_queue_size() noexcept;
int block_flush_interval() noexcept;
const char *block_database() noexcept;

}  // namespace broker_seats::pg
