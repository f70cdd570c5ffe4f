// Deadlines and cancellation through the real server: a request whose deadline passes, or whose
// client cancels, stops consuming compute at the next chunk boundary and is counted under its code.
// The test-only simulated GPU with injected latency (fault_injection) makes each GPU chunk take
// 40 ms, so a 20-chunk request would need at least 800 ms; the caller gives up after 150 ms. The
// assertions count chunks, not time: fewer than all chunks ran, none ran on the CPU afterwards, and
// the request was counted once under DEADLINE_EXCEEDED or CANCELLED.
#include <grpcpp/client_context.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "tests/server/metrics_text.h"
#include "tests/server/server_fixture.h"

namespace simile::testing {
namespace {

constexpr uint32_t kDim = 16;
constexpr uint32_t kTargets = 16000;

// 64 KiB of simulated device memory: about 800 target rows of 16 floats per chunk for one query,
// so 16000 targets take about 20 chunks of 40 ms each.
constexpr char kConfig[] = R"pb(
  fault_injection { simulate_gpu: true simulated_gpu_memory_bytes: 65536 gpu_added_latency_ms: 40 }
  dispatch_policy { min_gpu_batch_one_query: 1 min_gpu_batch_many_queries: 1 explore_fraction: 0 }
  chunking { gpu_headroom_bytes: 0 min_gpu_chunk_rows: 16 }
)pb";

v1::CosineRequest LongRequest() {
  v1::CosineRequest r;
  std::vector<float> queries(kDim, 1.0f);
  std::vector<float> targets(size_t{kTargets} * kDim);
  for (size_t i = 0; i < targets.size(); ++i) targets[i] = static_cast<float>(i % 7) - 3.0f;
  r.mutable_queries()->set_rows(1);
  r.mutable_queries()->set_dim(kDim);
  r.mutable_queries()->set_raw(queries.data(), queries.size() * sizeof(float));
  r.mutable_targets()->set_rows(kTargets);
  r.mutable_targets()->set_dim(kDim);
  r.mutable_targets()->set_raw(targets.data(), targets.size() * sizeof(float));
  return r;
}

double Sample(ServerFixture& server, const std::string& series) {
  return SampleValue(server.server().ScrapeMetrics(), series).value_or(-1.0);
}

// Requests counted under any code.
double Answered(ServerFixture& server) {
  const std::string text = server.server().ScrapeMetrics();
  double sum = 0;
  for (int code = 0; code <= 16; ++code) {
    const std::string name = absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
    sum += SampleValue(text, "simile_requests_total{method=\"Cosine\",code=\"" + name + "\"}")
               .value_or(0);
  }
  return sum;
}

// Waits (a liveness bound, not a latency check) until the server has answered and counted the
// request: the client stops waiting at its deadline, the server only at the next chunk boundary.
void WaitUntilCounted(ServerFixture& server) {
  for (int i = 0; i < 3000 && (server.server().in_flight_requests() > 0 || Answered(server) < 1);
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(server.server().in_flight_requests() == 0);
  REQUIRE(Answered(server) == 1);
}

TEST_CASE("Server: a full run of the long request takes every chunk on the simulated GPU",
          "[e2e][deadline]") {
  ServerFixture server(kConfig);
  v1::CosineResponse response;
  const grpc::Status status = server.Cosine(LongRequest(), &response);
  REQUIRE(status.ok());
  CHECK(response.report().backend() == v1::BACKEND_GPU);
  CHECK(response.report().gpu_chunks() >= 15);  // The premise of the two tests below.
  CHECK(response.report().cpu_chunks() == 0);
}

TEST_CASE(
    "Server: a request whose deadline passes stops between chunks and is counted as "
    "DEADLINE_EXCEEDED",
    "[e2e][deadline]") {
  ServerFixture server(kConfig);
  v1::CosineResponse response;
  const grpc::Status status =
      server.Cosine(LongRequest(), &response, std::chrono::milliseconds(150));
  CHECK(status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
  WaitUntilCounted(server);
  CHECK(Sample(server, R"(simile_requests_total{method="Cosine",code="DEADLINE_EXCEEDED"})") == 1);
  CHECK(Sample(server, R"(simile_requests_total{method="Cosine",code="OK"})") == 0);
  const double gpu_chunks = Sample(server, R"(simile_chunks_total{backend="gpu"})");
  CHECK(gpu_chunks >= 0);
  CHECK(gpu_chunks < 15);
  CHECK(Sample(server, R"(simile_chunks_total{backend="cpu"})") == 0);
  // Nothing runs on after the answer.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(Sample(server, R"(simile_chunks_total{backend="gpu"})") == gpu_chunks);
}

TEST_CASE("Server: a request its client cancels stops between chunks and is counted as CANCELLED",
          "[e2e][deadline]") {
  ServerFixture server(kConfig);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  std::thread canceller([&context] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    context.TryCancel();
  });
  v1::CosineResponse response;
  const grpc::Status status = server.stub().Cosine(&context, LongRequest(), &response);
  canceller.join();
  CHECK(status.error_code() == grpc::StatusCode::CANCELLED);
  WaitUntilCounted(server);
  CHECK(Sample(server, R"(simile_requests_total{method="Cosine",code="CANCELLED"})") == 1);
  CHECK(Sample(server, R"(simile_requests_total{method="Cosine",code="OK"})") == 0);
  const double gpu_chunks = Sample(server, R"(simile_chunks_total{backend="gpu"})");
  CHECK(gpu_chunks < 15);
  CHECK(Sample(server, R"(simile_chunks_total{backend="cpu"})") == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(Sample(server, R"(simile_chunks_total{backend="gpu"})") == gpu_chunks);
}

}  // namespace
}  // namespace simile::testing
