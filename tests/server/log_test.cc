// Structured log lines: valid JSON with typed fields and escaped text.
#include "server/log.h"

#include <catch2/catch.hpp>

namespace simile::server {
namespace {

TEST_CASE("FormatLogLine writes typed, escaped JSON fields", "[log]") {
  const std::string line = FormatLogLine(LogLevel::kWarning, "gpu_unavailable",
                                         {{"reason", "no \"driver\"\n"},
                                          {"rows", uint32_t{7}},
                                          {"delta", -3},
                                          {"ok", true},
                                          {"ratio", 0.5}});
  CHECK_THAT(line, Catch::StartsWith("{\"ts\":\""));
  CHECK_THAT(
      line,
      Catch::Contains(
          "\"level\":\"warning\",\"event\":\"gpu_unavailable\",\"reason\":\"no \\\"driver\\\"\\n\","
          "\"rows\":7,\"delta\":-3,\"ok\":true,\"ratio\":0.5}"));
}

TEST_CASE("Log levels filter and parse", "[log]") {
  CHECK(*ParseLogLevel("DEBUG") == LogLevel::kDebug);
  CHECK(*ParseLogLevel("warn") == LogLevel::kWarning);
  CHECK_FALSE(ParseLogLevel("loud").ok());
  SetLogLevel(LogLevel::kWarning);
  CHECK_FALSE(LogEnabled(LogLevel::kInfo));
  CHECK(LogEnabled(LogLevel::kError));
  SetLogLevel(LogLevel::kInfo);
}

}  // namespace
}  // namespace simile::server
