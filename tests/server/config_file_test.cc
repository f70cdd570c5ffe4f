// The configuration file: defaults, overrides, and precise errors for bad files.
#include "server/config_file.h"

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
