// The configuration file: defaults, overrides, and precise errors for bad files.
#include "server/config_file.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include <catch2/catch.hpp>

namespace simile::server {
namespace {

TEST_CASE("An empty configuration gives the defaults", "[config]") {
  absl::StatusOr<ServingConfig> c = ParseServingConfig("", "test");
  REQUIRE(c.ok());
  CHECK(c->limits.max_dim == Limits{}.max_dim);
  CHECK(c->source == "test");
  CHECK(LoadServingConfig("")->source == "defaults");
}

TEST_CASE("Set fields override the defaults, unset ones keep them", "[config]") {
  absl::StatusOr<ServingConfig> c = ParseServingConfig("limits { max_dim: 1024 }", "test");
  REQUIRE(c.ok());
  CHECK(c->limits.max_dim == 1024);
  CHECK(c->limits.max_targets == Limits{}.max_targets);
}

TEST_CASE("A syntax error is reported with its line and column", "[config]") {
  absl::StatusOr<ServingConfig> c = ParseServingConfig("limits {\n  max_dimm: 3\n}", "f.pbtxt");
  REQUIRE_FALSE(c.ok());
  CHECK(c.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(c.status().message()),
             Catch::StartsWith("config f.pbtxt: line 2, column"));
  CHECK_THAT(std::string(c.status().message()), Catch::Contains("max_dimm"));
}

TEST_CASE("An invalid value is reported with the field's name", "[config]") {
  absl::StatusOr<ServingConfig> c = ParseServingConfig("limits { max_queries: 0 }", "f.pbtxt");
  REQUIRE_FALSE(c.ok());
  CHECK(c.status().message() == "config f.pbtxt: limits.max_queries must be >= 1");
}

TEST_CASE("Target-set residency and its dispatch thresholds are configurable and checked", "[config]") {
  absl::StatusOr<ServingConfig> c = ParseServingConfig(
      "target_set_residency { max_fraction_of_device: 0.25 max_bytes: 1000 }\n"
      "dispatch_policy { min_gpu_batch_resident_one_query: 7 min_gpu_batch_resident_many_queries: 3 }",
      "f.pbtxt");
  REQUIRE(c.ok());
  CHECK(c->residency.max_fraction_of_device == 0.25);
  CHECK(c->residency.CapFor(1 << 20) == 1000);      // The absolute cap is smaller.
  CHECK(c->residency.CapFor(2000) == 500);          // The fraction's is smaller.
  CHECK(c->policy.MinGpuBatch(Operation::kOneQueryResident) == 7);
  CHECK(c->policy.MinGpuBatch(Operation::kManyQueriesResident) == 3);
  absl::StatusOr<ServingConfig> bad =
      ParseServingConfig("target_set_residency { max_fraction_of_device: 0.95 }", "f.pbtxt");
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(std::string(bad.status().message()), Catch::Contains("target_set_residency.max_fraction_of_device"));
}

TEST_CASE("A missing file is NOT_FOUND", "[config]") {
  CHECK(LoadServingConfig("/nonexistent/simile.pbtxt").status().code() ==
        absl::StatusCode::kNotFound);
}

TEST_CASE("The shipped example configuration parses", "[config]") {
  absl::StatusOr<ServingConfig> c =
      LoadServingConfig(std::string(SIMILE_SOURCE_DIR) + "/deploy/config/simile.pbtxt");
  REQUIRE(c.ok());
  CHECK(c->limits.max_result_elements == Limits{}.max_result_elements);
}

}  // namespace
}  // namespace simile::server

namespace simile::server {
namespace {

std::string WriteTemp(const std::string& text) {
  char path[] = "/tmp/simile-config-test-XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  close(fd);
  return path;
}

TEST_CASE("A hardware profile is applied first and the config file overrides it field by field", "[config]") {
  const std::string profile = WriteTemp(
      "dispatch_policy { min_gpu_batch_one_query: 50000 required_speedup: 1.5 }\n"
      "vram_monitor { safety_margin_fraction: 0.05 }");
  const std::string config = WriteTemp("dispatch_policy { required_speedup: 2.0 }\nlimits { max_dim: 4096 }");
  absl::StatusOr<ServingConfig> c = LoadServingConfig(config, profile);
  REQUIRE(c.ok());
  CHECK(c->policy.min_gpu_batch_one_query == 50000);  // From the profile.
  CHECK(c->policy.required_speedup == 2.0);           // The config file wins.
  CHECK(c->vram.safety_margin_fraction == 0.05);
  CHECK(c->limits.max_dim == 4096);
  CHECK(c->source == profile + " + " + config);
  std::remove(profile.c_str());
  std::remove(config.c_str());
}

TEST_CASE("Every section of the configuration file reaches the serving configuration", "[config]") {
  absl::StatusOr<ServingConfig> c = ParseServingConfig(
      "circuit_breaker { mode: MODE_FORCE_OPEN consecutive_failures_to_open: 7 base_cool_down_seconds: 1.5 }\n"
      "chunking { min_gpu_chunk_rows: 64 cpu_chunk_macs: 1000 }\n"
      "performance_tracker { window_size: 32 }\n"
      "dispatch_policy { explore_fraction: 0.5 max_estimate_age_seconds: 30 }",
      "test");
  REQUIRE(c.ok());
  CHECK(c->breaker.mode == BreakerMode::kForceOpen);
  CHECK(c->breaker.consecutive_failures_to_open == 7);
  CHECK(c->breaker.base_cool_down == absl::Milliseconds(1500));
  CHECK(c->chunking.min_gpu_chunk_rows == 64);
  CHECK(c->chunking.cpu_chunk_macs == 1000);
  CHECK(c->tracker_window == 32);
  CHECK(c->policy.explore_fraction == 0.5);
  CHECK(c->policy.max_estimate_age == absl::Seconds(30));
}

TEST_CASE("Invalid dispatcher settings are rejected naming the field", "[config]") {
  absl::StatusOr<ServingConfig> c = ParseServingConfig("dispatch_policy { explore_fraction: 1.5 }", "f");
  REQUIRE_FALSE(c.ok());
  CHECK_THAT(std::string(c.status().message()), Catch::Contains("explore_fraction"));
  c = ParseServingConfig("vram_monitor { safety_margin_fraction: 1.0 }", "f");
  REQUIRE_FALSE(c.ok());
  CHECK_THAT(std::string(c.status().message()), Catch::Contains("safety_margin_fraction"));
}

}  // namespace
}  // namespace simile::server
