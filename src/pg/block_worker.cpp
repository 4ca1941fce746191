// The block recorder: a background worker (registered when the library is
// preloaded) that drains the shared-memory block queue into seats.event of
// the database named by broker_seats.database, every
// broker_seats.block_flush_interval, in transactions of its own. It takes
// the org locks like any writer of the audit chain; writers never wait for
// it. On SIGTERM (a clean shutdown) it drains what is queued, then exits;
// the postmaster restarts it a second after it dies.
#include "pg/block_worker.hpp"
#include "pg/module.hpp"
#include "pg/block_queue.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/array.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

PGDLLEXPORT void broker_seats_block_worker(Datum);
}

namespace broker_seats::pg {
namespace {

volatile sig_atomic_t shutdown_requested = false;

void on_sigterm(SIGNAL_ARGS) {
  const int saved_errno = errno;
  shutdown_requested = true;
  SetLatch(MyLatch);
  errno = saved_errno;
}

constexpr std::size_t batch_max = 512;
constexpr std::size_t storm_batch = 16;  // blocks drained at once from which they are grouped
constexpr int announce_interval_ms = 2000;
TimestampTz last_announce = 0;
bool announce_pending = false;

// The extension at a version that has the recorder's functions (1.1 on).
constexpr const char *kInstalled =
    "SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'broker_seats' AND extversion <> '1.0'";
BlockRecord batch[batch_max];

// The batch as SQL arrays, one element per event to write: the blocks of
// other databases (or of a database without the extension) are left out
// and counted as dropped; under a storm (a large batch) the blocks of one
// org, table and role become one element that counts them, so recording
// stays cheap beside the refusals.
struct BatchArrays {
  Datum values[9];
  uint64 blocks;   // refusals the elements stand for
  uint64 dropped;
};

ArrayType *array_of(Datum *items, int n, Oid type) {
  int16 len;
  bool byval;
  char align;
  get_typlenbyvalalign(type, &len, &byval, &align);
  return construct_array(items, n, type, len, byval, align);
}

BatchArrays batch_arrays(std::size_t n, bool installed) {
  BatchArrays out{};
  Datum *cols[9];
  for (auto &c : cols) c = static_cast<Datum *>(palloc(sizeof(Datum) * (n > 0 ? n : 1)));
  const bool group = n >= storm_batch;
  bool done[batch_max] = {};
  int k = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (done[i]) continue;
    done[i] = true;
    const BlockRecord &r = batch[i];
    if (!installed || r.database != MyDatabaseId || r.org_truncated) {
      ++out.dropped;
      continue;
    }
    int64 blocks = 1, requested = r.requested;
    TimestampTz last_at = r.at;
    const BlockRecord *last = &r;
    for (std::size_t j = i + 1; group && j < n; ++j) {
      const BlockRecord &o = batch[j];
      if (done[j] || o.database != r.database || o.org_truncated || o.relation != r.relation ||
          strcmp(o.org, r.org) != 0 || strcmp(o.role, r.role) != 0)
        continue;
      done[j] = true;
      ++blocks;
      requested = Max(requested, o.requested);
      last_at = Max(last_at, o.at);
      last = &o;
    }
    cols[0][k] = CStringGetTextDatum(r.org);
    cols[1][k] = TimestampTzGetDatum(r.at);
    cols[2][k] = ObjectIdGetDatum(r.relation);
    cols[3][k] = CStringGetTextDatum(r.role);
    cols[4][k] = Int64GetDatum(requested);
    cols[5][k] = Int64GetDatum(last->used);
    cols[6][k] = Int64GetDatum(last->limit);
    cols[7][k] = Int64GetDatum(blocks);
    cols[8][k] = TimestampTzGetDatum(last_at);
    out.blocks += static_cast<uint64>(blocks);
    ++k;
  }
  const Oid types[9] = {TEXTOID, TIMESTAMPTZOID, OIDOID, TEXTOID, INT8OID, INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID};
  for (int c = 0; c < 9; ++c) out.values[c] = k > 0 ? PointerGetDatum(array_of(cols[c], k, types[c])) : 0;
  return out;
}

// Writes one batch in one transaction (seats._record_blocks). Returns false
// when it failed (a deadlock with a writer, say); the transaction is then
// aborted and the caller may try again.
bool write_batch_once(std::size_t n, uint64 *written, uint64 *dropped) {
  MemoryContext caller = CurrentMemoryContext;
  volatile bool ok = true;
  PG_TRY();
  {
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    PushActiveSnapshot(GetTransactionSnapshot());
    pgstat_report_activity(STATE_RUNNING, "recording seat blocks");
    const bool installed = SPI_execute(kInstalled, true, 1) == SPI_OK_SELECT && SPI_processed == 1;
    const BatchArrays arrays = batch_arrays(n, installed);
    if (arrays.blocks > 0) {
      Oid types[9] = {TEXTARRAYOID, TIMESTAMPTZARRAYOID, OIDARRAYOID, TEXTARRAYOID, INT8ARRAYOID,
                      INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, TIMESTAMPTZARRAYOID};
      Datum values[9];
      for (int c = 0; c < 9; ++c) values[c] = arrays.values[c];
      if (SPI_execute_with_args("SELECT seats._record_blocks($1, $2, $3, $4, $5, $6, $7, $8, $9)", 9, types, values,
                                nullptr, false, 0) != SPI_OK_SELECT)
        elog(ERROR, "could not record a batch of seat blocks");
    }
    SPI_finish();
    PopActiveSnapshot();
    CommitTransactionCommand();
    *written = arrays.blocks;
    *dropped = arrays.dropped;
  }
  PG_CATCH();
  {
    MemoryContextSwitchTo(caller);
    ErrorData *error = CopyErrorData();
    FlushErrorState();
    AbortCurrentTransaction();
    ereport(LOG, (errmsg("broker_seats block recorder: a batch failed: %s", error->message)));
    FreeErrorData(error);
    ok = false;
  }
  PG_END_TRY();
  pgstat_report_activity(STATE_IDLE, nullptr);
  return ok;
}

int compare_org(const void *a, const void *b) {
  return strcmp(static_cast<const BlockRecord *>(a)->org, static_cast<const BlockRecord *>(b)->org);
}

// Writes one batch; a failed attempt (a deadlock with a writer that took
// an org's and a chain's locks in another order) is tried again, and after
// the last the batch is counted as dropped, never lost silently.
void write_batch(std::size_t n) {
  // In org order, as every writer takes the locks.
  qsort(batch, n, sizeof(BlockRecord), compare_org);
  uint64 written = 0, dropped = 0;
  bool ok = false;
  for (int attempt = 0; attempt < 3 && !ok; ++attempt) {
    if (attempt > 0) pg_usleep(100000L * attempt);
    ok = write_batch_once(n, &written, &dropped);
  }
  if (!ok) {
    written = 0;
    dropped = n;
  }
  count_recorded(written);
  count_dropped(dropped);
  if (dropped > 0)
    ereport(LOG, (errmsg("broker_seats block recorder: %llu block(s) not recorded", static_cast<unsigned long long>(dropped)),
                  errdetail("It records the blocks of database \"%s\" that has the extension.", block_database())));
}

// Writes up the block episodes that seat acquisitions or upgrades ended
// since the last wake (seats._log_resolved_episodes), in one transaction.
void close_episodes(bool announce) {
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
  PushActiveSnapshot(GetTransactionSnapshot());
  if (SPI_execute(kInstalled, true, 1) == SPI_OK_SELECT &&
      SPI_processed == 1) {
    pgstat_report_activity(STATE_RUNNING, "closing block episodes");
    if (SPI_execute("SELECT seats._log_resolved_episodes()", false, 0) != SPI_OK_SELECT)
      elog(ERROR, "could not close block episodes");
    // NOTIFY seats_alerts of a block spike first seen (sent at commit), at
    // most every announce_interval_ms while blocks arrive: a storm must not
    // make the recorder judge the day's blocks after every drain.
    const TimestampTz now = GetCurrentTimestamp();
    announce_pending = announce_pending || announce;
    if (announce_pending && TimestampDifferenceExceeds(last_announce, now, announce_interval_ms)) {
      if (SPI_execute("SELECT seats._announce_block_spikes()", false, 0) != SPI_OK_SELECT)
        elog(ERROR, "could not announce block spikes");
      last_announce = now;
      announce_pending = false;
    }
  }
  SPI_finish();
  PopActiveSnapshot();
  CommitTransactionCommand();
  pgstat_report_activity(STATE_IDLE, nullptr);
}

// Writes what the ring holds. Unless `everything` (shutdown), it stops
// after a batch that was not full: what trickles in meanwhile waits for
// the next wake (the flush interval, or the ring half full), so a storm is
// written in few, large, grouped batches.
void drain(bool everything) {
  bool recorded = false;
  for (;;) {
    // Fill the batch: with several writers the ring can stop short at a
    // slot still being written, and a transaction per few blocks is waste.
    std::size_t n = 0;
    for (std::size_t got = 1; n < batch_max && got > 0; n += got) got = take_blocks(batch + n, batch_max - n);
    if (n == 0) break;
    // Episodes that acquisitions or upgrades ended are written up first, in
    // a transaction of their own (org locks, then chains), so the batch's
    // own transaction takes its org locks before any chain lock.
    close_episodes(false);
    write_batch(n);
    recorded = true;
    if (!everything && n < batch_max) break;
  }
  close_episodes(recorded);
}

}  // namespace

void register_block_worker() {
  BackgroundWorker worker;
  memset(&worker, 0, sizeof worker);
  worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
  worker.bgw_restart_time = 1;
  strlcpy(worker.bgw_library_name, "broker_seats", BGW_MAXLEN);
  strlcpy(worker.bgw_function_name, "broker_seats_block_worker", BGW_MAXLEN);
  strlcpy(worker.bgw_name, "broker_seats block recorder", BGW_MAXLEN);
  strlcpy(worker.bgw_type, "broker_seats block recorder", BGW_MAXLEN);
  RegisterBackgroundWorker(&worker);
}

}  // namespace broker_seats::pg

using namespace broker_seats;

// The worker's entry point. Plain C: nothing here is C++ with destructors,
// and an ERROR ends the process (the postmaster starts it again).
void broker_seats_block_worker(Datum) {
  pqsignal(SIGTERM, pg::on_sigterm);
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  BackgroundWorkerUnblockSignals();
  BackgroundWorkerInitializeConnection(pg::block_database(), nullptr, 0);
  // The recorder runs as the bootstrap superuser: no name it uses may
  // resolve through a search_path the database or a role was given.
  SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
  // Blocks are best effort across a crash (SPEC §5 promises a clean
  // restart, which flushes WAL anyway): no wait for WAL flush per batch.
  SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);
  pg::set_block_worker_latch(MyLatch);
  while (!pg::shutdown_requested) {
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, pg::block_flush_interval(),
                    PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
    CHECK_FOR_INTERRUPTS();
    if (ConfigReloadPending) {
      ConfigReloadPending = false;
      ProcessConfigFile(PGC_SIGHUP);
    }
    pg::drain(false);
  }
  // SIGTERM: at a clean shutdown nothing queued is left behind. Exit code 1
  // so that the postmaster starts the recorder again when it was only this
  // process that was terminated (pg_terminate_backend).
  pg::drain(true);
  pg::set_block_worker_latch(nullptr);
  proc_exit(1);
}
