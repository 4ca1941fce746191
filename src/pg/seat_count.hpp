// Recounting seats from the member rows themselves: the one recount every
// path uses (the TRUNCATE trigger, seats.revalidate, attach and detach,
// onboarding, the DDL guard). It reads the heap with the table AM, or a
// btree index on the org column for one organization, and judges each row
// with the same column rules as the change trigger (member_columns.hpp).
// No SQL text, no operator, cast or function a non-superuser could define:
// safe to run with the extension owner's rights on a table someone else owns.
#pragma once

#include <string_view>

#include "core/seat_rules.hpp"
#include "pg/member_columns.hpp"

extern "C" {
#include "postgres.h"

#include "utils/hsearch.h"
#include "utils/rel.h"
}

namespace broker_seats::pg {

// One organization's count; the hash key is the org text pointer.
struct OrgCount {
  char *org;
  int64 count;
};

// An empty org -> count table allocated in `context`.
HTAB *create_seat_counts(MemoryContext context);

// Adds `seats` (may be negative) to `org`'s count; a new key is copied into
// `keep`. `org` must be NUL-terminated (org_text's are).
void add_seats(HTAB *counts, std::string_view org, int64 seats, MemoryContext keep);

// The table's non-zero counts as seat deltas, each times `sign`, in no
// particular order (record_seat_deltas orders them); `*n` of them, palloc'd.
// The org views point into the table's keys.
core::OrgDelta *deltas_of_counts(HTAB *counts, int sign, std::size_t *n);

// Adds the seats each organization holds in `rel` alone (not its children)
// to `counts`, read with the latest snapshot so that, under the org locks,
// every committed seat is seen. With `org` set, only that organization,
// through a btree index on the org column when there is one. With
// `active_snapshot`, read with the statement's snapshot instead: the one
// that also reads the counters, so that a comparison of the two (the
// counter_drift alert) is consistent without taking any lock.
void count_relation_seats(Relation rel, const MemberColumns &cols, const std::string_view *org, HTAB *counts,
                          bool active_snapshot = false);

}  // namespace broker_seats::pg
