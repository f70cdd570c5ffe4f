// SimileMetrics: the one object that owns every metric family simile exports on GET /metrics, each documented
// where it is registered (server/simile_metrics.cc) and listed in README.md ("Metrics, status and logs").
//
// Two ways values arrive:
// - Counted on the hot path by SimilarityService (Record*): requests by method and code, request latency,
//   batch shapes, and execution latency by backend. One to three relaxed atomic adds each (tens of ns; see
//   bench/metrics_bench.cc); every child is created in the constructor and found by array index, no lookup.
// - Mirrored at scrape time from Executor::Snapshot() (Scrape): dispatch decisions, fallbacks, out-of-memory
//   events, chunks and retries (core/'s DispatcherCounters, monotonic), the breaker, the performance tracker's
//   speedups and success ratios, VRAM, the in-flight count, and the process_* figures from /proc. The executor
//   already counts those events exactly once, including for requests that fail after the decision (which never
//   return an ExecutionReport), so counting them again per request would cost hot-path work and could disagree
//   with GetStatus and /status, which read the same counters.
//
// Requests that gRPC rejects before simile's handler runs (a message over --max_receive_message_bytes gets
// RESOURCE_EXHAUSTED from gRPC itself, an unknown method UNIMPLEMENTED) are not counted here: gRPC counts them.
//
// Thread safety: Record* may be called concurrently from any thread. Scrape may be called from any thread;
// concurrent scrapes are serialized, so mirrored counters never move backwards between two renders.
#ifndef SIMILE_SERVER_SIMILE_METRICS_H_
#define SIMILE_SERVER_SIMILE_METRICS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "core/backend_kind.h"
#include "core/circuit_breaker.h"
#include "core/execution_report.h"
#include "core/executor.h"
#include "core/fault_injector.h"
#include "core/mutex.h"
#include "core/performance_tracker.h"
#include "server/metrics_registry.h"

namespace simile::server {

// The RPCs counted in simile_requests_total; Name() is the `method` label.
enum class RpcMethod : uint8_t { kCosine };
inline constexpr size_t kNumRpcMethods = 1;
[[nodiscard]] absl::string_view Name(RpcMethod method);

// gRPC's status codes, OK (0) to UNAUTHENTICATED (16): the `code` label values.
inline constexpr size_t kNumStatusCodes = 17;

// What SimilarityService knows at scrape time (its own atomics).
struct ServiceState {
  int64_t in_flight = 0;             // Requests received and not yet answered.
  uint64_t in_flight_bytes = 0;      // Their vector payload, in bytes.
  uint64_t admission_rejected = 0;   // Requests refused by admission control since start.
  // Target sets (simile.v1.TargetSets), from TargetSetStore::GetStats.
  uint64_t target_sets = 0;
  uint64_t target_set_rows = 0;
  uint64_t target_set_bytes = 0;
  uint64_t target_set_max_bytes = 0;
  uint64_t target_set_uploads_committed = 0;
  uint64_t target_set_uploads_failed = 0;
  uint64_t target_set_deletes = 0;
};

class SimileMetrics {
 public:
  struct Options {
    // The `device` label of the GPU memory gauges: the CUDA ordinal of the GPU the executor uses.
    std::string gpu_device = "0";
  };

  explicit SimileMetrics(const Options& options);
  SimileMetrics() : SimileMetrics(Options()) {}
  SimileMetrics(const SimileMetrics&) = delete;
  SimileMetrics& operator=(const SimileMetrics&) = delete;

  // --- Hot path: lock-free, no allocation. ---

  // One request answered with `code` (gRPC's numbering; outside 0..16 counts as UNKNOWN), `duration` after the
  // handler received it.
  void RecordRequest(RpcMethod method, absl::StatusCode code, absl::Duration duration) {
    const size_t c = static_cast<size_t>(code) < kNumStatusCodes ? static_cast<size_t>(code)
                                                                 : static_cast<size_t>(absl::StatusCode::kUnknown);
    requests_[static_cast<size_t>(method)][c]->Increment();
    request_duration_[static_cast<size_t>(method)]->Observe(absl::ToDoubleSeconds(duration));
  }
  // The shape of a decoded request.
  void RecordBatchShape(uint64_t queries, uint64_t targets) {
    request_queries_->Observe(static_cast<double>(queries));
    request_targets_->Observe(static_cast<double>(targets));
  }
  // A completed execution, under the backend the dispatcher chose.
  void RecordExecution(Operation operation, const ExecutionReport& report) {
    backend_duration_[Index(report.backend)][Index(operation)]->Observe(
        absl::ToDoubleSeconds(report.compute_time));
    decision_duration_->Observe(absl::ToDoubleSeconds(report.decision_time));
  }

  // --- Rare events. ---

  // A configuration reload was applied (`applied`) or rejected.
  void RecordConfigReload(bool applied) { (applied ? reloads_applied_ : reloads_rejected_)->Increment(); }

  // --- Scrape. ---

  // Refreshes every mirrored family from `snapshot`, `service`, `faults` and /proc, then renders all families
  // in the text exposition format 0.0.4.
  [[nodiscard]] std::string Scrape(const ExecutorSnapshot& snapshot, const ServiceState& service,
                                   const FaultInjectionSnapshot& faults = {});

 private:
  void MirrorDispatch(const ExecutorSnapshot& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(scrape_mu_);
  void MirrorBreaker(const CircuitBreakerSnapshot& b) ABSL_EXCLUSIVE_LOCKS_REQUIRED(scrape_mu_);
  void MirrorGpu(const ExecutorSnapshot& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(scrape_mu_);
  void MirrorProcess() ABSL_EXCLUSIVE_LOCKS_REQUIRED(scrape_mu_);

  const Options options_;
  metrics::Registry registry_;  // Owns every family below; the pointers are the registry's.

  // Hot path: children created in the constructor, indexed by enum.
  std::array<std::array<metrics::Counter*, kNumStatusCodes>, kNumRpcMethods> requests_{};
  std::array<metrics::Histogram*, kNumRpcMethods> request_duration_{};
  metrics::Histogram* request_queries_ = nullptr;
  metrics::Histogram* request_targets_ = nullptr;
  std::array<std::array<metrics::Histogram*, kNumOperations>, kNumBackendKinds> backend_duration_{};
  metrics::Histogram* decision_duration_ = nullptr;
  metrics::Counter* reloads_applied_ = nullptr;
  metrics::Counter* reloads_rejected_ = nullptr;

  // Scrape time.
  metrics::Gauge* in_flight_ = nullptr;
  metrics::Gauge* in_flight_bytes_ = nullptr;
  metrics::Counter* admission_rejected_ = nullptr;
  metrics::Gauge* target_sets_ = nullptr;
  metrics::Gauge* target_set_rows_ = nullptr;
  metrics::Gauge* target_set_bytes_ = nullptr;
  metrics::Gauge* target_set_max_bytes_ = nullptr;
  metrics::Counter* target_set_uploads_committed_ = nullptr;
  metrics::Counter* target_set_uploads_failed_ = nullptr;
  metrics::Counter* target_set_deletes_ = nullptr;
  metrics::Gauge* gpu_target_sets_ = nullptr;
  metrics::Gauge* gpu_target_set_rows_ = nullptr;
  metrics::Gauge* gpu_target_set_bytes_ = nullptr;
  metrics::Gauge* gpu_target_set_max_bytes_ = nullptr;
  metrics::Counter* gpu_uploads_ok_ = nullptr;
  metrics::Counter* gpu_uploads_failed_ = nullptr;
  metrics::Counter* gpu_evictions_ = nullptr;
  std::array<std::array<metrics::Counter*, kNumDispatchRules>, kNumBackendKinds> decisions_{};
  metrics::Family<metrics::Gauge>* gpu_speedup_ = nullptr;  // Only size classes with a speedup.
  std::array<metrics::Gauge*, kNumOperations> gpu_success_ratio_{};
  std::array<metrics::Counter*, kNumFallbackReasons> fallbacks_{};  // [0] ("none") stays null.
  metrics::Counter* gpu_oom_events_ = nullptr;
  metrics::Counter* gpu_errors_ = nullptr;
  std::array<metrics::Counter*, kNumBackendKinds> chunks_{};
  metrics::Counter* chunk_retries_ = nullptr;
  std::array<metrics::Gauge*, kNumBreakerStates> breaker_state_{};
  metrics::Gauge* breaker_consecutive_failures_ = nullptr;
  metrics::Gauge* breaker_retry_in_ = nullptr;
  std::array<std::array<metrics::Counter*, kNumBreakerStates>, kNumBreakerStates> breaker_transitions_{};
  metrics::Gauge* gpu_available_ = nullptr;
  // Per device; children exist only while a GPU backend is present.
  metrics::Family<metrics::Gauge>* gpu_memory_free_ = nullptr;
  metrics::Family<metrics::Gauge>* gpu_memory_total_ = nullptr;
  metrics::Family<metrics::Gauge>* gpu_memory_limit_ = nullptr;
  metrics::Family<metrics::Gauge>* gpu_memory_usable_ = nullptr;
  metrics::Counter* vram_query_failures_ = nullptr;
  metrics::Gauge* config_version_ = nullptr;
  metrics::Gauge* fault_injection_enabled_ = nullptr;
  std::array<metrics::Counter*, kNumFaultKinds> fault_injections_{};
  metrics::Gauge* process_cpu_seconds_ = nullptr;
  metrics::Gauge* process_resident_memory_ = nullptr;
  metrics::Gauge* process_virtual_memory_ = nullptr;
  metrics::Gauge* process_open_fds_ = nullptr;
  metrics::Gauge* process_max_fds_ = nullptr;
  metrics::Gauge* process_start_time_ = nullptr;

  Mutex scrape_mu_;  // Serializes Scrape: mirror, then render.
};

}  // namespace simile::server

#endif  // SIMILE_SERVER_SIMILE_METRICS_H_
