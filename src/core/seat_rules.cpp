#include "core/seat_rules.hpp"

#include <algorithm>
#include <numeric>
#include <vector>

namespace broker_seats::core {

std::string_view strip_trailing_blanks(std::string_view value) noexcept {
  std::size_t n = value.size();
  while (n > 0 && value[n - 1] == ' ') --n;
  return value.substr(0, n);
}

bool is_seat_role(std::string_view value, const std::string_view *roles, std::size_t count,
                  RoleComparison how) noexcept {
  if (how == RoleComparison::blank_padded) value = strip_trailing_blanks(value);
  for (std::size_t i = 0; i < count; ++i) {
    const std::string_view role = how == RoleComparison::blank_padded ? strip_trailing_blanks(roles[i]) : roles[i];
    if (role == value) return true;
  }
  return false;
}

Transition classify(const std::optional<MemberSeat> &before, const std::optional<MemberSeat> &after) noexcept {
  const bool held = before && consumes_seat(*before);
  const bool holds = after && consumes_seat(*after);
  Transition t;
  if (held && holds) {
    if (*before->org == *after->org) return t;
    t.kind = TransitionKind::move;
    t.from = *before->org;
    t.to = *after->org;
  } else if (held) {
    t.kind = TransitionKind::release;
    t.from = *before->org;
  } else if (holds) {
    t.kind = TransitionKind::acquire;
    t.to = *after->org;
  }
  return t;
}

std::size_t net_deltas(const SeatChange *changes, std::size_t count, OrgDelta *out) {
  std::vector<std::size_t> order(count);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [changes](std::size_t a, std::size_t b) { return changes[a].org < changes[b].org; });
  std::size_t written = 0;
  for (std::size_t i = 0; i < count;) {
    const std::string_view org = changes[order[i]].org;
    std::int64_t delta = 0;
    for (; i < count && changes[order[i]].org == org; ++i) delta += changes[order[i]].sign;
    if (delta != 0) out[written++] = OrgDelta{org, delta};
  }
  return written;
}

void order_by_org(OrgDelta *deltas, std::size_t count) {
  std::sort(deltas, deltas + count, [](const OrgDelta &a, const OrgDelta &b) { return a.org < b.org; });
}

}  // namespace broker_seats::core
