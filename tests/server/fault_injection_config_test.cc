// The configuration file's fault_injection section: parsed field by field, off by default, invalid
// values rejected naming the field, rates reloadable on SIGHUP, the simulated GPU start-up only;
// and loud when on: /metrics, GetStatus and the status page say so.
#include <catch2/catch.hpp>
#include <fstream>
#include <string>

#include "server/config_file.h"
#include "server/status_page.h"
#include "tests/server/metrics_text.h"
#include "tests/server/server_fixture.h"

namespace simile::testing {
namespace {

TEST_CASE("Config: fault_injection is off by default and parsed field by field",
          "[config][fault_injection]") {
  absl::StatusOr<ServingConfig> defaults = server::ParseServingConfig("", "test");
  REQUIRE(defaults.ok());
  CHECK_FALSE(defaults->fault_injection.enabled());
  CHECK_FALSE(defaults->fault_injection.simulate_gpu);

  absl::StatusOr<ServingConfig> c = server::ParseServingConfig(
      R"pb(fault_injection {
             gpu_error_rate: 0.25
             gpu_oom_rate: 0.5
             gpu_added_latency_ms: 12
             vram_query_failure_rate: 0.125
             seed: 99
             simulate_gpu: true
             simulated_gpu_memory_bytes: 4096
           })pb",
      "test");
  REQUIRE(c.ok());
  const FaultInjectionOptions& f = c->fault_injection;
  CHECK(f.enabled());
  CHECK(f.gpu_error_rate == 0.25);
  CHECK(f.gpu_oom_rate == 0.5);
  CHECK(f.gpu_added_latency == absl::Milliseconds(12));
  CHECK(f.vram_query_failure_rate == 0.125);
  CHECK(f.seed == 99);
  CHECK(f.simulate_gpu);
  CHECK(f.simulated_gpu_memory_bytes == 4096);
}

TEST_CASE("Config: an invalid fault_injection value is rejected naming the field",
          "[config][fault_injection]") {
  absl::StatusOr<ServingConfig> c =
      server::ParseServingConfig("fault_injection { gpu_oom_rate: 2 }", "test");
  REQUIRE_FALSE(c.ok());
  CHECK(c.status().message().find("fault_injection.gpu_oom_rate") != absl::string_view::npos);
}

TEST_CASE("Reload: fault rates change at run time, the simulated GPU does not",
          "[config][fault_injection]") {
  ServerFixture server("fault_injection { simulate_gpu: true }");
  CHECK_FALSE(server.server().fault_injection().enabled);

  std::ofstream(server.config_path())
      << "fault_injection { simulate_gpu: true gpu_error_rate: 0.5 }";
  REQUIRE(server.server().ReloadConfig().ok());
  CHECK(server.server().fault_injection().enabled);
  CHECK(server.server().fault_injection().options.gpu_error_rate == 0.5);
  CHECK(SampleValue(server.server().ScrapeMetrics(), "simile_fault_injection_enabled") == 1.0);

  std::ofstream(server.config_path()) << "fault_injection { gpu_error_rate: 0.5 }";
  const absl::Status rejected = server.server().ReloadConfig();
  CHECK(rejected.code() == absl::StatusCode::kInvalidArgument);
  CHECK(rejected.message().find("fault_injection.simulate_gpu") != absl::string_view::npos);
  CHECK(server.server().config().Current()->fault_injection.simulate_gpu);

  std::ofstream(server.config_path()) << "fault_injection { simulate_gpu: true }";
  REQUIRE(server.server().ReloadConfig().ok());
  CHECK_FALSE(server.server().fault_injection().enabled);
  CHECK(SampleValue(server.server().ScrapeMetrics(), "simile_fault_injection_enabled") == 0.0);
}

TEST_CASE("Server: fault injection is loud in /metrics and in the status",
          "[e2e][fault_injection]") {
  ServerFixture server(R"pb(fault_injection { simulate_gpu: true gpu_error_rate: 1 seed: 3 })pb");
  const std::string metrics = server.server().ScrapeMetrics();
  CHECK(SampleValue(metrics, "simile_fault_injection_enabled") == 1.0);
  CHECK(SampleValue(metrics, R"(simile_fault_injections_total{kind="gpu_error"})") == 0.0);
  CHECK(SampleValue(metrics, "simile_gpu_available") == 1.0);
  v1::ServerStatus status;
  server.server().admin().Fill(&status);
  CHECK(status.fault_injection().enabled());
  CHECK(status.fault_injection().gpu_error_rate() == 1.0);
  CHECK(status.fault_injection().simulate_gpu());
  CHECK(status.gpu().present());
  CHECK(server::RenderStatusPage(status).find("Fault injection is on (testing only)") !=
        std::string::npos);

  ServerFixture off;
  CHECK(SampleValue(off.server().ScrapeMetrics(), "simile_fault_injection_enabled") == 0.0);
  v1::ServerStatus off_status;
  off.server().admin().Fill(&off_status);
  CHECK_FALSE(off_status.fault_injection().enabled());
  CHECK_FALSE(off_status.gpu().present());
  CHECK(server::RenderStatusPage(off_status).find("Fault injection") == std::string::npos);
}

}  // namespace
}  // namespace simile::testing
