#include "core/seat_rules.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace core = broker_seats::core;
using core::MemberSeat;
using core::TransitionKind;

namespace {

MemberSeat broker(std::string_view org, bool active = true) { return MemberSeat{org, true, active}; }
MemberSeat owner(std::string_view org) { return MemberSeat{org, false, true}; }

}  // namespace

TEST(ConsumesSeat, OnlyActiveSeatRoleWithOrg) {
  EXPECT_TRUE(core::consumes_seat(broker("acme")));
  EXPECT_FALSE(core::consumes_seat(broker("acme", false)));
  EXPECT_FALSE(core::consumes_seat(owner("acme")));
  EXPECT_FALSE(core::consumes_seat(MemberSeat{std::nullopt, true, true}));
}

struct TransitionCase {
  const char *name;
  std::optional<MemberSeat> before;
  std::optional<MemberSeat> after;
  TransitionKind kind;
  const char *from;
  const char *to;
};

void PrintTo(const TransitionCase &c, std::ostream *os) { *os << c.name; }

class Transitions : public ::testing::TestWithParam<TransitionCase> {};

TEST_P(Transitions, Classify) {
  const TransitionCase &c = GetParam();
  const core::Transition t = core::classify(c.before, c.after);
  EXPECT_EQ(t.kind, c.kind) << c.name;
  EXPECT_EQ(t.from, c.from) << c.name;
  EXPECT_EQ(t.to, c.to) << c.name;
}

INSTANTIATE_TEST_SUITE_P(
    SeatRules, Transitions,
    ::testing::Values(
        TransitionCase{"insert active broker", std::nullopt, broker("a"), TransitionKind::acquire, "", "a"},
        TransitionCase{"insert inactive broker", std::nullopt, broker("a", false), TransitionKind::none, "", ""},
        TransitionCase{"insert owner", std::nullopt, owner("a"), TransitionKind::none, "", ""},
        TransitionCase{"delete active broker", broker("a"), std::nullopt, TransitionKind::release, "a", ""},
        TransitionCase{"delete manager", owner("a"), std::nullopt, TransitionKind::none, "", ""},
        TransitionCase{"reactivate", broker("a", false), broker("a"), TransitionKind::acquire, "", "a"},
        TransitionCase{"deactivate", broker("a"), broker("a", false), TransitionKind::release, "a", ""},
        TransitionCase{"owner becomes broker", owner("a"), broker("a"), TransitionKind::acquire, "", "a"},
        TransitionCase{"broker becomes manager", broker("a"), owner("a"), TransitionKind::release, "a", ""},
        TransitionCase{"move between orgs", broker("a"), broker("b"), TransitionKind::move, "a", "b"},
        TransitionCase{"edit in place", broker("a"), broker("a"), TransitionKind::none, "", ""},
        TransitionCase{"move inactive broker", broker("a", false), broker("b", false), TransitionKind::none, "", ""},
        TransitionCase{"move and deactivate", broker("a"), broker("b", false), TransitionKind::release, "a", ""},
        TransitionCase{"move and reactivate", broker("a", false), broker("b"), TransitionKind::acquire, "", "b"},
        TransitionCase{"org set on active broker", MemberSeat{std::nullopt, true, true}, broker("a"),
                       TransitionKind::acquire, "", "a"},
        TransitionCase{"org cleared", broker("a"), MemberSeat{std::nullopt, true, true}, TransitionKind::release,
                       "a", ""}),
    [](const ::testing::TestParamInfo<TransitionCase> &info) {
      std::string name = info.param.name;
      for (char &ch : name)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return name;
    });

TEST(NetDeltas, SumsPerOrgSortedAndDropsZeros) {
  const std::vector<core::SeatChange> changes = {
      {"b", +1}, {"a", +1}, {"b", -1}, {"c", -1}, {"a", +1}, {"b", +1}, {"d", +1}, {"d", -1},
  };
  std::vector<core::OrgDelta> out(changes.size());
  const std::size_t n = core::net_deltas(changes.data(), changes.size(), out.data());
  ASSERT_EQ(n, 3u);
  EXPECT_EQ(out[0].org, "a");
  EXPECT_EQ(out[0].delta, 2);
  EXPECT_EQ(out[1].org, "b");
  EXPECT_EQ(out[1].delta, 1);
  EXPECT_EQ(out[2].org, "c");
  EXPECT_EQ(out[2].delta, -1);
}

TEST(NetDeltas, ByteOrderMatchesSqlCollateC) {
  // Callers lock in this order and SQL paths use ORDER BY org COLLATE "C".
  const std::vector<core::SeatChange> changes = {{"b", 1}, {"B", 1}, {"a", 1}, {"10", 1}, {"9", 1}};
  std::vector<core::OrgDelta> out(changes.size());
  ASSERT_EQ(core::net_deltas(changes.data(), changes.size(), out.data()), 5u);
  const std::vector<std::string> expected = {"10", "9", "B", "a", "b"};
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(out[i].org, expected[i]);
}

TEST(NetDeltas, ManyRowsOfOneOrg) {
  std::vector<core::SeatChange> changes(100000, core::SeatChange{"acme", +1});
  std::vector<core::OrgDelta> out(changes.size());
  ASSERT_EQ(core::net_deltas(changes.data(), changes.size(), out.data()), 1u);
  EXPECT_EQ(out[0].delta, 100000);
}

TEST(NetDeltas, Empty) {
  core::OrgDelta out[1];
  EXPECT_EQ(core::net_deltas(nullptr, 0, out), 0u);
}

TEST(CheckLimit, HardLimit) {
  EXPECT_TRUE(core::check_limit(2, 3, 1).allowed);
  EXPECT_FALSE(core::check_limit(3, 3, 1).allowed);
  EXPECT_EQ(core::check_limit(3, 3, 1).used_after, 4);
  EXPECT_FALSE(core::check_limit(0, 3, 4).allowed);
  EXPECT_TRUE(core::check_limit(0, 3, 3).allowed);
  EXPECT_TRUE(core::check_limit(0, 0, 0).allowed);
  EXPECT_FALSE(core::check_limit(0, 0, 1).allowed);
}

TEST(CheckLimit, OverLimitOrgFreesButCannotGrow) {
  // Rule 6: over limit only through a rollback; frees pass, new seats do not.
  EXPECT_TRUE(core::check_limit(5, 3, -1).allowed);
  EXPECT_TRUE(core::check_limit(5, 3, 0).allowed);
  EXPECT_FALSE(core::check_limit(4, 3, 1).allowed);
  EXPECT_TRUE(core::check_limit(4, 3, -1).allowed);
  EXPECT_TRUE(core::check_limit(3, 3, 0).allowed);
}

TEST(SeatRole, TextComparesByteForByte) {
  const std::string_view roles[] = {"broker", "agent"};
  EXPECT_TRUE(core::is_seat_role("broker", roles, 2, core::RoleComparison::exact));
  EXPECT_TRUE(core::is_seat_role("agent", roles, 2, core::RoleComparison::exact));
  EXPECT_FALSE(core::is_seat_role("broker ", roles, 2, core::RoleComparison::exact));
  EXPECT_FALSE(core::is_seat_role("Broker", roles, 2, core::RoleComparison::exact));
  EXPECT_FALSE(core::is_seat_role("", roles, 2, core::RoleComparison::exact));
  EXPECT_FALSE(core::is_seat_role("broker", roles, 0, core::RoleComparison::exact));
}

TEST(SeatRole, CharNIgnoresTrailingBlanksOnBothSides) {
  const std::string_view roles[] = {"broker"};
  EXPECT_TRUE(core::is_seat_role("broker    ", roles, 1, core::RoleComparison::blank_padded));
  EXPECT_TRUE(core::is_seat_role("broker", roles, 1, core::RoleComparison::blank_padded));
  const std::string_view padded[] = {"broker  "};
  EXPECT_TRUE(core::is_seat_role("broker", padded, 1, core::RoleComparison::blank_padded));
  EXPECT_FALSE(core::is_seat_role(" broker", roles, 1, core::RoleComparison::blank_padded));
  EXPECT_FALSE(core::is_seat_role("brokers   ", roles, 1, core::RoleComparison::blank_padded));
  const std::string_view blank[] = {""};
  EXPECT_TRUE(core::is_seat_role("   ", blank, 1, core::RoleComparison::blank_padded));
}

TEST(SeatRole, StripTrailingBlanks) {
  EXPECT_EQ(core::strip_trailing_blanks("ab  "), "ab");
  EXPECT_EQ(core::strip_trailing_blanks("  "), "");
  EXPECT_EQ(core::strip_trailing_blanks("a b"), "a b");
  EXPECT_EQ(core::strip_trailing_blanks("a\t"), "a\t");
}

TEST(OrderByOrg, ByteOrderLikeNetDeltas) {
  core::OrgDelta deltas[] = {{"b", 1}, {"B", -2}, {"a", 3}, {"ab", 1}, {"\xc3\xa9", 1}};
  core::order_by_org(deltas, 5);
  const char *expected[] = {"B", "a", "ab", "b", "\xc3\xa9"};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(deltas[i].org, expected[i]);
  const core::SeatChange changes[] = {{"b", 1}, {"B", -1}, {"B", -1}, {"a", 3}, {"ab", 1}, {"\xc3\xa9", 1}};
  core::OrgDelta netted[6];
  ASSERT_EQ(core::net_deltas(changes, 6, netted), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(netted[i].org, expected[i]);
}
