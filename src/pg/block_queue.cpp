#include <algorithm>
#include <cstring>

#include "pg/module.hpp"
#include "pg/block_queue.hpp"

extern "C" {
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"
}

namespace broker_seats::pg {
namespace {

struct Slot {
  pg_atomic_uint32 ready;  // 1 once a writer has filled the record
  BlockRecord record;
};

// A multi-producer, single-consumer ring: writers claim `head` by
// compare-and-swap (never waiting), the worker alone advances `tail`.
struct Ring {
  pg_atomic_uint64 head;
  pg_atomic_uint64 tail;
  pg_atomic_uint64 dropped;
  pg_atomic_uint64 recorded;
  Latch *worker_latch;
  uint64 capacity;
  Slot slots[FLEXIBLE_ARRAY_MEMBER];
};

Ring *ring = nullptr;
shmem_request_hook_type previous_request = nullptr;
shmem_startup_hook_type previous_startup = nullptr;

Size ring_size() {
  return add_size(offsetof(Ring, slots), mul_size(static_cast<Size>(block_queue_size()), sizeof(Slot)));
}

void request_memory() {
  if (previous_request) previous_request();
  RequestAddinShmemSpace(ring_size());
}

void attach_memory() {
  if (previous_startup) previous_startup();
  LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
  bool found;
  ring = static_cast<Ring *>(ShmemInitStruct("broker_seats block queue", ring_size(), &found));
  if (!found) {
    pg_atomic_init_u64(&ring->head, 0);
    pg_atomic_init_u64(&ring->tail, 0);
    pg_atomic_init_u64(&ring->dropped, 0);
    pg_atomic_init_u64(&ring->recorded, 0);
    ring->worker_latch = nullptr;
    ring->capacity = static_cast<uint64>(block_queue_size());
    for (uint64 i = 0; i < ring->capacity; ++i) pg_atomic_init_u32(&ring->slots[i].ready, 0);
  }
  LWLockRelease(AddinShmemInitLock);
}

void copy_bounded(char *to, std::size_t max, std::string_view from, bool *truncated) {
  const std::size_t n = std::min(max, from.size());
  memcpy(to, from.data(), n);
  to[n] = '\0';
  if (truncated != nullptr) *truncated = n < from.size();
}

}  // namespace

void request_block_queue() {
  previous_request = shmem_request_hook;
  shmem_request_hook = request_memory;
  previous_startup = shmem_startup_hook;
  shmem_startup_hook = attach_memory;
}

bool block_recording_enabled() { return ring != nullptr; }

bool queue_block(std::string_view org, Oid relation, std::string_view role, int64 requested, int64 used,
                 int64 limit) {
  if (ring == nullptr) return false;
  uint64 head = pg_atomic_read_u64(&ring->head);
  for (;;) {
    const uint64 tail = pg_atomic_read_u64(&ring->tail);
    if (head - tail >= ring->capacity) {
      pg_atomic_fetch_add_u64(&ring->dropped, 1);
      return false;
    }
    // On failure `head` is reloaded with the current value.
    if (pg_atomic_compare_exchange_u64(&ring->head, &head, head + 1)) break;
  }
  Slot *slot = &ring->slots[head % ring->capacity];
  BlockRecord &r = slot->record;
  r.database = MyDatabaseId;
  r.relation = relation;
  r.at = GetCurrentTimestamp();
  r.requested = requested;
  r.used = used;
  r.limit = limit;
  copy_bounded(r.org, block_org_max, org, &r.org_truncated);
  copy_bounded(r.role, block_role_max, role, nullptr);
  pg_write_barrier();
  pg_atomic_write_u32(&slot->ready, 1);
  // A ring filling up is drained at once rather than at the next interval.
  Latch *latch = ring->worker_latch;
  if (latch != nullptr && head - pg_atomic_read_u64(&ring->tail) >= ring->capacity / 2) SetLatch(latch);
  return true;
}

std::size_t take_blocks(BlockRecord *out, std::size_t max) {
  if (ring == nullptr) return 0;
  uint64 tail = pg_atomic_read_u64(&ring->tail);
  const uint64 head = pg_atomic_read_u64(&ring->head);
  std::size_t n = 0;
  while (n < max && tail < head) {
    Slot *slot = &ring->slots[tail % ring->capacity];
    if (pg_atomic_read_u32(&slot->ready) == 0) break;  // its writer is still filling it
    pg_read_barrier();
    out[n++] = slot->record;
    pg_atomic_write_u32(&slot->ready, 0);
    ++tail;
  }
  // The slots are free before writers can see the new tail.
  pg_write_barrier();
  pg_atomic_write_u64(&ring->tail, tail);
  return n;
}

BlockQueueStats block_queue_stats() {
  BlockQueueStats stats{ring != nullptr, 0, 0, 0, 0};
  if (ring == nullptr) return stats;
  const uint64 tail = pg_atomic_read_u64(&ring->tail);
  const uint64 head = pg_atomic_read_u64(&ring->head);
  stats.queued = head > tail ? head - tail : 0;
  stats.dropped = pg_atomic_read_u64(&ring->dropped);
  stats.recorded = pg_atomic_read_u64(&ring->recorded);
  stats.capacity = ring->capacity;
  return stats;
}

void count_recorded(uint64 n) {
  if (ring != nullptr) pg_atomic_fetch_add_u64(&ring->recorded, n);
}

void count_dropped(uint64 n) {
  if (ring != nullptr) pg_atomic_fetch_add_u64(&ring->dropped, n);
}

void set_block_worker_latch(Latch *latch) {
  if (ring != nullptr) ring->worker_latch = latch;
}

}  // namespace broker_seats::pg
