#include "server/trace_context.h"

#include <algorithm>

namespace simile::server {
namespace {

thread_local const TraceContext* t_current = nullptr;

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

int HexValue(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

// `s` is all lowercase hex digits; `nonzero`: and not all '0'.
bool IsHexField(absl::string_view s, bool nonzero) {
  if (!std::all_of(s.begin(), s.end(), IsLowerHex)) return false;
  return !nonzero || std::any_of(s.begin(), s.end(), [](char c) { return c != '0'; });
}

}  // namespace

std::optional<TraceContext> ParseTraceparent(absl::string_view header) {
  // version(2) '-' trace-id(32) '-' parent-id(16) '-' flags(2) = 55 characters.
  constexpr size_t kLength = 55;
  if (header.size() < kLength) return std::nullopt;
  const absl::string_view version = header.substr(0, 2);
  if (!IsHexField(version, /*nonzero=*/false) || version == "ff") return std::nullopt;
  if (header[2] != '-' || header[35] != '-' || header[52] != '-') return std::nullopt;
  if (version == "00" ? header.size() != kLength : (header.size() > kLength && header[kLength] != '-')) {
    return std::nullopt;
  }
  const absl::string_view trace_id = header.substr(3, 32);
  const absl::string_view parent_id = header.substr(36, 16);
  const absl::string_view flags = header.substr(53, 2);
  if (!IsHexField(trace_id, true) || !IsHexField(parent_id, true) || !IsHexField(flags, false)) {
    return std::nullopt;
  }
  TraceContext context;
  std::copy(trace_id.begin(), trace_id.end(), context.trace_id.begin());
  std::copy(parent_id.begin(), parent_id.end(), context.span_id.begin());
  context.flags = static_cast<uint8_t>(HexValue(flags[0]) * 16 + HexValue(flags[1]));
  return context;
}

const TraceContext* CurrentTraceContext() { return t_current; }

ScopedTraceContext::ScopedTraceContext(const TraceContext* context) : previous_(t_current) {
  t_current = context;
}

ScopedTraceContext::~ScopedTraceContext() { t_current = previous_; }

}  // namespace simile::server
