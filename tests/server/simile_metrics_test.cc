// SimileMetrics: hot-path recording lands in the right children, and the families mirrored at scrape time show
// exactly what an executor snapshot holds (breaker, VRAM per device, speedups, counters), with no GPU needed.
#include "server/simile_metrics.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "tests/server/metrics_text.h"

namespace simile::server {
namespace {

using testing::SampleValue;

ExecutorSnapshot BaseSnapshot() {
  ExecutorSnapshot s;
  auto config = std::make_shared<ServingConfig>();
  config->version = 3;
  s.config = config;
  return s;
}

TEST_CASE("Requests are counted by method and code, with latency and batch shape", "[metrics]") {
  SimileMetrics m;
  m.RecordRequest(RpcMethod::kCosine, absl::StatusCode::kOk, absl::Milliseconds(3));
  m.RecordRequest(RpcMethod::kCosine, absl::StatusCode::kOk, absl::Milliseconds(30));
  m.RecordRequest(RpcMethod::kCosine, absl::StatusCode::kInvalidArgument, absl::Microseconds(50));
  m.RecordRequest(RpcMethod::kCosine, static_cast<absl::StatusCode>(99), absl::ZeroDuration());  // -> UNKNOWN.
  m.RecordBatchShape(1, 1000);
  m.RecordBatchShape(8, 5);
  ExecutionReport report;
  report.backend = BackendKind::kCpu;
  report.compute_time = absl::Milliseconds(2);
  report.decision_time = absl::Nanoseconds(300);
  m.RecordExecution(Operation::kManyQueries, report);

  const std::string text = m.Scrape(BaseSnapshot(), ServiceState{});
  CHECK(SampleValue(text, "simile_requests_total{method=\"Cosine\",code=\"OK\"}") == 2);
  CHECK(SampleValue(text, "simile_requests_total{method=\"Cosine\",code=\"INVALID_ARGUMENT\"}") == 1);
  CHECK(SampleValue(text, "simile_requests_total{method=\"Cosine\",code=\"UNKNOWN\"}") == 1);
  CHECK(SampleValue(text, "simile_requests_total{method=\"Cosine\",code=\"UNAUTHENTICATED\"}") == 0);
  CHECK(SampleValue(text, "simile_request_duration_seconds_bucket{method=\"Cosine\",le=\"0.0001\"}") == 2);
  CHECK(SampleValue(text, "simile_request_duration_seconds_bucket{method=\"Cosine\",le=\"0.005\"}") == 3);
  CHECK(SampleValue(text, "simile_request_duration_seconds_bucket{method=\"Cosine\",le=\"+Inf\"}") == 4);
  CHECK(SampleValue(text, "simile_request_duration_seconds_count{method=\"Cosine\"}") == 4);
  CHECK(*SampleValue(text, "simile_request_duration_seconds_sum{method=\"Cosine\"}") == Approx(0.03305));
  CHECK(SampleValue(text, "simile_request_queries_bucket{le=\"1\"}") == 1);
  CHECK(SampleValue(text, "simile_request_queries_bucket{le=\"16\"}") == 2);
  CHECK(SampleValue(text, "simile_request_targets_bucket{le=\"16\"}") == 1);
  CHECK(SampleValue(text, "simile_request_targets_bucket{le=\"1024\"}") == 2);
  CHECK(SampleValue(text,
                    "simile_backend_duration_seconds_count{backend=\"cpu\",operation=\"many_queries\"}") == 1);
  CHECK(SampleValue(text, "simile_backend_duration_seconds_count{backend=\"gpu\",operation=\"one_query\"}") == 0);
  CHECK(SampleValue(text, "simile_dispatch_decision_duration_seconds_bucket{le=\"2.5e-07\"}") == 0);
  CHECK(SampleValue(text, "simile_dispatch_decision_duration_seconds_bucket{le=\"5e-07\"}") == 1);
  CHECK(SampleValue(text, "simile_dispatch_decision_duration_seconds_count") == 1);
  CHECK(SampleValue(text, "simile_config_version") == 3);
}

TEST_CASE("Scrape mirrors the executor's counters and the service's state", "[metrics]") {
  SimileMetrics m;
  ExecutorSnapshot s = BaseSnapshot();
  s.counters.decisions[Index(BackendKind::kCpu)][Index(DispatchRule::kBatchTooSmall)] = 7;
  s.counters.decisions[Index(BackendKind::kGpu)][Index(DispatchRule::kGpuFaster)] = 5;
  s.counters.fallbacks[Index(FallbackReason::kGpuError)] = 2;
  s.counters.chunks = {11, 13};
  s.counters.gpu_oom_events = 4;
  s.counters.chunk_retries = 6;
  s.counters.gpu_errors = 2;
  s.vram_query_failures = 9;
  const std::string text = m.Scrape(s, ServiceState{3, 4096, 8});
  CHECK(SampleValue(text, "simile_dispatch_decisions_total{backend=\"cpu\",rule=\"batch_too_small\"}") == 7);
  CHECK(SampleValue(text, "simile_dispatch_decisions_total{backend=\"gpu\",rule=\"gpu_faster\"}") == 5);
  CHECK(SampleValue(text, "simile_dispatch_decisions_total{backend=\"gpu\",rule=\"explore\"}") == 0);
  CHECK(SampleValue(text, "simile_gpu_fallbacks_total{reason=\"gpu_error\"}") == 2);
  CHECK(SampleValue(text, "simile_gpu_fallbacks_total{reason=\"gpu_out_of_memory\"}") == 0);
  CHECK_FALSE(SampleValue(text, "simile_gpu_fallbacks_total{reason=\"none\"}").has_value());
  CHECK(SampleValue(text, "simile_chunks_total{backend=\"cpu\"}") == 11);
  CHECK(SampleValue(text, "simile_chunks_total{backend=\"gpu\"}") == 13);
  CHECK(SampleValue(text, "simile_gpu_oom_events_total") == 4);
  CHECK(SampleValue(text, "simile_chunk_retries_total") == 6);
  CHECK(SampleValue(text, "simile_gpu_errors_total") == 2);
  CHECK(SampleValue(text, "simile_vram_query_failures_total") == 9);
  CHECK(SampleValue(text, "simile_requests_in_flight") == 3);
  CHECK(SampleValue(text, "simile_requests_in_flight_payload_bytes") == 4096);
  CHECK(SampleValue(text, "simile_admission_rejections_total") == 8);
  CHECK(SampleValue(text, "process_open_fds") > 0);
  CHECK(SampleValue(text, "process_resident_memory_bytes") > 0);
  CHECK(text.find("simile_build_info{version=\"") != std::string::npos);
}

TEST_CASE("Breaker state is one 0/1 gauge per state, with retry time and transitions", "[metrics]") {
  SimileMetrics m;
  ExecutorSnapshot s = BaseSnapshot();
  s.breaker.state = BreakerState::kOpen;
  s.breaker.time_until_retry = absl::Milliseconds(4250);
  s.breaker.consecutive_failures = 5;
  s.breaker.transitions[Index(BreakerState::kClosed)][Index(BreakerState::kOpen)] = 2;
  s.breaker.transitions[Index(BreakerState::kOpen)][Index(BreakerState::kHalfOpen)] = 1;
  s.breaker.last_error = "cudaErrorIllegalAddress: \"an illegal memory access\"";
  std::string text = m.Scrape(s, ServiceState{});
  CHECK(SampleValue(text, "simile_circuit_breaker_state{state=\"open\"}") == 1);
  CHECK(SampleValue(text, "simile_circuit_breaker_state{state=\"closed\"}") == 0);
  CHECK(SampleValue(text, "simile_circuit_breaker_state{state=\"half_open\"}") == 0);
  CHECK(SampleValue(text, "simile_circuit_breaker_retry_in_seconds") == 4.25);
  CHECK(SampleValue(text, "simile_circuit_breaker_consecutive_failures") == 5);
  CHECK(SampleValue(text, "simile_circuit_breaker_transitions_total{from=\"closed\",to=\"open\"}") == 2);
  CHECK(SampleValue(text, "simile_circuit_breaker_transitions_total{from=\"open\",to=\"half_open\"}") == 1);
  CHECK(text.find("illegal") == std::string::npos);  // The error message is never a label.

  s.breaker.time_until_retry = absl::InfiniteDuration();  // Forced open.
  text = m.Scrape(s, ServiceState{});
  CHECK(text.find("simile_circuit_breaker_retry_in_seconds +Inf\n") != std::string::npos);

  s.breaker.state = BreakerState::kHalfOpen;
  text = m.Scrape(s, ServiceState{});
  CHECK(SampleValue(text, "simile_circuit_breaker_state{state=\"half_open\"}") == 1);
  CHECK(SampleValue(text, "simile_circuit_breaker_state{state=\"open\"}") == 0);
  CHECK(SampleValue(text, "simile_circuit_breaker_retry_in_seconds") == 0);
}

TEST_CASE("GPU memory gauges exist per device only while a GPU is present", "[metrics]") {
  SimileMetrics::Options options;
  options.gpu_device = "1";
  SimileMetrics m(options);
  ExecutorSnapshot s = BaseSnapshot();
  std::string text = m.Scrape(s, ServiceState{});
  CHECK(text.find("simile_gpu_memory_free_bytes") == std::string::npos);
  CHECK(SampleValue(text, "simile_gpu_available") == 0);

  s.gpu_present = true;
  s.gpu_available = true;
  s.vram.free_bytes = 60ull << 30;
  s.vram.total_bytes = 80ull << 30;
  s.vram.usable_bytes = 54ull << 30;
  text = m.Scrape(s, ServiceState{});
  CHECK(SampleValue(text, "simile_gpu_available") == 1);
  CHECK(SampleValue(text, "simile_gpu_memory_free_bytes{device=\"1\"}") == static_cast<double>(60ull << 30));
  CHECK(SampleValue(text, "simile_gpu_memory_total_bytes{device=\"1\"}") == static_cast<double>(80ull << 30));
  CHECK(SampleValue(text, "simile_gpu_memory_limit_bytes{device=\"1\"}") == static_cast<double>(80ull << 30));
  CHECK(SampleValue(text, "simile_gpu_memory_usable_bytes{device=\"1\"}") == static_cast<double>(54ull << 30));

  auto limited = std::make_shared<ServingConfig>(*s.config);
  limited->vram.limit_bytes = 16ull << 30;
  s.config = limited;
  text = m.Scrape(s, ServiceState{});
  CHECK(SampleValue(text, "simile_gpu_memory_limit_bytes{device=\"1\"}") == static_cast<double>(16ull << 30));

  s.gpu_present = false;  // The device went away: its series go too.
  text = m.Scrape(s, ServiceState{});
  CHECK(text.find("simile_gpu_memory_total_bytes") == std::string::npos);
}

TEST_CASE("Speedup gauges exist only for size classes with a speedup and success ratio per operation",
          "[metrics]") {
  SimileMetrics m;
  ExecutorSnapshot s = BaseSnapshot();
  s.performance.operations[Index(Operation::kManyQueries)].size_classes[12].speedup = 3.5;
  s.performance.operations[Index(Operation::kOneQuery)].size_classes[4].speedup = 0.5;
  OutcomeCounts& gpu_window = s.performance.operations[Index(Operation::kOneQuery)].windows[Index(BackendKind::kGpu)];
  gpu_window.count = 4;
  gpu_window.successes = 3;
  gpu_window.failures = 1;
  std::string text = m.Scrape(s, ServiceState{});
  CHECK(SampleValue(text, "simile_gpu_speedup{operation=\"many_queries\",size_class=\"12\"}") == 3.5);
  CHECK(SampleValue(text, "simile_gpu_speedup{operation=\"one_query\",size_class=\"4\"}") == 0.5);
  CHECK_FALSE(SampleValue(text, "simile_gpu_speedup{operation=\"one_query\",size_class=\"5\"}").has_value());
  CHECK(SampleValue(text, "simile_gpu_success_ratio{operation=\"one_query\"}") == 0.75);
  CHECK(SampleValue(text, "simile_gpu_success_ratio{operation=\"many_queries\"}") == 1);

  s.performance.operations[Index(Operation::kManyQueries)].size_classes[12].speedup = 0;  // Window rolled.
  text = m.Scrape(s, ServiceState{});
  CHECK_FALSE(SampleValue(text, "simile_gpu_speedup{operation=\"many_queries\",size_class=\"12\"}").has_value());
}

TEST_CASE("Configuration reloads are counted by result", "[metrics]") {
  SimileMetrics m;
  m.RecordConfigReload(true);
  m.RecordConfigReload(false);
  m.RecordConfigReload(false);
  const std::string text = m.Scrape(BaseSnapshot(), ServiceState{});
  CHECK(SampleValue(text, "simile_config_reloads_total{result=\"applied\"}") == 1);
  CHECK(SampleValue(text, "simile_config_reloads_total{result=\"rejected\"}") == 2);
}

}  // namespace
}  // namespace simile::server
