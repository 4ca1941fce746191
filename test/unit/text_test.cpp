#include "core/text.hpp"

#include <gtest/gtest.h>

#include <initializer_list>

namespace core = broker_seats::core;

TEST(Text, BlankIsNothingToRead) {
  for (const char *blank : {"", " ", "\t", "\n", " \r\n\t ", "\xC2\xA0",  // no-break space
                            "\xE2\x80\x83", "\xE2\x80\x8B", "\xEF\xBB\xBF", "\xE3\x80\x80 \xE2\x81\xA0"})
    EXPECT_TRUE(core::is_blank(blank)) << blank;
  for (const char *text : {"x", " ticket-1 ", "\xC3\xA9", "\t.", "0", "\xE2\x80\x8B" "a"})
    EXPECT_FALSE(core::is_blank(text)) << text;
  // Not UTF-8: a truncated sequence, a stray continuation byte.
  EXPECT_FALSE(core::is_blank("\xC2"));
  EXPECT_FALSE(core::is_blank("\x80"));
}
