// Module entry: the magic block, _PG_init and the GUCs.
#include "pg/module.hpp"

#include "pg/member_columns.hpp"
#include "pg/seat_counter.hpp"
#include "pg/statement_deltas.hpp"
#include "pg/block_queue.hpp"
#include "pg/block_worker.hpp"
#include "pg/error_context.hpp"

extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void _PG_init(void);
}

namespace broker_seats::pg {
namespace {

int language_setting = static_cast<int>(core::Language::pt_BR);

// The setting's values: core::language_names (the GUC matches them in any
// case, as core::parse_language does), the end marker after them.
constexpr std::size_t language_count = sizeof core::language_names / sizeof core::language_names[0];
struct config_enum_entry language_options[language_count + 1];

void fill_language_options() {
  for (std::size_t i = 0; i < language_count; ++i)
    language_options[i] = {core::language_names[i].name, static_cast<int>(core::language_names[i].language),
                           !core::language_names[i].shown};
  language_options[language_count] = {nullptr, 0, false};
}

bool internal_ddl_setting = false;

int org_lock_limit_setting = 1000;

bool recount_pending_setting = false;

int block_queue_size_setting = 4096;
int block_flush_interval_setting = 1000;
char *block_database_setting = nullptr;

}  // namespace

core::Language customer_language() noexcept { return static_cast<core::Language>(language_setting); }

bool internal_ddl() noexcept {
  if (internal_ddl_setting) return true;
  // Citus's own DDL on a node, sent by the coordinator (shards made,
  // moved, dropped): it arrives as a superuser on a connection Citus names
  // "citus_internal ...". The guard has nothing to judge there, and its
  // queries of the seats tables would be distributed queries inside a
  // shard's DDL, which Citus refuses. A superuser is trusted anyway.
  if (!superuser()) return false;
  const char *app = GetConfigOption("application_name", true, false);
  return app != nullptr && strncmp(app, "citus_internal", 14) == 0;
}

int org_lock_limit() noexcept { return org_lock_limit_setting; }

int block_queue_size() noexcept { return block_queue_size_setting; }

int block_flush_interval() noexcept { return block_flush_interval_setting; }

const char *block_database() noexcept { return block_database_setting ? block_database_setting : "postgres"; }

}  // namespace broker_seats::pg

// Works both preloaded and loaded on first use: nothing here needs
// shared_preload_libraries.
void _PG_init(void) {
  // The error hook first: defining the settings below can warn about a
  // value set before the library was loaded, from inside our functions.
  broker_seats::pg::install_error_context_hook();
  broker_seats::pg::fill_language_options();
  DefineCustomEnumVariable("broker_seats.language", "Language of customer-facing texts (pt_BR or en).",
                           "Used by SB001 errors and seats.customer_message().",
                           &broker_seats::pg::language_setting, broker_seats::pg::language_setting,
                           broker_seats::pg::language_options, PGC_USERSET, 0, nullptr, nullptr, nullptr);
  DefineCustomBoolVariable("broker_seats.internal_ddl", "Set by seats.attach/detach around their own trigger DDL.",
                           nullptr, &broker_seats::pg::internal_ddl_setting, false, PGC_SUSET,
                           GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE, nullptr, nullptr, nullptr);
  DefineCustomBoolVariable("broker_seats.recount_pending",
                           "Set by the table_rewrite guard when an attached table was rewritten.", nullptr,
                           &broker_seats::pg::recount_pending_setting, false, PGC_SUSET,
                           GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("broker_seats.org_lock_limit",
                          "Organization locks one transaction takes before it locks all organizations at once.",
                          "Above it, one ExclusiveLock on seats.subscription replaces the per-organization locks, "
                          "so statements touching very many organizations fit in max_locks_per_transaction.",
                          &broker_seats::pg::org_lock_limit_setting, broker_seats::pg::org_lock_limit_setting, 0,
                          INT_MAX / 2, PGC_SUSET, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("broker_seats.block_flush_interval", "How often the block recorder writes queued blocks to seats.event.",
                          nullptr, &broker_seats::pg::block_flush_interval_setting,
                          broker_seats::pg::block_flush_interval_setting, 10, 3600 * 1000, PGC_SIGHUP, GUC_UNIT_MS,
                          nullptr, nullptr, nullptr);
  // Block recording needs the library preloaded; its server-start settings
  // can only be defined then (as pg_stat_statements does).
  if (process_shared_preload_libraries_in_progress) {
    DefineCustomIntVariable("broker_seats.block_queue_size", "Blocks the shared-memory queue holds until the recorder drains them.",
                          "A full queue counts further blocks as dropped; writers never wait. Needs a restart.",
                          &broker_seats::pg::block_queue_size_setting, broker_seats::pg::block_queue_size_setting, 16,
                          1 << 20, PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
    DefineCustomStringVariable("broker_seats.database", "The database whose seats.event the block recorder writes.",
                             "Blocks in other databases are counted as dropped.", &broker_seats::pg::block_database_setting,
                             "postgres", PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
    broker_seats::pg::request_block_queue();
    broker_seats::pg::register_block_worker();
  }
  MarkGUCPrefixReserved("broker_seats");
  broker_seats::pg::register_member_column_invalidation();
  broker_seats::pg::register_seat_counter_callbacks();
  broker_seats::pg::install_statement_hooks();
}
