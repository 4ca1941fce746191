#include <algorithm>

#include "pg/statement_deltas.hpp"

#include "pg/boundary.hpp"
#include "pg/seat_counter.hpp"

extern "C" {
#include "executor/spi.h"
#include "catalog/pg_type_d.h"
#include "nodes/parsenodes.h"
#include "executor/executor.h"
#include "tcop/utility.h"
#include "utils/memutils.h"
}

namespace broker_seats::pg {
namespace {

// The statement being finished at one nesting depth, and what its
// triggers changed: each trigger's net deltas, appended (most statements
// fire one trigger: no hashing, one sort at the end).
struct Frame {
  int depth;
  MemoryContext parent;   // where `context` is made, on first use
  MemoryContext context;  // holds the deltas; deleted with the frame
  bool owns_context;
  core::OrgDelta *deltas;
  std::size_t count;
  std::size_t capacity;
  bool has_source;
  BlockSource source;  // the first trigger that asked for seats
  Frame *outer;
};

Frame *current_frame = nullptr;
// How many executor runs, finishes and utility commands are in progress: a
// trigger belongs to the innermost frame only when nothing else (a nested
// statement of another trigger, say) was entered since that frame opened.
int nesting = 0;

ExecutorRun_hook_type previous_run = nullptr;
ExecutorFinish_hook_type previous_finish = nullptr;
ProcessUtility_hook_type previous_utility = nullptr;

void add_to_frame(Frame *frame, const core::OrgDelta *deltas, std::size_t count) {
  if (frame->context == nullptr) {
    frame->context = AllocSetContextCreate(frame->parent, "broker_seats statement", ALLOCSET_SMALL_SIZES);
    frame->owns_context = true;
  }
  if (frame->count + count > frame->capacity) {
    const std::size_t capacity = std::max<std::size_t>(2 * frame->capacity, frame->count + count);
    auto *grown = static_cast<core::OrgDelta *>(
        MemoryContextAllocExtended(frame->context, sizeof(core::OrgDelta) * capacity, MCXT_ALLOC_HUGE));
    if (frame->count > 0) memcpy(static_cast<void *>(grown), frame->deltas, sizeof(core::OrgDelta) * frame->count);
    frame->deltas = grown;
    frame->capacity = capacity;
  }
  for (std::size_t i = 0; i < count; ++i) {
    // The trigger's org texts die with its call: keep copies.
    const std::string_view view = deltas[i].org;
    char *org = static_cast<char *>(MemoryContextAlloc(frame->context, view.size() + 1));
    memcpy(org, view.data(), view.size());
    org[view.size()] = '\0';
    frame->deltas[frame->count++] = core::OrgDelta{std::string_view(org, view.size()), deltas[i].delta};
  }
}

Datum flush_body(Frame *frame) {
  // Sorted by org, then equal orgs of several triggers merged.
  core::order_by_org(frame->deltas, frame->count);
  std::size_t kept = 0;
  for (std::size_t i = 0; i < frame->count; ++i) {
    if (kept > 0 && frame->deltas[kept - 1].org == frame->deltas[i].org)
      frame->deltas[kept - 1].delta += frame->deltas[i].delta;
    else
      frame->deltas[kept++] = frame->deltas[i];
  }
  apply_seat_deltas(frame->deltas, kept, frame->has_source ? &frame->source : nullptr);
  return 0;
}

// Applies a frame's changes; refusals come back through the one boundary.
void flush(Frame *frame) {
  if (frame->count == 0) return;
  (void)guarded("broker_seats statement end", [frame]() { return flush_body(frame); });
}

// `context` holds the deltas when given (the query's own memory, freed with
// it); otherwise one is made under `parent` when a trigger first needs it.
void open_frame(Frame *frame, MemoryContext parent, MemoryContext context) {
  frame->depth = ++nesting;
  frame->parent = parent;
  frame->context = context;
  frame->owns_context = false;
  frame->deltas = nullptr;
  frame->count = 0;
  frame->capacity = 0;
  frame->has_source = false;
  frame->outer = current_frame;
  current_frame = frame;
}

void close_frame(Frame *frame) {
  current_frame = frame->outer;
  --nesting;
}

void run_hook(QueryDesc *query, ScanDirection direction, uint64 count, bool execute_once) {
  ++nesting;
  PG_TRY();
  {
    if (previous_run)
      previous_run(query, direction, count, execute_once);
    else
      standard_ExecutorRun(query, direction, count, execute_once);
  }
  PG_FINALLY();
  { --nesting; }
  PG_END_TRY();
}

// Runs `statement` (the standard or previous hook) inside `frame`, then
// applies what its triggers recorded. The frame is closed on every path.
template <typename Statement>
void run_in_frame(Frame *frame, Statement &&statement) {
  PG_TRY();
  {
    statement();
    close_frame(frame);
    flush(frame);
  }
  PG_CATCH();
  {
    if (current_frame == frame) close_frame(frame);
    PG_RE_THROW();
  }
  PG_END_TRY();
}

void finish_hook(QueryDesc *query) {
  Frame frame;
  // The frame lives in the query's memory: freed with it, also on error.
  open_frame(&frame, nullptr, query->estate->es_query_cxt);
  run_in_frame(&frame, [query] {
    if (previous_finish)
      previous_finish(query);
    else
      standard_ExecutorFinish(query);
  });
}

// The distributed member tables a TRUNCATE being run emptied (a handful).
constexpr int kTruncated = 8;
Oid truncated[kTruncated];
int truncated_count = 0;

void recount_truncated() {
  while (truncated_count > 0) {
    const Oid relid = truncated[--truncated_count];
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    Oid types[1] = {REGCLASSOID};
    Datum values[1] = {ObjectIdGetDatum(relid)};
    if (SPI_execute_with_args("SELECT seats._truncate_distributed($1)", 1, types, values, nullptr, false, 0) !=
        SPI_OK_SELECT)
      elog(ERROR, "could not give back the seats of the truncated table %u", relid);
    SPI_finish();
  }
}

void utility_hook(PlannedStmt *statement, const char *query, bool read_only_tree, ProcessUtilityContext context,
                  ParamListInfo params, QueryEnvironment *environment, DestReceiver *dest, QueryCompletion *qc) {
  // A TRUNCATE left over by an aborted command is not this one's.
  if (nesting == 0 && current_frame == nullptr) truncated_count = 0;
  Frame frame;
  open_frame(&frame, CurrentMemoryContext, nullptr);
  run_in_frame(&frame, [&] {
    if (previous_utility)
      previous_utility(statement, query, read_only_tree, context, params, environment, dest, qc);
    else
      standard_ProcessUtility(statement, query, read_only_tree, context, params, environment, dest, qc);
  });
  // A utility command may end the transaction (COMMIT inside CALL): the
  // frame's context is a child of the memory current at the start, which
  // outlives the command either way (and is reset with it on error).
  if (frame.owns_context) MemoryContextDelete(frame.context);
  if (truncated_count > 0 && IsA(statement->utilityStmt, TruncateStmt)) recount_truncated();
}

}  // namespace

void record_seat_deltas(const core::OrgDelta *deltas, std::size_t count, const BlockSource *source) {
  if (count == 0) return;
  if (current_frame != nullptr && current_frame->depth == nesting) {
    add_to_frame(current_frame, deltas, count);
    if (source != nullptr && !current_frame->has_source) {
      // The role text lives in the column cache, which an invalidation may
      // rebuild before the statement ends: keep a copy.
      current_frame->source.relation = source->relation;
      current_frame->source.role = MemoryContextStrdup(current_frame->context, source->role ? source->role : "");
      current_frame->has_source = true;
    }
    return;
  }
  auto *sorted = static_cast<core::OrgDelta *>(palloc_extended(sizeof(core::OrgDelta) * count, MCXT_ALLOC_HUGE));
  memcpy(static_cast<void *>(sorted), deltas, sizeof(core::OrgDelta) * count);
  core::order_by_org(sorted, count);
  // The statement that loaded the library has no frame: were it to fire
  // several of our triggers (ON CONFLICT DO UPDATE, a writable CTE, MERGE,
  // TRUNCATE of a tree), their org locks would come in several sorted runs.
  // Once per session (never with the library preloaded), it takes the
  // all-organizations lock instead.
  if (current_frame == nullptr && nesting == 0) lock_all_orgs();
  apply_seat_deltas(sorted, count, source);
}

void recount_after_truncate(Oid relid) {
  for (int i = 0; i < truncated_count; ++i)
    if (truncated[i] == relid) return;
  if (truncated_count == kTruncated)
    ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                    errmsg("cannot truncate more than %d distributed member tables in one command", kTruncated)));
  truncated[truncated_count++] = relid;
}

void install_statement_hooks() {
  previous_run = ExecutorRun_hook;
  ExecutorRun_hook = run_hook;
  previous_finish = ExecutorFinish_hook;
  ExecutorFinish_hook = finish_hook;
  previous_utility = ProcessUtility_hook;
  ProcessUtility_hook = utility_hook;
}

}  // namespace broker_seats::pg
