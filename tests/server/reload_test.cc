// Configuration reload on a running server: a valid file takes effect for new requests; an invalid
// one is rejected and the configuration in force is kept.
#include <catch2/catch.hpp>
#include <fstream>

#include "tests/server/server_fixture.h"
#include "tests/testing/cosine_reference.h"

namespace simile::testing {
namespace {

v1::CosineRequest RequestWithDim(uint32_t dim) {
  v1::CosineRequest r;
  for (v1::Matrix* m : {r.mutable_queries(), r.mutable_targets()}) {
    m->set_rows(1);
    m->set_dim(dim);
    const std::vector<float> v = RandomMatrix(1, dim, dim);
    m->mutable_values()->Add(v.begin(), v.end());
  }
  return r;
}

TEST_CASE("ReloadConfig applies a valid file to new requests", "[reload]") {
  ServerFixture server("limits { max_dim: 8 }");
  v1::CosineResponse response;
  CHECK(server.Cosine(RequestWithDim(16), &response).error_code() ==
        grpc::StatusCode::RESOURCE_EXHAUSTED);
  std::ofstream(server.config_path()) << "limits { max_dim: 32 }";
  REQUIRE(server.server().ReloadConfig().ok());
  CHECK(server.server().config().Current()->version == 2);
  CHECK(server.Cosine(RequestWithDim(16), &response).ok());
}

TEST_CASE("ReloadConfig rejects an invalid file and keeps serving on the old configuration",
          "[reload]") {
  ServerFixture server("limits { max_dim: 8 }");
  std::ofstream(server.config_path()) << "limits { max_dim: 0 }";
  const absl::Status s = server.server().ReloadConfig();
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(server.server().config().Current()->version == 1);
  CHECK(server.server().config().Current()->limits.max_dim == 8);
  std::ofstream(server.config_path()) << "limits { this is not text format";
  CHECK_FALSE(server.server().ReloadConfig().ok());
  v1::CosineResponse response;
  CHECK(server.Cosine(RequestWithDim(8), &response).ok());
}

TEST_CASE("ReloadConfig rejects a change of a start-up-only setting", "[reload]") {
  ServerFixture server("performance_tracker { window_size: 64 }");
  std::ofstream(server.config_path()) << "performance_tracker { window_size: 32 }";
  const absl::Status s = server.server().ReloadConfig();
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(s.message()), Catch::Contains("cannot change at run time"));
  CHECK(server.server().config().Current()->version == 1);
}

}  // namespace
}  // namespace simile::testing
