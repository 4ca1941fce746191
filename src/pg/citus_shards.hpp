// Where the rows of a seats table live on this node when Citus distributes
// it (docs/citus.md). On a single node, or for a table Citus does not know,
// every answer is the table itself, from a cache: the hot path pays one
// lookup.
#pragma once

extern "C" {
#include "postgres.h"
}

namespace broker_seats::pg {

// Is `relid` a Citus table (distributed or reference) in this database?
bool is_citus_table(Oid relid);

// The relation on this node that holds the rows of organization `org` of
// the seats table `relid` (org == nullptr: of a reference table): `relid`
// itself unless Citus distributes or replicates it, else its shard here.
// Raises 0A000 when that shard is on another node: the caller runs on the
// wrong node (a seats function that was not delegated to the worker that
// holds the organization), and locks or reads here would not serialize
// with that worker's writers.
Oid local_rows(Oid relid, const char *org, int length);

// The same, InvalidOid when the shard is on another node.
Oid local_rows_if_here(Oid relid, const char *org, int length);

}  // namespace broker_seats::pg
