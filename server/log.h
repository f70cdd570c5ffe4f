// Structured logging: one JSON object per line on stderr, e.g.
//   {"ts":"2026-11-23T19:30:00.123456Z","level":"info","event":"server_started","grpc_address":"0.0.0.0:50051"}
// Fields are typed (strings are JSON-escaped, numbers stay numbers) so that log pipelines can index
// them. Lines written while a request with a valid W3C traceparent is handled carry its "trace_id" and
// "span_id" right after "event" (see server/trace_context.h).
//
// Thread safety: every function may be called from any thread; each line is written with one
// write(2) call so lines from different threads never interleave.
#ifndef SIMILE_SERVER_LOG_H_
#define SIMILE_SERVER_LOG_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace simile::server {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

[[nodiscard]] absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name);
void SetLogLevel(LogLevel level);
[[nodiscard]] bool LogEnabled(LogLevel level);

// A field value: text, an integer, a floating-point number or a boolean. Implicit on purpose, so
// call sites read
// `{"rows", task.rows}`.
class LogValue {
 public:
  using Variant = std::variant<absl::string_view, int64_t, uint64_t, double, bool>;

  LogValue(absl::string_view v) : v_(v) {}               // NOLINT(google-explicit-constructor)
  LogValue(const char* v) : v_(absl::string_view(v)) {}  // NOLINT(google-explicit-constructor)
  LogValue(const std::string& v)
      : v_(absl::string_view(v)) {}  // NOLINT(google-explicit-constructor)
  LogValue(std::string_view v)       // NOLINT(google-explicit-constructor)
      : v_(absl::string_view(v.data(), v.size())) {}
  LogValue(bool v) : v_(v) {}    // NOLINT(google-explicit-constructor)
  LogValue(double v) : v_(v) {}  // NOLINT(google-explicit-constructor)
  template <typename T>
  requires(std::is_integral_v<T> && !std::is_same_v<T, bool>)
      LogValue(T v)  // NOLINT(google-explicit-constructor)
      : v_(std::is_signed_v<T> ? Variant(static_cast<int64_t>(v))
                               : Variant(static_cast<uint64_t>(v))) {}

  [[nodiscard]] const Variant& get() const { return v_; }

 private:
  Variant v_;
};
using LogField = std::pair<absl::string_view, LogValue>;

// Writes one line if `level` is enabled.
void Log(LogLevel level, absl::string_view event, std::initializer_list<LogField> fields = {});

// The line Log would write (without the trailing newline); exposed for tests.
[[nodiscard]] std::string FormatLogLine(LogLevel level, absl::string_view event,
                                        std::initializer_list<LogField> fields);

}  // namespace simile::server

#endif  // SIMILE_SERVER_LOG_H_
