// End-to-end tests of simile.v1.Similarity/Cosine against a real server on port 0: correct scores
// in both encodings and with top_k, and every row of README's status table.
#include <grpcpp/grpcpp.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "tests/server/server_fixture.h"
#include "tests/testing/cosine_reference.h"

namespace simile::testing {
namespace {

void SetValues(v1::Matrix* m, const std::vector<float>& data, uint32_t rows, uint32_t dim) {
  m->set_rows(rows);
  m->set_dim(dim);
  m->mutable_values()->Add(data.begin(), data.end());
}

void SetRaw(v1::Matrix* m, const std::vector<float>& data, uint32_t rows, uint32_t dim) {
  m->set_rows(rows);
  m->set_dim(dim);
  m->set_raw(std::string(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(float)));
}

std::vector<float> ScoresOf(const v1::CosineResponse& response) {
  const v1::Matrix& m = response.scores();
  if (!m.raw().empty()) {
    std::vector<float> out(m.raw().size() / sizeof(float));
    std::memcpy(out.data(), m.raw().data(), m.raw().size());
    return out;
  }
  return {m.values().begin(), m.values().end()};
}

// A valid request with Q queries, N targets of dimension D.
v1::CosineRequest ValidRequest(uint32_t q, uint32_t n, uint32_t d, bool raw = false) {
  v1::CosineRequest request;
  auto set = raw ? SetRaw : SetValues;
  set(request.mutable_queries(), RandomMatrix(q, d, 1), q, d);
  set(request.mutable_targets(), RandomMatrix(n, d, 2), n, d);
  return request;
}

void ExpectStatus(ServerFixture& server, const v1::CosineRequest& request, grpc::StatusCode code,
                  const std::string& message_part) {
  v1::CosineResponse response;
  const grpc::Status status = server.Cosine(request, &response);
  INFO("status: " << status.error_code() << " " << status.error_message());
  CHECK(status.error_code() == code);
  CHECK_THAT(status.error_message(), Catch::Contains(message_part));
}

void CheckScoresMatchReference(const v1::CosineRequest& request, const v1::CosineResponse& response,
                               const std::vector<float>& queries,
                               const std::vector<float>& targets) {
  const uint32_t dim = request.queries().dim();
  const std::vector<double> expected = ReferenceCosine(queries, targets, dim);
  const std::vector<float> got = ScoresOf(response);
  REQUIRE(got.size() == expected.size());
  double max_err = 0;
  for (size_t i = 0; i < got.size(); ++i)
    max_err = std::max(max_err, std::abs(got[i] - expected[i]));
  CHECK(max_err <= 1e-5);
}

TEST_CASE("Cosine returns the full score matrix in the request's encoding", "[e2e]") {
  ServerFixture server;
  for (const bool raw : {false, true}) {
    DYNAMIC_SECTION((raw ? "raw" : "values")) {
      const uint32_t q = 3, n = 257, d = 768;
      const std::vector<float> queries = RandomMatrix(q, d, 11), targets = RandomMatrix(n, d, 12);
      v1::CosineRequest request;
      (raw ? SetRaw : SetValues)(request.mutable_queries(), queries, q, d);
      (raw ? SetRaw : SetValues)(request.mutable_targets(), targets, n, d);
      v1::CosineResponse response;
      const grpc::Status status = server.Cosine(request, &response);
      REQUIRE(status.ok());
      CHECK(response.num_queries() == q);
      CHECK(response.num_targets() == n);
      CHECK(response.scores().rows() == q);
      CHECK(response.scores().dim() == n);
      CHECK(response.scores().raw().empty() == !raw);
      CHECK(response.scores().values().empty() == raw);
      CheckScoresMatchReference(request, response, queries, targets);
      CHECK(response.report().backend() == v1::BACKEND_CPU);
      CHECK(response.report().rule() == v1::DISPATCH_RULE_GPU_UNAVAILABLE);
      CHECK(response.report().chunks() == 1);
      CHECK(response.report().cpu_chunks() == 1);
      CHECK(response.report().fallback() == v1::FALLBACK_REASON_NONE);
      CHECK(response.report().compute_time_ns() > 0);
    }
  }
}

TEST_CASE("Cosine with top_k returns each query's k best targets, ties by lower index", "[e2e]") {
  ServerFixture server;
  const uint32_t q = 4, n = 500, d = 16, k = 7;
  std::vector<float> queries = RandomMatrix(q, d, 21), targets = RandomMatrix(n, d, 22);
  // Targets 99..109 are copies of query 0: equal best scores that must come out in index order.
  std::copy_n(queries.begin(), d, targets.begin() + 99 * d);
  for (uint32_t t = 100; t < 110; ++t) std::copy_n(queries.begin(), d, targets.begin() + t * d);
  v1::CosineRequest request;
  SetRaw(request.mutable_queries(), queries, q, d);
  SetValues(request.mutable_targets(), targets, n, d);
  request.set_top_k(k);
  request.set_placement(v1::PLACEMENT_CPU);
  v1::CosineResponse response;
  REQUIRE(server.Cosine(request, &response).ok());
  CHECK(response.top_k() == k);
  CHECK_FALSE(response.has_scores());
  REQUIRE(response.top_indices_size() == static_cast<int>(q * k));
  REQUIRE(response.top_scores_size() == static_cast<int>(q * k));
  CHECK(response.report().rule() == v1::DISPATCH_RULE_PLACEMENT_CPU);
  const std::vector<double> expected = ReferenceCosine(queries, targets, d);
  for (uint32_t qi = 0; qi < q; ++qi) {
    const std::vector<uint32_t> want = ReferenceTopK(expected, n, qi, k);
    for (uint32_t i = 0; i < k; ++i) {
      CHECK(response.top_indices(static_cast<int>(qi * k + i)) == want[i]);
      CHECK(std::abs(response.top_scores(static_cast<int>(qi * k + i)) -
                     expected[qi * n + want[i]]) <= 1e-5);
    }
  }
  // Query 0: target 99 and its copies, in index order.
  for (uint32_t i = 0; i < k; ++i) CHECK(response.top_indices(static_cast<int>(i)) == 99 + i);
}

TEST_CASE("Cosine of a zero vector is 0", "[e2e]") {
  ServerFixture server;
  const uint32_t d = 5;
  std::vector<float> queries(2 * d, 0.0f);
  queries[d] = 1.0f;  // Query 1 = e0; query 0 = zero vector.
  std::vector<float> targets = {0, 0, 0, 0, 0, 2, 0, 0, 0, 0};
  v1::CosineRequest request;
  SetValues(request.mutable_queries(), queries, 2, d);
  SetValues(request.mutable_targets(), targets, 2, d);
  v1::CosineResponse response;
  REQUIRE(server.Cosine(request, &response).ok());
  const std::vector<float> got = ScoresOf(response);
  CHECK(got == std::vector<float>{0.0f, 0.0f, 0.0f, 1.0f});
}

TEST_CASE("A request over 4 MiB is served", "[e2e]") {
  ServerFixture server;
  // 1 query x 2000 targets x 768 dims: 6.1 MB of raw target bytes.
  const uint32_t n = 2000, d = 768;
  const std::vector<float> queries = RandomMatrix(1, d, 31), targets = RandomMatrix(n, d, 32);
  v1::CosineRequest request;
  SetRaw(request.mutable_queries(), queries, 1, d);
  SetRaw(request.mutable_targets(), targets, n, d);
  REQUIRE(request.ByteSizeLong() > 4u * 1024 * 1024);
  v1::CosineResponse response;
  REQUIRE(server.Cosine(request, &response).ok());
  CheckScoresMatchReference(request, response, queries, targets);
}

TEST_CASE("Malformed requests get INVALID_ARGUMENT naming the field", "[e2e][status]") {
  ServerFixture server;
  const auto kInvalid = grpc::StatusCode::INVALID_ARGUMENT;

  SECTION("missing queries") {
    v1::CosineRequest r = ValidRequest(1, 4, 3);
    r.clear_queries();
    ExpectStatus(server, r, kInvalid, "queries is required");
  }
  SECTION("missing targets") {
    v1::CosineRequest r = ValidRequest(1, 4, 3);
    r.clear_targets();
    ExpectStatus(server, r, kInvalid, "targets (or target_set) is required");
  }
  SECTION("rows of 0") {
    v1::CosineRequest r = ValidRequest(1, 4, 3);
    r.mutable_targets()->set_rows(0);
    ExpectStatus(server, r, kInvalid, "targets.rows must be >= 1");
  }
  SECTION("dim of 0") {
    v1::CosineRequest r = ValidRequest(1, 4, 3);
    r.mutable_queries()->set_dim(0);
    ExpectStatus(server, r, kInvalid, "queries.dim must be >= 1");
  }
  SECTION("dims that differ") {
    v1::CosineRequest r = ValidRequest(1, 4, 3);
    r.mutable_targets()->clear_values();
    SetValues(r.mutable_targets(), RandomMatrix(3, 4, 5), 3, 4);
    ExpectStatus(server, r, kInvalid, "targets.dim (4) differs from queries.dim (3)");
  }
  SECTION("values length not rows * dim") {
    v1::CosineRequest r = ValidRequest(1, 4, 3);
    r.mutable_targets()->mutable_values()->RemoveLast();
    ExpectStatus(server, r, kInvalid, "targets.values holds 11 floats but rows * dim = 4 * 3 = 12");
  }
  SECTION("raw length not 4 * rows * dim") {
    v1::CosineRequest r = ValidRequest(2, 4, 3, /*raw=*/true);
    r.mutable_queries()->mutable_raw()->append("x");
    ExpectStatus(server, r, kInvalid,
                 "queries.raw holds 25 bytes but 4 * rows * dim = 4 * 2 * 3 = 24");
  }
  SECTION("both values and raw") {
    v1::CosineRequest r = ValidRequest(1, 4, 3);
    r.mutable_queries()->set_raw(std::string(12, '\0'));
    ExpectStatus(server, r, kInvalid, "exactly one of queries.values or queries.raw");
  }
  SECTION("neither values nor raw") {
    v1::CosineRequest r = ValidRequest(1, 4, 3);
    r.mutable_targets()->clear_values();
    ExpectStatus(server, r, kInvalid, "(neither is set)");
  }
  SECTION("NaN in queries") {
    std::vector<float> q = RandomMatrix(2, 3, 1);
    q[4] = std::numeric_limits<float>::quiet_NaN();
    v1::CosineRequest r = ValidRequest(2, 4, 3);
    r.mutable_queries()->clear_values();
    SetValues(r.mutable_queries(), q, 2, 3);
    ExpectStatus(server, r, kInvalid, "queries row 1 has a non-finite value (NaN) at column 1");
  }
  SECTION("Inf in raw targets") {
    std::vector<float> t = RandomMatrix(4, 3, 2);
    t[8] = -std::numeric_limits<float>::infinity();
    v1::CosineRequest r = ValidRequest(1, 4, 3);
    r.mutable_targets()->clear_values();
    SetRaw(r.mutable_targets(), t, 4, 3);
    ExpectStatus(server, r, kInvalid, "targets row 2 has a non-finite value (Inf) at column 2");
  }
  SECTION("top_k larger than the number of targets") {
    v1::CosineRequest r = ValidRequest(1, 4, 3);
    r.set_top_k(5);
    ExpectStatus(server, r, kInvalid, "top_k (5) exceeds the number of targets (4)");
  }
}

TEST_CASE("Requests above a configured limit get RESOURCE_EXHAUSTED naming the limit",
          "[e2e][status]") {
  ServerFixture server(
      "limits { max_dim: 64 max_queries: 8 max_targets: 1000 max_result_elements: 2000 }");
  const auto kExhausted = grpc::StatusCode::RESOURCE_EXHAUSTED;
  SECTION("dim") { ExpectStatus(server, ValidRequest(1, 2, 65), kExhausted, "limits.max_dim"); }
  SECTION("queries") {
    ExpectStatus(server, ValidRequest(9, 2, 4), kExhausted, "limits.max_queries");
  }
  SECTION("targets") {
    ExpectStatus(server, ValidRequest(1, 1001, 4), kExhausted, "limits.max_targets");
  }
  SECTION("result size") {
    ExpectStatus(server, ValidRequest(3, 700, 4), kExhausted, "limits.max_result_elements");
  }
  SECTION("under every limit still works") {
    v1::CosineResponse response;
    CHECK(server.Cosine(ValidRequest(2, 1000, 64), &response).ok());
  }
}

TEST_CASE("A message above --max_receive_message_bytes gets gRPC's RESOURCE_EXHAUSTED",
          "[e2e][status]") {
  server::ServerOptions options;
  options.max_receive_message_bytes = 1 << 20;
  ServerFixture server("", options);
  v1::CosineResponse response;
  const grpc::Status status = server.Cosine(ValidRequest(1, 400, 768, /*raw=*/true), &response);
  CHECK(status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  // The server keeps serving.
  CHECK(server.Cosine(ValidRequest(1, 10, 768, true), &response).ok());
}

TEST_CASE("PLACEMENT_GPU without a usable GPU is FAILED_PRECONDITION", "[e2e][status]") {
  ServerFixture server;
  v1::CosineRequest r = ValidRequest(1, 4, 3);
  r.set_placement(v1::PLACEMENT_GPU);
  ExpectStatus(server, r, grpc::StatusCode::FAILED_PRECONDITION,
               "placement GPU was requested but this server has no usable GPU");
}

TEST_CASE("A request whose deadline passes gets DEADLINE_EXCEEDED", "[e2e][status]") {
  ServerFixture server;
  v1::CosineResponse response;
  const grpc::Status status =
      server.Cosine(ValidRequest(1, 20000, 768, true), &response, std::chrono::milliseconds(1));
  CHECK(status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
  CHECK(server.Cosine(ValidRequest(1, 10, 8), &response).ok());
}

}  // namespace
}  // namespace simile::testing
