#include "core/messages.hpp"

#include <gtest/gtest.h>

#include <initializer_list>

#include "core/error.hpp"

namespace core = broker_seats::core;

TEST(Messages, RunbookTextsInPortuguese) {
  EXPECT_EQ(core::customer_message("limit_reached", core::Language::pt_BR),
            "Seu plano atingiu o limite de corretores ativos. Posso te ajudar a liberar assento desativando um "
            "corretor inativo ou aplicar upgrade imediato com pró-rata.");
  EXPECT_EQ(core::customer_message("upgrade_applied", core::Language::pt_BR),
            "Upgrade confirmado. Seu novo limite de corretores já está ativo e disponível no CRM.");
  EXPECT_EQ(core::customer_message("downgrade_scheduled", core::Language::pt_BR),
            "Downgrade registrado e programado para o próximo ciclo, sem impacto no seu acesso atual.");
}

TEST(Messages, EnglishAndUnknownKind) {
  EXPECT_NE(core::customer_message("limit_reached", core::Language::en).find("limit of active brokers"),
            std::string::npos);
  try {
    core::customer_message("nope", core::Language::en);
    FAIL() << "expected an error";
  } catch (const core::Error &e) {
    EXPECT_EQ(e.code(), core::ErrorCode::invalid_argument);
    EXPECT_STREQ(core::sqlstate_of(e.code()), "22023");
  }
}

TEST(Messages, Languages) {
  EXPECT_EQ(core::parse_language("pt_BR"), core::Language::pt_BR);
  EXPECT_EQ(core::parse_language("en"), core::Language::en);
  EXPECT_THROW(core::parse_language("fr"), core::Error);
  // The names the setting broker_seats.language takes, in any case, are
  // the ones set_customer_language and customer_message take (one table).
  for (const char *name : {"pt_BR", "pt-BR", "pt", "PT_br", "PT"})
    EXPECT_EQ(core::parse_language(name), core::Language::pt_BR) << name;
  for (const char *name : {"en", "EN", "En"}) EXPECT_EQ(core::parse_language(name), core::Language::en) << name;
  for (const char *name : {"", "pt_", "english", "pt_BR ", "e"}) EXPECT_THROW(core::parse_language(name), core::Error) << name;
  int shown = 0;
  for (const core::LanguageName &n : core::language_names) {
    EXPECT_EQ(core::parse_language(n.name), n.language) << n.name;
    shown += n.shown ? 1 : 0;
  }
  EXPECT_EQ(shown, 2);  // pt_BR and en: what the setting lists
  EXPECT_STREQ(core::language_name(core::Language::pt_BR), "pt_BR");
  EXPECT_STREQ(core::language_name(core::Language::en), "en");
}

TEST(Messages, NoFreeSeatCarriesUsageAndOptions) {
  const core::Error e = core::no_free_seat("acme", 2, 2, 1, core::Language::en);
  EXPECT_EQ(e.code(), core::ErrorCode::no_free_seat);
  EXPECT_STREQ(core::sqlstate_of(e.code()), "SB001");
  EXPECT_EQ(std::string(e.what()), core::customer_message("limit_reached", core::Language::en));
  EXPECT_NE(e.detail().find("2/2"), std::string::npos);
  EXPECT_NE(e.hint().find("upgrade"), std::string::npos);
  EXPECT_NE(e.hint().find("Deactivate"), std::string::npos);
  const core::Error bulk = core::no_free_seat("acme", 0, 2, 3, core::Language::en);
  EXPECT_NE(bulk.detail().find("0/2"), std::string::npos);
  EXPECT_NE(bulk.detail().find("3 more"), std::string::npos);
}

TEST(Messages, NoSubscription) {
  const core::Error e = core::no_subscription("acme");
  EXPECT_STREQ(core::sqlstate_of(e.code()), "SB002");
  EXPECT_NE(std::string(e.what()).find("acme"), std::string::npos);
}

TEST(Messages, FilledWithTheOrganizationsNumbers) {
  core::OrgFacts facts;
  facts.used = 12;
  facts.limit = 12;
  const std::string base = core::customer_message("limit_reached", core::Language::pt_BR);
  const std::string filled = core::customer_message("limit_reached", core::Language::pt_BR, facts);
  EXPECT_EQ(filled.rfind(base, 0), 0u) << "the runbook's words stay a prefix";
  EXPECT_EQ(filled.substr(base.size()), " Em uso: 12 de 12 assentos de corretor.");
  facts.limit = 30;
  EXPECT_EQ(core::customer_message("upgrade_applied", core::Language::en, facts),
            core::customer_message("upgrade_applied", core::Language::en) + " New limit: 30 active brokers (12 in use).");
  facts.has_pending_downgrade = true;
  facts.pending_limit = 10;
  facts.pending_on = core::Date{2027, 1, 5};
  EXPECT_NE(core::customer_message("downgrade_scheduled", core::Language::pt_BR, facts).find("10 corretores a partir de 05/01/2027"),
            std::string::npos);
  EXPECT_NE(core::customer_message("downgrade_scheduled", core::Language::en, facts).find("10 brokers from 2027-01-05"),
            std::string::npos);
  facts.has_pending_downgrade = false;
  EXPECT_NE(core::customer_message("downgrade_scheduled", core::Language::en, facts).find("no downgrade is pending"),
            std::string::npos);
  EXPECT_THROW(core::customer_message("nope", core::Language::en, facts), core::Error);
}

TEST(Messages, OneIsSingular) {
  core::OrgFacts facts;
  facts.used = 1;
  facts.limit = 1;
  const auto tail = [&](const char *kind, core::Language lang) {
    const std::string base = core::customer_message(kind, lang);
    return core::customer_message(kind, lang, facts).substr(base.size());
  };
  EXPECT_EQ(tail("limit_reached", core::Language::pt_BR), " Em uso: 1 de 1 assento de corretor.");
  EXPECT_EQ(tail("limit_reached", core::Language::en), " In use: 1 of 1 broker seat.");
  EXPECT_EQ(tail("upgrade_applied", core::Language::pt_BR), " Novo limite: 1 corretor ativo (1 em uso).");
  EXPECT_EQ(tail("upgrade_applied", core::Language::en), " New limit: 1 active broker (1 in use).");
  EXPECT_EQ(tail("downgrade_scheduled", core::Language::pt_BR), " Limite atual: 1 corretor ativo; nenhum downgrade pendente.");
  EXPECT_EQ(tail("downgrade_scheduled", core::Language::en), " Current limit: 1 active broker; no downgrade is pending.");
  facts.limit = 0;
  facts.used = 0;
  EXPECT_EQ(tail("limit_reached", core::Language::pt_BR), " Em uso: 0 de 0 assentos de corretor.");
  facts.limit = 2;
  facts.has_pending_downgrade = true;
  facts.pending_limit = 1;
  facts.pending_on = core::Date{2027, 1, 5};
  EXPECT_EQ(tail("downgrade_scheduled", core::Language::pt_BR),
            " Novo limite: 1 corretor a partir de 05/01/2027; até lá, o limite atual de 2 continua valendo.");
  EXPECT_EQ(tail("downgrade_scheduled", core::Language::en),
            " New limit: 1 broker from 2027-01-05; until then your current limit of 2 stays in place.");
  const core::Error one = core::no_free_seat("acme", 1, 1, 1, core::Language::pt_BR);
  EXPECT_EQ(one.detail(), "Organização acme: 1/1 assento de corretor em uso.");
  const core::Error one_en = core::no_free_seat("acme", 1, 1, 1, core::Language::en);
  EXPECT_EQ(one_en.detail(), "Organization acme: 1/1 broker seat in use.");
}
