// The per-organization seat counter: the locks that serialize every change
// to an org's seats, and the counter update that enforces the hard limit.
//
// Locks, coarse to fine (see docs/design.md, "Locks"):
//   - every writer of seats first takes RowExclusiveLock on
//     seats.subscription (a fast-path lock: no shared lock-table entry),
//     then a transaction-level ExclusiveLock on each organization it changes
//     (an advisory lock tag with objsubid 24231), in byte order of the org;
//   - a writer about to hold more than broker_seats.org_lock_limit org locks
//     in one transaction takes ExclusiveLock on seats.subscription instead:
//     one lock that covers every organization, so statements touching
//     100,000 orgs work at default max_locks_per_transaction, at the price
//     of waiting for (and blocking) all other seat writers until commit.
#pragma once

#include <cstddef>

#include "core/seat_rules.hpp"

extern "C" {
#include "postgres.h"
}

namespace broker_seats::pg {

// Locks one organization (or nothing, when all are already held).
void lock_org(const char *org, int length);

// Prepares to lock the organizations of `orgs` (those with a non-zero
// delta): takes the all-organizations lock when the ones this transaction
// does not hold yet would take it past the limit.
void reserve_org_locks(const core::OrgDelta *orgs, std::size_t count);

// The all-organizations lock, for recounts over every subscription.
void lock_all_orgs();

// The lock of one organization's audit chain (org "" for the global one),
// to the end of the transaction: appends to a chain are serialized by it
// and not by the org lock, so the block recorder never makes a seat writer
// wait. Escalates like the org locks.
void lock_chain(const char *org, int length);

// SB003 when the organization, or everything, is frozen, judged on the
// latest committed state (call it under the org lock): naming the reason,
// who froze it, when and the incident.
void check_not_frozen(const char *org, int length);

// The hash of the chain's last event (NULL when it has none) and, when
// `id` is given, its id (0 when none), read with the latest snapshot; call
// it under the chain's lock.
bytea *chain_head(const char *org, int length, int64 *id = nullptr);

// Where the seats of a statement were asked for: recorded with a block.
struct BlockSource {
  Oid relation;
  const char *role;  // the attachment's (first) seat role; lives in the column cache
};

// Applies net changes (sorted by org, as core::net_deltas returns them):
// locks each org, then writes its counter. Raises SB001 when a positive
// delta would put an org above its limit (queueing the block for the
// recorder first, when `source` is given), SB002 when a positive delta
// names an org with no subscription.
void apply_seat_deltas(const core::OrgDelta *deltas, std::size_t count, const BlockSource *source = nullptr);

// Does Citus distribute seats.subscription in this database?
bool subscription_is_distributed();

// Is the org's seats.subscription shard on this node (always, on one node)?
bool org_is_here(const char *org, int length);

void register_seat_counter_callbacks();

}  // namespace broker_seats::pg
