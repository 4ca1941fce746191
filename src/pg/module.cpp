// Module entry: the magic block, _PG_init and the GUCs.
#include "pg/module.hpp"

#include "pg/member_columns.hpp"

extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void _PG_init(void);
}

namespace broker_seats::pg {
namespace {

int language_setting = static_cast<int>(core::Language::pt_BR);

const struct config_enum_entry language_options[] = {
    {"pt_BR", static_cast<int>(core::Language::pt_BR), false},
    {"pt-BR", static_cast<int>(core::Language::pt_BR), true},
    {"en", static_cast<int>(core::Language::en), false},
    {nullptr, 0, false},
};

bool internal_ddl_setting = false;

}  // namespace

core::Language customer_language() noexcept { return static_cast<core::Language>(language_setting); }

bool internal_ddl() noexcept { return internal_ddl_setting; }

}  // namespace broker_seats::pg

// Works both preloaded and loaded on first use: nothing here needs
// shared_preload_libraries.
void _PG_init(void) {
  DefineCustomEnumVariable("broker_seats.language", "Language of customer-facing texts (pt_BR or en).",
                           "Used by SB001 errors and seats.customer_message().",
                           &broker_seats::pg::language_setting, broker_seats::pg::language_setting,
                           broker_seats::pg::language_options, PGC_USERSET, 0, nullptr, nullptr, nullptr);
  DefineCustomBoolVariable("broker_seats.internal_ddl", "Set by seats.attach/detach around their own trigger DDL.",
                           nullptr, &broker_seats::pg::internal_ddl_setting, false, PGC_SUSET,
                           GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE, nullptr, nullptr, nullptr);
  MarkGUCPrefixReserved("broker_seats");
  broker_seats::pg::register_member_column_invalidation();
}
