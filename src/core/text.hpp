// What counts as a blank text: a reason, an impact, a request key or a
// role name that holds nothing a person could read. One rule for every
// argument that must say something (seats._blank).
#pragma once
#include "core/pure.hpp"

#include <string_view>

namespace broker_seats::core {

// True when `utf8` is empty or holds only white space (Unicode White_Space:
// ASCII tab to carriage return and space, U+0085, U+00A0, U+1680,
// U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000) and invisible
// format characters (U+180E, U+200B..U+200D, U+2060, U+FEFF). A byte
// sequence that is not UTF-8 is not blank.
bool is_blank(std::string_view utf8) noexcept;

}  // namespace broker_seats::core
