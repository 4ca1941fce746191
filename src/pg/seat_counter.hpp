// The per-organization seat counter: one lock that serializes every change to
// an org's seats, and the counter update that enforces the hard limit.
#pragma once

extern "C" {
#include "postgres.h"
}

namespace broker_seats::pg {

// Transaction-level ExclusiveLock on the organization, held to commit. Every
// writer of an org's seats (member triggers, upgrades, turnovers, revalidate)
// takes it first, so counts read after it are final. Shown in pg_locks as an
// advisory lock with objsubid 24231 (no SQL advisory call can collide).
void lock_org(const char *org, int length);

// Applies the net change `delta` to the org's seats_used, under its lock and
// with the latest committed state (so a waiting writer at REPEATABLE READ
// sees the winner's seat instead of failing with a serialization error).
// Raises SB001 when delta > 0 and the org would exceed its limit, SB002 when
// delta > 0 and the org has no subscription. The row is read through the
// primary key and updated directly in the heap (see seat_counter.cpp).
void apply_seat_delta(const char *org, int64 delta);

// Runs the TRUNCATE trigger's SPI queries as the owner of schema `seats`,
// whatever user wrote to the member table: the application needs no rights
// on seats.* and cannot write there itself. Trivially destructible on purpose: an ERROR in between is
// cleaned up by transaction abort, which restores the user.
struct OwnerRights {
  Oid saved_user;
  int saved_context;
};
OwnerRights become_extension_owner();
void restore_rights(const OwnerRights &rights);

}  // namespace broker_seats::pg
