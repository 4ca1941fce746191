#include "core/messages.hpp"

#include <cstdio>

namespace broker_seats::core {

namespace {

bool same_ignoring_case(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

}  // namespace

const char *language_name(Language language) noexcept {
  for (const LanguageName &n : language_names)
    if (n.shown && n.language == language) return n.name;
  return "pt_BR";
}

Language parse_language(std::string_view name) {
  for (const LanguageName &n : language_names)
    if (same_ignoring_case(name, n.name)) return n.language;
  throw Error(ErrorCode::invalid_argument, "unknown language \"" + std::string(name) + "\"", {},
              "Use pt_BR or en.");
}

std::string customer_message(std::string_view kind, Language lang) {
  const bool pt = lang == Language::pt_BR;
  if (kind == "limit_reached")
    return pt ? "Seu plano atingiu o limite de corretores ativos. Posso te ajudar a liberar assento "
                "desativando um corretor inativo ou aplicar upgrade imediato com pró-rata."
              : "Your plan has reached its limit of active brokers. I can help you free a seat by "
                "deactivating an inactive broker, or apply an immediate upgrade with proration.";
  if (kind == "upgrade_applied")
    return pt ? "Upgrade confirmado. Seu novo limite de corretores já está ativo e disponível no CRM."
              : "Upgrade confirmed. Your new broker limit is already active and available in the CRM.";
  if (kind == "downgrade_scheduled")
    return pt ? "Downgrade registrado e programado para o próximo ciclo, sem impacto no seu acesso atual."
              : "Downgrade recorded and scheduled for the next cycle, with no impact on your current access.";
  throw Error(ErrorCode::invalid_argument, "unknown message kind \"" + std::string(kind) + "\"", {},
              "Use limit_reached, upgrade_applied or downgrade_scheduled.");
}

namespace {

// `n` and the word for one or for many of it: "1 corretor", "2 corretores".
std::string count_of(std::int64_t n, const char *one, const char *many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string local_date(const Date &d, Language lang) {
  char buf[32];
  if (lang == Language::pt_BR)
    std::snprintf(buf, sizeof buf, "%02d/%02d/%04d", d.day, d.month, d.year);
  else
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", d.year, d.month, d.day);
  return buf;
}

}  // namespace

std::string customer_message(std::string_view kind, Language lang, const OrgFacts &facts) {
  std::string text = customer_message(kind, lang);
  const bool pt = lang == Language::pt_BR;
  const std::string used = std::to_string(facts.used), limit = std::to_string(facts.limit);
  if (kind == "limit_reached") {
    text += pt ? " Em uso: " + used + " de " + count_of(facts.limit, "assento", "assentos") + " de corretor."
               : " In use: " + used + " of " + count_of(facts.limit, "broker seat", "broker seats") + ".";
  } else if (kind == "upgrade_applied") {
    text += pt ? " Novo limite: " + count_of(facts.limit, "corretor ativo", "corretores ativos") + " (" + used + " em uso)."
               : " New limit: " + count_of(facts.limit, "active broker", "active brokers") + " (" + used + " in use).";
  } else if (facts.has_pending_downgrade) {
    const std::string on = local_date(facts.pending_on, lang);
    text += pt ? " Novo limite: " + count_of(facts.pending_limit, "corretor", "corretores") + " a partir de " + on +
                     "; até lá, o limite atual de " + limit + " continua valendo."
               : " New limit: " + count_of(facts.pending_limit, "broker", "brokers") + " from " + on +
                     "; until then your current limit of " + limit + " stays in place.";
  } else {
    text += pt ? " Limite atual: " + count_of(facts.limit, "corretor ativo", "corretores ativos") + "; nenhum downgrade pendente."
               : " Current limit: " + count_of(facts.limit, "active broker", "active brokers") + "; no downgrade is pending.";
  }
  return text;
}

Error no_free_seat(std::string_view org, std::int64_t used, std::int64_t limit, std::int64_t requested,
                   Language lang) {
  const bool pt = lang == Language::pt_BR;
  const std::string usage = std::to_string(used) + "/" + std::to_string(limit);
  std::string detail = pt ? "Organização " + std::string(org) + ": " + usage +
                                (limit == 1 ? " assento de corretor em uso" : " assentos de corretor em uso")
                          : "Organization " + std::string(org) + ": " + usage +
                                (limit == 1 ? " broker seat in use" : " broker seats in use");
  if (requested > 1)
    detail += pt ? "; a operação pedia mais " + std::to_string(requested) + "."
                 : "; the statement asked for " + std::to_string(requested) + " more.";
  else
    detail += ".";
  std::string hint = pt ? "Desative um corretor inativo ou faça um upgrade imediato com pró-rata (seats.upgrade)."
                        : "Deactivate an inactive broker or upgrade now with proration (seats.upgrade).";
  return Error(ErrorCode::no_free_seat, customer_message("limit_reached", lang), std::move(detail),
               std::move(hint));
}

Error no_subscription(std::string_view org) {
  return Error(ErrorCode::no_subscription, "organization \"" + std::string(org) + "\" has no subscription", {},
               "Onboard it first with seats.onboard().");
}

}  // namespace broker_seats::core
