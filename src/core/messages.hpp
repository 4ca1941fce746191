// Customer-facing texts of runbook §10 and the SB001 report built on them.
#pragma once
#include "core/pure.hpp"

#include <cstdint>
#include <string>
#include <string_view>

#include "core/calendar.hpp"
#include "core/error.hpp"

namespace broker_seats::core {

enum class Language { pt_BR, en };

// The names of the languages, for every way one is named: the setting
// broker_seats.language (which lists the shown ones), seats.customer_message
// and seats.set_customer_language. Matched in any case.
struct LanguageName {
  const char *name;
  Language language;
  bool shown;  // the canonical name, the one stored and listed
};
inline constexpr LanguageName language_names[] = {
    {"pt_BR", Language::pt_BR, true},
    {"pt-BR", Language::pt_BR, false},
    {"pt", Language::pt_BR, false},
    {"en", Language::en, true},
};

// One of language_names, in any case; anything else is 22023.
Language parse_language(std::string_view name);

// The shown name of a language ("pt_BR", "en").
const char *language_name(Language language) noexcept;

// Kinds: limit_reached, upgrade_applied, downgrade_scheduled; others are 22023.
std::string customer_message(std::string_view kind, Language lang);

// An organization's numbers, for the texts filled in for it.
struct OrgFacts {
  std::int64_t used = 0;
  std::int64_t limit = 0;
  bool has_pending_downgrade = false;
  std::int64_t pending_limit = 0;
  Date pending_on;  // the local date the pending downgrade takes effect
};

// The runbook's text, then one sentence with the organization's numbers
// (the runbook's words stay a prefix, so either can be matched).
std::string customer_message(std::string_view kind, Language lang, const OrgFacts &facts);

// SB001: the customer's text, `used/limit` in DETAIL (with the seats the
// statement asked for when more than one), the runbook §4.4 options in HINT.
Error no_free_seat(std::string_view org, std::int64_t used, std::int64_t limit, std::int64_t requested,
                   Language lang);

// SB002: the organization has no subscription.
Error no_subscription(std::string_view org);

}  // namespace broker_seats::core
