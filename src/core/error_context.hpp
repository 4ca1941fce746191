// The CONTEXT of an error the extension raises names its own PL/pgSQL and
// SQL frames (seats._upgrade line 12, SQL function "upgrade" statement 1):
// internal detail a client should never see (issue 12). This finds how much
// of a CONTEXT text, from its start, is the extension's own frames, so that
// the glue can drop it and keep the frames of the caller's code below.
#pragma once
#include "core/pure.hpp"

#include <cstddef>
#include <string_view>

namespace broker_seats::core {

// The schema whose PL/pgSQL frames are the extension's own. Nobody but the
// extension's owner can create functions in it.
constexpr std::string_view internal_schema = "seats";

// The length of the leading run of CONTEXT entries that belong to the
// extension, including the newline after the last one; context.size() when
// every entry does, 0 when the first one does not. Entries are:
//   PL/pgSQL function seats.<name>(...) line N at ...      ours
//   SQL statement "..." (the text may span lines)          ours if the frame that ran it is
//   SQL function "<name>" statement N                      ours if it ran inside one of our
//                                                          frames, or is the public wrapper
//                                                          of the PL/pgSQL frame just above
//                                                          (seats.x over seats._x)
// Anything else (the caller's functions, a DO block) ends the run.
std::size_t internal_context_length(std::string_view context) noexcept;

}  // namespace broker_seats::core
