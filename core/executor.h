// Executor: runs one CosineTask from validation to the last result. It decides where the task runs
// (the dispatch policy over one consistent read of the performance tracker, the circuit breaker and
// the VRAM budget), plans GPU chunks to fit free device memory, recovers from GPU failures chunk by
// chunk (core/chunked_run.h), feeds what happened back into the tracker and the breaker, and
// reports how the task ran.
//
// Every call ends with all results written to the caller's buffers or an error; never a partial
// result reported as complete. Errors:
// - INVALID_ARGUMENT / RESOURCE_EXHAUSTED from validation (core/task_validation.h);
// - FAILED_PRECONDITION when PLACEMENT_GPU is asked for and no usable GPU exists;
// - UNAVAILABLE when PLACEMENT_GPU is asked for and the circuit breaker is open, or the GPU fails;
// - RESOURCE_EXHAUSTED when PLACEMENT_GPU is asked for and the GPU runs out of memory at the
// smallest chunk;
// - DEADLINE_EXCEEDED / CANCELLED, checked before every chunk;
// - INTERNAL when the CPU path fails or returns a wrong number of results.
//
// Configuration: each call reads the configuration once and uses it (and the policy, exploration
// ticker and VRAM monitor built from it) to the end, so a reload never changes a request half-way.
//
// Thread safety: Run and Snapshot may be called concurrently from any number of threads.
#ifndef SIMILE_CORE_EXECUTOR_H_
#define SIMILE_CORE_EXECUTOR_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/backend.h"
#include "core/circuit_breaker.h"
#include "core/clock.h"
#include "core/config_store.h"
#include "core/cosine_task.h"
#include "core/dispatch_policy.h"
#include "core/dispatcher_counters.h"
#include "core/execution_report.h"
#include "core/mutex.h"
#include "core/performance_tracker.h"
#include "core/request_context.h"
#include "core/residency_cache.h"
#include "core/vram_monitor.h"

namespace simile {

// Everything the executor knows, for the status RPC, the status page and metrics.
struct ExecutorSnapshot {
  std::shared_ptr<const ServingConfig> config;
  bool gpu_present = false;    // A GPU backend was configured.
  bool gpu_available = false;  // ...and is usable now.
  std::string gpu_description;
  std::string gpu_unavailable_reason;
  PerformanceSnapshot performance;
  CircuitBreakerSnapshot breaker;
  VramBudget vram;  // Zero when there is no GPU.
  uint64_t vram_query_failures = 0;
  DispatcherCountersSnapshot counters;
  ResidencyStats residency;          // Target sets resident on the GPU (zero without one).
  uint64_t residency_cap_bytes = 0;  // Their cap per device now (0: residency off or no GPU).
};

class Executor {
 public:
  // Collaborators; none is owned, all must outlive the executor.
  struct Components {
    Backend* cpu = nullptr;  // Required.
    Backend* gpu = nullptr;  // Null when the server has no GPU backend.
    std::string gpu_unavailable_reason =
        "this server was built without CUDA";  // When gpu is unusable.
    const Clock* clock = nullptr;              // Required.
    ConfigStore* config = nullptr;             // Required.
    // Called on every circuit-breaker state change (under the breaker's lock: it must not call back
    // into the executor); may be empty.
    CircuitBreaker::TransitionListener on_breaker_transition;
  };

  // InvalidArgument when a required component is missing or the current configuration is invalid.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Executor>> Create(Components components);

  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Validates `task` against the current configuration, runs it, and writes its results to `out`,
  // which must be sized for the task (Q * N scores, or Q * top_k indices and scores).
  [[nodiscard]] absl::StatusOr<ExecutionReport> Run(const CosineTask& task,
                                                    const ResultBuffers& out,
                                                    const RequestContext& context) const;

  // Everything above, each part consistent in itself.
  [[nodiscard]] ExecutorSnapshot Snapshot() const;

  // Drops the GPU-resident copies of target set `name` other than `current_version` (0: all, the set was
  // deleted). The target-set service calls it after every delete and append.
  void ForgetTargetSet(absl::string_view name, uint64_t current_version);
  // Whether `version` of `name` is resident on the GPU now.
  [[nodiscard]] bool IsResidentOnGpu(absl::string_view name, uint64_t version) const {
    return residency_ != nullptr && residency_->IsResident(name, version);
  }
  // Whether a GPU backend exists and is usable now (cheap: for callers deciding whether work is
  // sure to stay on the CPU).
  [[nodiscard]] bool GpuUsable() const;

 private:
  // The configuration a request runs on, with what is built from it. Immutable once published,
  // except for the ticker and the VRAM monitor, which are thread-safe.
  struct Runtime {
    std::shared_ptr<const ServingConfig> config;
    std::unique_ptr<TableDispatchPolicy> policy;
    std::unique_ptr<ExplorationTicker> ticker;
    std::unique_ptr<VramMonitor> vram;  // Null without a GPU.
  };

  explicit Executor(Components components);

  // The Runtime for the current configuration, rebuilt on the first request after a reload.
  [[nodiscard]] std::shared_ptr<const Runtime> CurrentRuntime() const;
  [[nodiscard]] absl::StatusOr<std::shared_ptr<const Runtime>> BuildRuntime(
      std::shared_ptr<const ServingConfig> config) const;

  [[nodiscard]] absl::StatusOr<ExecutionReport> RunWithDecision(
      const CosineTask& task, const ResultBuffers& out, const RequestContext& context,
      const Runtime& runtime, const DispatchContext& dc, Decision decision,
      absl::Duration decision_time, uint64_t residency_cap, bool check_targets_in_kernel) const;
  // The per-device cap on resident target sets under `config`, for a device whose memory reads `budget` (null:
  // no memory query); 0: none may be resident.
  [[nodiscard]] uint64_t ResidencyCap(const ServingConfig& config, const VramBudget* budget) const;

  const Components c_;
  std::unique_ptr<PerformanceTracker> tracker_;
  std::unique_ptr<CircuitBreaker> breaker_;
  mutable DispatcherCounters counters_;
  std::unique_ptr<ResidencyCache> residency_;  // Null without a GPU backend.

  mutable Mutex runtime_mu_;
  mutable std::shared_ptr<const Runtime> runtime_ ABSL_GUARDED_BY(runtime_mu_);
};

}  // namespace simile

#endif  // SIMILE_CORE_EXECUTOR_H_
