// Counter changes are applied once per statement, not once per trigger.
//
// One statement can fire several enforcement triggers: a writable CTE that
// updates one org and inserts into another fires the UPDATE and the INSERT
// statement triggers one after the other; TRUNCATE a, b fires one TRUNCATE
// trigger per table. Were each to lock its own orgs, the statement would take
// org locks out of order and could deadlock with another single statement.
// So each trigger only adds its net changes to the frame of the statement
// being finished (ExecutorFinish, or a utility command such as COPY or
// TRUNCATE), and the frame applies them all at the statement's end, in the
// one org order, under the escalation rule of seat_counter.hpp.
//
// A trigger fired where no frame of its own statement is open (the first
// statement of a session that had not loaded the library yet) applies its
// changes at once: still exact, only without the cross-trigger ordering.
// With shared_preload_libraries the frames are always there.
#pragma once

#include <cstddef>

#include "core/seat_rules.hpp"
#include "pg/seat_counter.hpp"

namespace broker_seats::pg {

// Applies `deltas` (any order) at the end of the current statement, or now.
// `source` (may be null) says where a refused seat was asked for.
void record_seat_deltas(const core::OrgDelta *deltas, std::size_t count, const BlockSource *source);

// Under Citus: a TRUNCATE of the distributed member table `relid` fired our
// trigger on the coordinator; once the command (and Citus's truncation of
// the shards) is done, each organization with seats is recounted on its
// worker (seats._truncate_distributed).
void recount_after_truncate(Oid relid);

void install_statement_hooks();

}  // namespace broker_seats::pg
