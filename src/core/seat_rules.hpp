// The seat rules of SPEC §1: which member rows consume a seat, how a write
// moves seats between organizations, and when the hard limit refuses it.
//
// Everything here works on views of strings the caller owns and on trivially
// destructible values, so the glue can hold them across PostgreSQL calls.
#pragma once
#include "core/pure.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace broker_seats::core {

// What the rules need to know of one member row.
struct MemberSeat {
  std::optional<std::string_view> org;  // no organization: the row cannot hold a seat
  bool seat_role = false;               // its role is one of the attachment's seat roles
  bool active = false;                  // boolean true, or a NULL deactivation timestamp
};

// Rule 2: only an active member in a seat role, of some organization, consumes a seat.
constexpr bool consumes_seat(const MemberSeat &member) noexcept {
  return member.org.has_value() && member.seat_role && member.active;
}

// How a role column's value is compared with the seat roles (SPEC §7):
// text and varchar byte for byte; char(n) as PostgreSQL compares it, where
// trailing blanks are insignificant on both sides. Enum labels are matched
// by the glue through the catalog (label -> enum value) and domains take
// their base type's comparison.
enum class RoleComparison { exact, blank_padded };

// Rule 2's role half: does the role `value` name one of `roles`?
bool is_seat_role(std::string_view value, const std::string_view *roles, std::size_t count,
                  RoleComparison how) noexcept;

// `value` without its trailing blanks (char(n) semantics).
std::string_view strip_trailing_blanks(std::string_view value) noexcept;

enum class TransitionKind {
  none,     // no seat changes hands (also: an active broker edited in place)
  acquire,  // the row starts consuming a seat of `to`
  release,  // the row stops consuming the seat of `from`
  move,     // an active broker leaves `from` and takes a seat of `to`
};

struct Transition {
  TransitionKind kind = TransitionKind::none;
  std::string_view from;  // organization losing a seat (release, move)
  std::string_view to;    // organization gaining a seat (acquire, move)
};

// Old row -> new row. A missing old row is an INSERT, a missing new row a DELETE.
Transition classify(const std::optional<MemberSeat> &before, const std::optional<MemberSeat> &after) noexcept;

// Seats rows held before the statement (negative) or hold after it
// (positive): one row is -1 or +1; callers may merge rows of one org.
struct SeatChange {
  std::string_view org;
  int sign = 0;
};

// Net change of one organization's used seats within a statement.
struct OrgDelta {
  std::string_view org;
  std::int64_t delta = 0;
};

// Sums `changes` per organization into `out` (room for `count` entries),
// dropping organizations whose net change is zero, sorted by organization so
// that every caller locks organizations in one order (no lock cycles between
// statements). Returns the number written. Linear-logarithmic in `count`: one
// statement touching k seats of one org costs O(k log k), never O(k²).
std::size_t net_deltas(const SeatChange *changes, std::size_t count, OrgDelta *out);

// Sorts per-organization changes into the one lock order (byte order of
// the org key) that net_deltas also returns.
void order_by_org(OrgDelta *deltas, std::size_t count);

// Rules 3 and 6: a statement that adds seats is refused when the organization
// would end above its limit; one that frees seats or changes nothing passes,
// even for an organization already over its limit.
struct LimitCheck {
  bool allowed = true;
  std::int64_t used_after = 0;
};
constexpr LimitCheck check_limit(std::int64_t used, std::int64_t limit, std::int64_t delta) noexcept {
  return {delta <= 0 || used + delta <= limit, used + delta};
}

}  // namespace broker_seats::core
