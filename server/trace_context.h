// W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` a caller sends in request
// metadata, parsed strictly, and carried into the log lines written while that request is handled.
//
//   traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
//                version-trace_id(32 hex)-parent_id(16 hex)-flags(2 hex)
//
// Log lines of a request with a valid traceparent carry "trace_id" and "span_id" fields: the caller's trace
// and the caller's span (simile records no spans of its own, so the caller's span is the one its work belongs
// to). An invalid header is ignored, as the specification requires: the request runs, its lines carry no
// trace fields.
//
// Thread safety: ParseTraceparent is pure. The current context is per thread (ScopedTraceContext sets it for
// one scope on the calling thread only).
#ifndef SIMILE_SERVER_TRACE_CONTEXT_H_
#define SIMILE_SERVER_TRACE_CONTEXT_H_

#include <array>
#include <cstdint>
#include <optional>

#include "absl/strings/string_view.h"

namespace simile::server {

struct TraceContext {
  std::array<char, 32> trace_id{};  // Lowercase hex, not all zeros.
  std::array<char, 16> span_id{};   // The caller's span (the header's parent-id); lowercase hex, not all zeros.
  uint8_t flags = 0;                // Bit 0: sampled.

  [[nodiscard]] absl::string_view trace_id_view() const { return {trace_id.data(), trace_id.size()}; }
  [[nodiscard]] absl::string_view span_id_view() const { return {span_id.data(), span_id.size()}; }
};

// The context of a `traceparent` value, or nullopt when it is not valid: version "ff", uppercase or non-hex
// digits, an all-zero trace-id or parent-id, wrong lengths or separators, or (version 00) anything after the
// flags. Versions above 00 may carry more fields after the flags, introduced by '-' (the specification's
// forward compatibility rule).
[[nodiscard]] std::optional<TraceContext> ParseTraceparent(absl::string_view header);

// The context of the request this thread is handling, or null.
[[nodiscard]] const TraceContext* CurrentTraceContext();

// Makes `context` (may be null) this thread's current context for the scope; restores the previous one after.
class ScopedTraceContext {
 public:
  explicit ScopedTraceContext(const TraceContext* context);
  ~ScopedTraceContext();
  ScopedTraceContext(const ScopedTraceContext&) = delete;
  ScopedTraceContext& operator=(const ScopedTraceContext&) = delete;

 private:
  const TraceContext* const previous_;
};

}  // namespace simile::server

#endif  // SIMILE_SERVER_TRACE_CONTEXT_H_
