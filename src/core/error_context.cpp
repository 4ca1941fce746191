#include "core/error_context.hpp"

namespace broker_seats::core {
namespace {

constexpr std::string_view plpgsql_prefix = "PL/pgSQL function ";
constexpr std::string_view statement_prefix = "SQL statement \"";
constexpr std::string_view sql_function_prefix = "SQL function \"";

bool starts_with(std::string_view s, std::string_view prefix) noexcept {
  return s.substr(0, prefix.size()) == prefix;
}

// One CONTEXT entry: [begin, end) of the text, end at its newline or the end.
struct Entry {
  std::size_t begin = 0;
  std::size_t end = 0;
  std::string_view text;
};

bool starts_entry(std::string_view line) noexcept {
  return starts_with(line, plpgsql_prefix) || starts_with(line, statement_prefix) ||
         starts_with(line, sql_function_prefix);
}

// The entry starting at pos. An SQL statement's text may hold newlines: it
// runs on until a line that starts another known entry.
Entry entry_at(std::string_view context, std::size_t pos) noexcept {
  std::size_t end = context.find('\n', pos);
  if (end == std::string_view::npos) end = context.size();
  if (starts_with(context.substr(pos), statement_prefix)) {
    while (end < context.size()) {
      std::size_t next = context.find('\n', end + 1);
      if (next == std::string_view::npos) next = context.size();
      if (starts_entry(context.substr(end + 1, next - end - 1))) break;
      end = next;
    }
  }
  return Entry{pos, end, context.substr(pos, end - pos)};
}

// "seats._upgrade" of "PL/pgSQL function seats._upgrade(text,...) line 12 at ...",
// or empty when the function is not in the internal schema.
std::string_view internal_plpgsql_name(std::string_view entry) noexcept {
  if (!starts_with(entry, plpgsql_prefix)) return {};
  std::string_view rest = entry.substr(plpgsql_prefix.size());
  if (!starts_with(rest, internal_schema) || rest.substr(internal_schema.size(), 1) != ".") return {};
  rest.remove_prefix(internal_schema.size() + 1);
  std::size_t paren = rest.find('(');
  if (paren == std::string_view::npos || paren == 0) return {};
  return rest.substr(0, paren);
}

std::string_view sql_function_name(std::string_view entry) noexcept {
  if (!starts_with(entry, sql_function_prefix)) return {};
  std::string_view rest = entry.substr(sql_function_prefix.size());
  std::size_t quote = rest.find('"');
  if (quote == std::string_view::npos) return {};
  return rest.substr(0, quote);
}

}  // namespace

std::size_t internal_context_length(std::string_view context) noexcept {
  // Entries are judged inner to outer. A statement or an SQL function is
  // ours when the frame below it (the one that ran it) is ours, so pending
  // ones wait for the next PL/pgSQL frame to decide.
  std::size_t ours_end = 0;          // end of the run judged ours so far
  std::string_view last_internal;    // name of the last PL/pgSQL frame of ours
  std::size_t pos = 0;
  while (pos < context.size()) {
    Entry e = entry_at(context, pos);
    std::string_view name = internal_plpgsql_name(e.text);
    if (!name.empty()) {
      ours_end = e.end;
      last_internal = name;
    } else if (starts_with(e.text, statement_prefix)) {
      // Decided by the frame below.
    } else if (std::string_view fn = sql_function_name(e.text); !fn.empty()) {
      // The public wrapper of the frame just judged ours (seats.upgrade over
      // seats._upgrade) is ours; any other SQL function waits for the frame
      // below: ours if it is (our SQL helpers run inside our PL/pgSQL).
      if (ours_end != 0 && ours_end + 1 == pos && !last_internal.empty() && last_internal.front() == '_' &&
          last_internal.substr(1) == fn) {
        ours_end = e.end;
        last_internal = {};
      }
    } else {
      break;
    }
    pos = e.end < context.size() ? e.end + 1 : context.size();
  }
  if (ours_end == 0) return 0;
  return ours_end < context.size() ? ours_end + 1 : context.size();
}

}  // namespace broker_seats::core
