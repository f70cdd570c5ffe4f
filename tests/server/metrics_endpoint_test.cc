// A real server with its HTTP endpoint on 127.0.0.1:0: /metrics counts exactly the requests sent, /status is
// the GetStatus message as JSON, / is the status page, /healthz and /readyz follow the server's lifecycle,
// gRPC's own RESOURCE_EXHAUSTED for oversized messages is never counted, and a traceparent reaches the logs.
#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "server/similarity_service.h"
#include "tests/server/http_get.h"
#include "tests/server/metrics_text.h"
#include "tests/server/server_fixture.h"
#include "tests/testing/cosine_reference.h"

namespace simile::testing {
namespace {

constexpr char kTraceparent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

void SetMatrix(v1::Matrix* m, uint32_t rows, uint32_t dim, uint32_t seed) {
  const std::vector<float> v = RandomMatrix(rows, dim, seed);
  m->set_rows(rows);
  m->set_dim(dim);
  m->set_raw(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
}

v1::CosineRequest Request(uint32_t q, uint32_t n, uint32_t d) {
  v1::CosineRequest request;
  SetMatrix(request.mutable_queries(), q, d, 1);
  SetMatrix(request.mutable_targets(), n, d, 2);
  request.set_placement(v1::PLACEMENT_CPU);
  return request;
}

server::ServerOptions WithHttp(server::ServerOptions options = {}) {
  options.metrics_address = "127.0.0.1:0";
  return options;
}

double Metric(const std::string& text, const std::string& series) {
  const std::optional<double> v = SampleValue(text, series);
  INFO(series);
  REQUIRE(v.has_value());
  return *v;
}

TEST_CASE("/metrics, /status, / and the probes of a running server show what it served", "[http][metrics]") {
  ServerFixture fixture("", WithHttp());
  const int port = fixture.server().metrics_port();
  REQUIRE(port > 0);
  v1::CosineResponse response;
  for (int i = 0; i < 5; ++i) REQUIRE(fixture.Cosine(Request(2, 50, 8), &response).ok());
  v1::CosineRequest bad = Request(1, 4, 8);
  bad.set_top_k(5);  // More than the targets.
  for (int i = 0; i < 3; ++i) {
    REQUIRE(fixture.Cosine(bad, &response).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  }

  const HttpResult metrics = HttpGet(port, "/metrics");
  REQUIRE(metrics.status == 200);
  CHECK_THAT(metrics.headers, Catch::Contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"));
  const std::string& m = metrics.body;
  CHECK(Metric(m, "simile_requests_total{method=\"Cosine\",code=\"OK\"}") == 5);
  CHECK(Metric(m, "simile_requests_total{method=\"Cosine\",code=\"INVALID_ARGUMENT\"}") == 3);
  CHECK(Metric(m, "simile_request_duration_seconds_count{method=\"Cosine\"}") == 8);
  CHECK(Metric(m, "simile_dispatch_decisions_total{backend=\"cpu\",rule=\"placement_cpu\"}") == 5);
  CHECK(Metric(m, "simile_backend_duration_seconds_count{backend=\"cpu\",operation=\"many_queries\"}") == 5);
  CHECK(Metric(m, "simile_request_targets_bucket{le=\"64\"}") == 8);
  CHECK(Metric(m, "simile_request_targets_bucket{le=\"16\"}") == 3);
  CHECK(Metric(m, "simile_chunks_total{backend=\"cpu\"}") >= 5);
  CHECK(Metric(m, "simile_requests_in_flight") == 0);
  CHECK(Metric(m, "simile_circuit_breaker_state{state=\"closed\"}") == 1);
  CHECK(Metric(m, "process_open_fds") > 0);

  const HttpResult status = HttpGet(port, "/status");
  REQUIRE(status.status == 200);
  CHECK_THAT(status.headers, Catch::Contains("Content-Type: application/json"));
  v1::ServerStatus parsed;
  REQUIRE(google::protobuf::util::JsonStringToMessage(status.body, &parsed).ok());
  CHECK_THAT(status.body, Catch::Contains("\"circuit_breaker\"") && Catch::Contains("\"in_flight_requests\""));
  CHECK_FALSE(parsed.version().empty());
  CHECK(parsed.config_version() == 1);
  CHECK(parsed.circuit_breaker().state() == "closed");
  CHECK(parsed.in_flight_requests() == 0);
  bool found = false;
  for (const v1::DispatchCounts::Decision& d : parsed.counts().decisions()) {
    if (d.backend() == v1::BACKEND_CPU && d.rule() == "placement_cpu") found = d.count() == 5;
  }
  CHECK(found);
  // The same message GetStatus returns (up to the clock-dependent fields).
  v1::ServerStatus direct;
  fixture.server().admin().Fill(&direct);
  direct.set_uptime_seconds(parsed.uptime_seconds());
  CHECK(direct.counts().SerializeAsString() == parsed.counts().SerializeAsString());

  const HttpResult page = HttpGet(port, "/");
  CHECK(page.status == 200);
  CHECK_THAT(page.headers, Catch::Contains("text/html"));
  CHECK_THAT(page.body, Catch::Contains("Circuit breaker") && Catch::Contains("placement_cpu"));
  CHECK(HttpGet(port, "/healthz").status == 200);
  CHECK(HttpGet(port, "/readyz").status == 200);
}

TEST_CASE("Messages gRPC rejects as too large never reach the handler and are not counted", "[metrics]") {
  server::ServerOptions options;
  options.max_receive_message_bytes = 4096;
  ServerFixture fixture("", options);
  v1::CosineResponse response;
  const grpc::Status too_big = fixture.Cosine(Request(1, 64, 32), &response);  // 8 KiB of targets.
  REQUIRE(too_big.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  std::string text = fixture.server().ScrapeMetrics();
  CHECK(Metric(text, "simile_request_duration_seconds_count{method=\"Cosine\"}") == 0);
  CHECK(Metric(text, "simile_requests_total{method=\"Cosine\",code=\"RESOURCE_EXHAUSTED\"}") == 0);
  CHECK(Metric(text, "simile_request_targets_count") == 0);
  REQUIRE(fixture.Cosine(Request(1, 4, 8), &response).ok());  // A small one is counted.
  text = fixture.server().ScrapeMetrics();
  CHECK(Metric(text, "simile_requests_total{method=\"Cosine\",code=\"OK\"}") == 1);
  CHECK(Metric(text, "simile_request_duration_seconds_count{method=\"Cosine\"}") == 1);
}

TEST_CASE("/readyz turns 503 when shutdown begins while /healthz and /metrics answer through the drain",
          "[http][shutdown]") {
  ThreadPool pool(1);
  server::ServerOptions options;
  options.pool = &pool;
  auto fixture = std::make_unique<ServerFixture>("", WithHttp(options));
  const int port = fixture->server().metrics_port();
  v1::CosineResponse warm_up;
  REQUIRE(fixture->Cosine(Request(1, 8, 4), &warm_up).ok());
  REQUIRE(HttpGet(port, "/readyz").status == 200);

  absl::Notification release_worker;
  pool.Schedule([&] { release_worker.WaitForNotification(); });
  auto call = std::async(std::launch::async, [&] {
    v1::CosineResponse response;
    // Work at the inline limit: the request queues behind the held worker (smaller ones run on
    // gRPC's thread).
    const auto n = static_cast<uint32_t>(server::SimilarityService::kInlineMacsLimit / 4);
    return fixture->Cosine(Request(1, n, 4), &response);
  });
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (fixture->server().in_flight_requests() < 1 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  REQUIRE(fixture->server().in_flight_requests() == 1);
  std::thread stopper([&] { fixture->server().Shutdown(); });
  int ready = 200;
  while (ready == 200 && std::chrono::steady_clock::now() < give_up) {
    ready = HttpGet(port, "/readyz").status;
    if (ready == 200) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  CHECK(ready == 503);
  CHECK(HttpGet(port, "/healthz").status == 200);
  const HttpResult metrics = HttpGet(port, "/metrics");
  CHECK(metrics.status == 200);
  CHECK(Metric(metrics.body, "simile_requests_in_flight") == 1);
  release_worker.Notify();
  CHECK(call.get().ok());
  stopper.join();
  CHECK(HttpGet(port, "/healthz").status == 0);  // Stopped with the server.
}

// Runs `body` with stderr (where log lines go) redirected to a file, and returns what was written.
template <typename Body>
std::string CaptureStderr(Body body) {
  char path[] = "/tmp/simile-log-capture-XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  const int saved = dup(STDERR_FILENO);
  dup2(fd, STDERR_FILENO);
  body();
  dup2(saved, STDERR_FILENO);
  close(saved);
  close(fd);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::remove(path);
  return text.str();
}

TEST_CASE("A request's traceparent is carried into its log lines", "[trace][log]") {
  ServerFixture fixture;
  server::SetLogLevel(server::LogLevel::kDebug);
  auto call = [&](const char* traceparent) {
    grpc::ClientContext context;
    if (traceparent != nullptr) context.AddMetadata("traceparent", traceparent);
    v1::CosineResponse response;
    REQUIRE(fixture.stub().Cosine(&context, Request(1, 8, 4), &response).ok());
  };
  const std::string traced = CaptureStderr([&] { call(kTraceparent); });
  const std::string plain = CaptureStderr([&] { call(nullptr); });
  const std::string invalid =
      CaptureStderr([&] { call("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"); });
  server::SetLogLevel(server::LogLevel::kError);
  CHECK_THAT(traced, Catch::Contains("\"event\":\"dispatch_decision\",\"trace_id\":"
                                     "\"4bf92f3577b34da6a3ce929d0e0e4736\",\"span_id\":\"00f067aa0ba902b7\","
                                     "\"backend\":\"cpu\",\"rule\":\"placement_cpu\""));
  CHECK_THAT(plain, Catch::Contains("\"event\":\"dispatch_decision\",\"backend\":\"cpu\""));
  CHECK_THAT(invalid, Catch::Contains("\"event\":\"dispatch_decision\",\"backend\":\"cpu\""));
  CHECK(plain.find("trace_id") == std::string::npos);
  CHECK(invalid.find("trace_id") == std::string::npos);
}

}  // namespace
}  // namespace simile::testing
