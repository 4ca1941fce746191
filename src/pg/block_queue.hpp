// Blocks recorded although their transaction aborts (SPEC §5).
//
// A refused write raises SB001 and rolls back, so it cannot record itself.
// With shared_preload_libraries = 'broker_seats' it puts the block into a
// ring in shared memory instead; the extension's background worker
// (block_worker.cpp) drains the ring into seats.event in its own
// transactions. Writers never wait: a slot is claimed with one atomic
// compare-and-swap, and a full ring counts the block as dropped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" {
#include "postgres.h"

#include "datatype/timestamp.h"
#include "storage/latch.h"
}

namespace broker_seats::pg {

constexpr std::size_t block_org_max = 200;   // bytes of the org key kept
constexpr std::size_t block_role_max = 64;   // bytes of the seat role kept

struct BlockRecord {
  Oid database;
  Oid relation;  // the member table whose statement was refused
  TimestampTz at;
  int64 requested;
  int64 used;
  int64 limit;
  bool org_truncated;
  char org[block_org_max + 1];
  char role[block_role_max + 1];
};

// Requests the ring's shared memory and hooks its initialization; from
// _PG_init while shared_preload_libraries is being processed.
void request_block_queue();

// Is block recording on in this server (the library was preloaded)?
bool block_recording_enabled();

// Queues one block; never waits, never raises. Returns false when the ring
// was full (the block is counted as dropped) or recording is off.
bool queue_block(std::string_view org, Oid relation, std::string_view role, int64 requested, int64 used,
                 int64 limit);

// The worker's side: moves up to `max` queued records of any database into
// `out`, in queue order; returns how many.
std::size_t take_blocks(BlockRecord *out, std::size_t max);

// Counters for monitoring (seats._block_recording()).
struct BlockQueueStats {
  bool enabled;
  uint64 queued;    // waiting in the ring
  uint64 dropped;   // lost to a full ring since the server started
  uint64 recorded;  // written to seats.event since the server started
  uint64 capacity;
};
BlockQueueStats block_queue_stats();
void count_recorded(uint64 n);
void count_dropped(uint64 n);

// The worker's latch, set by writers so that a burst is drained early.
void set_block_worker_latch(Latch *latch);

}  // namespace broker_seats::pg
