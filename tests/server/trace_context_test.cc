// W3C traceparent: strict parsing per the specification, and the context carried into log lines.
#include "server/trace_context.h"

#include <catch2/catch.hpp>
#include <string>

#include "server/log.h"

namespace simile::server {
namespace {

constexpr char kValid[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST_CASE("A valid traceparent gives its trace id, span id and flags", "[trace]") {
  const std::optional<TraceContext> c = ParseTraceparent(kValid);
  REQUIRE(c.has_value());
  CHECK(c->trace_id_view() == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(c->span_id_view() == "00f067aa0ba902b7");
  CHECK(c->flags == 1);
  CHECK(ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")->flags == 0);
}

TEST_CASE("Future versions may carry more fields after the flags", "[trace]") {
  CHECK(ParseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").has_value());
  CHECK(ParseTraceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds")
            .has_value());
  CHECK_FALSE(ParseTraceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x").has_value());
}

TEST_CASE("Invalid traceparent values are rejected", "[trace]") {
  const char* invalid[] = {
      "",
      "00",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",           // v00 has nothing after flags.
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ",           // Trailing space.
      " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",           // Leading space.
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",            // Version ff is invalid.
      "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",            // Non-hex version.
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",            // Uppercase hex.
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",            // All-zero trace id.
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",            // All-zero parent id.
      "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",            // Misplaced separator.
      "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",            // Wrong separators.
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0z",            // Non-hex flags.
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-701",            // Short parent id.
  };
  for (const char* header : invalid) {
    INFO(header);
    CHECK_FALSE(ParseTraceparent(header).has_value());
  }
}

TEST_CASE("Log lines carry the current trace context, and scopes nest", "[trace][log]") {
  const TraceContext outer = *ParseTraceparent(kValid);
  const TraceContext inner = *ParseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  CHECK(FormatLogLine(LogLevel::kInfo, "e", {}).find("trace_id") == std::string::npos);
  {
    const ScopedTraceContext scope(&outer);
    CHECK_THAT(FormatLogLine(LogLevel::kInfo, "e", {{"k", 1}}),
               Catch::Contains("\"event\":\"e\",\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\","
                               "\"span_id\":\"00f067aa0ba902b7\",\"k\":1}"));
    {
      const ScopedTraceContext nested(&inner);
      CHECK_THAT(FormatLogLine(LogLevel::kInfo, "e", {}),
                 Catch::Contains("\"trace_id\":\"0af7651916cd43dd8448eb211c80319c\""));
    }
    CHECK_THAT(FormatLogLine(LogLevel::kInfo, "e", {}), Catch::Contains("4bf92f3577b34da6a3ce929d0e0e4736"));
  }
  CHECK(FormatLogLine(LogLevel::kInfo, "e", {}).find("trace_id") == std::string::npos);
}

}  // namespace
}  // namespace simile::server
