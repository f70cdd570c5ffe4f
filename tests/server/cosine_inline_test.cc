// Requests on both sides of SimilarityService::kInlineMacsLimit (run on gRPC's callback thread
// below it, on the pool at and above it) give the same answers: scores equal to the float64
// reference, and for a non-finite target the same INVALID_ARGUMENT naming the first bad value's row
// and column.
#include <grpcpp/grpcpp.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "server/similarity_service.h"
#include "tests/server/server_fixture.h"
#include "tests/testing/cosine_reference.h"

namespace simile::testing {
namespace {

constexpr uint32_t kDim = 768;
// 1 x 170 x 768 = 130,560 multiply-adds, under the limit; 1 x 171 x 768 = 131,328, over it.
constexpr uint32_t kInlineRows = 170;
static_assert(uint64_t{kInlineRows} * kDim < server::SimilarityService::kInlineMacsLimit);
static_assert(uint64_t{kInlineRows + 1} * kDim >= server::SimilarityService::kInlineMacsLimit);

v1::CosineRequest Request(const std::vector<float>& queries, const std::vector<float>& targets,
                          uint32_t n) {
  v1::CosineRequest request;
  request.mutable_queries()->set_rows(1);
  request.mutable_queries()->set_dim(kDim);
  request.mutable_queries()->set_raw(
      std::string(reinterpret_cast<const char*>(queries.data()), queries.size() * sizeof(float)));
  request.mutable_targets()->set_rows(n);
  request.mutable_targets()->set_dim(kDim);
  request.mutable_targets()->set_raw(
      std::string(reinterpret_cast<const char*>(targets.data()), targets.size() * sizeof(float)));
  return request;
}

TEST_CASE("Requests under and over the inline limit give the reference's scores", "[e2e][inline]") {
  ServerFixture server;
  for (const uint32_t n : {1u, 64u, kInlineRows, kInlineRows + 1, 1000u}) {
    DYNAMIC_SECTION("n = " << n) {
      const std::vector<float> queries = RandomMatrix(1, kDim, 31);
      const std::vector<float> targets = RandomMatrix(n, kDim, 32);
      v1::CosineResponse response;
      const grpc::Status status = server.Cosine(Request(queries, targets, n), &response);
      REQUIRE(status.ok());
      const std::vector<double> expected = ReferenceCosine(queries, targets, kDim);
      REQUIRE(response.scores().raw().size() == n * sizeof(float));
      std::vector<float> got(n);
      std::memcpy(got.data(), response.scores().raw().data(), n * sizeof(float));
      for (uint32_t i = 0; i < n; ++i) REQUIRE(std::fabs(got[i] - expected[i]) <= 1e-5);
    }
  }
}

TEST_CASE("A non-finite target gets the same error under and over the inline limit",
          "[e2e][inline]") {
  ServerFixture server;
  for (const uint32_t n : {kInlineRows, kInlineRows + 1, 3000u}) {
    DYNAMIC_SECTION("n = " << n) {
      const std::vector<float> queries = RandomMatrix(1, kDim, 33);
      std::vector<float> targets = RandomMatrix(n, kDim, 34);
      targets[size_t{n - 1} * kDim + 5] = std::numeric_limits<float>::infinity();
      targets[size_t{n - 2} * kDim + 700] = std::numeric_limits<float>::quiet_NaN();
      v1::CosineResponse response;
      const grpc::Status status = server.Cosine(Request(queries, targets, n), &response);
      CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
      CHECK(status.error_message() ==
            "targets row " + std::to_string(n - 2) + " has a non-finite value (NaN) at column 700");
      CHECK(response.scores().raw().empty());  // No result with an error.
    }
  }
}

}  // namespace
}  // namespace simile::testing
