#include "core/error_context.hpp"

#include <gtest/gtest.h>

#include <string>

namespace core = broker_seats::core;

namespace {

// What remains of a CONTEXT once the extension's own frames are dropped.
std::string remaining(const std::string &context) {
  return context.substr(core::internal_context_length(context));
}

}  // namespace

TEST(ErrorContext, OwnFramesAndTheirWrapperGoEntirely) {
  EXPECT_EQ(remaining("PL/pgSQL function seats._subscription(text) line 7 at RAISE\n"
                      "PL/pgSQL function seats._schedule_downgrade(text,integer,text) line 11 at assignment\n"
                      "SQL function \"schedule_downgrade\" statement 1"),
            "");
  EXPECT_EQ(remaining("PL/pgSQL function seats._require(anyelement,text) line 4 at RAISE\n"
                      "SQL statement \"SELECT seats._require(p_org, 'org'), seats._require(p_at, 'at')\"\n"
                      "PL/pgSQL function seats._begin_change(text,integer,text,text,timestamp with time zone) line 3 "
                      "at PERFORM\n"
                      "PL/pgSQL function seats._schedule_downgrade(text,integer,text) line 7 at assignment\n"
                      "SQL function \"schedule_downgrade\" statement 1"),
            "");
  // A public PL/pgSQL function of the schema, called directly.
  EXPECT_EQ(remaining("PL/pgSQL function seats.customer_message(text,text,text) line 14 at RETURN"), "");
}

TEST(ErrorContext, TheCallersFramesStay) {
  EXPECT_EQ(remaining("PL/pgSQL function seats._check_upgrade(seats.subscription,integer) line 8 at RAISE\n"
                      "SQL statement \"SELECT seats._check_upgrade(v_sub, p_new_limit)\"\n"
                      "PL/pgSQL function seats._upgrade(text,integer,text,timestamp with time zone) line 12 at "
                      "PERFORM\n"
                      "SQL function \"upgrade\" statement 1\n"
                      "SQL statement \"SELECT seats.upgrade('a', 1)\"\n"
                      "PL/pgSQL function myf() line 1 at PERFORM"),
            "SQL statement \"SELECT seats.upgrade('a', 1)\"\nPL/pgSQL function myf() line 1 at PERFORM");
  // The caller's own SQL function that calls a public one is not a wrapper.
  EXPECT_EQ(remaining("PL/pgSQL function seats._upgrade(text,integer,text,timestamp with time zone) line 12 at "
                      "PERFORM\n"
                      "SQL function \"upgrade\" statement 1\n"
                      "SQL function \"my_upgrade\" statement 1"),
            "SQL function \"my_upgrade\" statement 1");
  EXPECT_EQ(remaining("PL/pgSQL function seats._upgrade(text) line 1 at RAISE\n"
                      "SQL function \"_upgrade\" statement 1"),
            "SQL function \"_upgrade\" statement 1");
}

TEST(ErrorContext, InnerHelpersRunByOurFramesAreOurs) {
  EXPECT_EQ(remaining("SQL function \"_insert_change\" statement 1\n"
                      "SQL statement \"SELECT seats._insert_change(v_change)\"\n"
                      "PL/pgSQL function seats._upgrade(text,integer,text,timestamp with time zone) line 20 at "
                      "assignment\n"
                      "SQL function \"upgrade\" statement 1\n"
                      "PL/pgSQL function inline_code_block line 1 at PERFORM"),
            "PL/pgSQL function inline_code_block line 1 at PERFORM");
}

TEST(ErrorContext, NothingOfOursNothingDropped) {
  EXPECT_EQ(core::internal_context_length(""), 0u);
  EXPECT_EQ(remaining("PL/pgSQL function myf() line 1 at RAISE"), "PL/pgSQL function myf() line 1 at RAISE");
  EXPECT_EQ(remaining("SQL function \"f\" statement 1\nPL/pgSQL function inline_code_block line 1 at PERFORM"),
            "SQL function \"f\" statement 1\nPL/pgSQL function inline_code_block line 1 at PERFORM");
  // Another schema whose name starts like ours.
  EXPECT_EQ(remaining("PL/pgSQL function seatsx._f() line 1 at RAISE"), "PL/pgSQL function seatsx._f() line 1 at RAISE");
  EXPECT_EQ(remaining("SQL statement \"SELECT 1\"\nPL/pgSQL function public.g() line 2 at PERFORM"),
            "SQL statement \"SELECT 1\"\nPL/pgSQL function public.g() line 2 at PERFORM");
  EXPECT_EQ(remaining("COPY crm_members, line 3"), "COPY crm_members, line 3");
}

TEST(ErrorContext, StatementsSpanningLines) {
  EXPECT_EQ(remaining("PL/pgSQL function seats._x() line 1 at RAISE\n"
                      "SQL statement \"SELECT seats._x()\n  FROM t\nWHERE a = \"b\"\"\n"
                      "PL/pgSQL function seats._y() line 9 at PERFORM\n"
                      "PL/pgSQL function public.caller() line 1 at PERFORM"),
            "PL/pgSQL function public.caller() line 1 at PERFORM");
  // A trailing newline is dropped with the run.
  EXPECT_EQ(remaining("PL/pgSQL function seats._x() line 1 at RAISE\n"), "");
}
