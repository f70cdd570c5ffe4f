#include "core/executor.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/chunk_planner.h"
#include "core/chunked_run.h"
#include "core/target_set_store.h"
#include "core/task_validation.h"

namespace simile {
namespace {

absl::Status CheckBuffers(const CosineTask& task, const ResultBuffers& out) {
  const bool ok = task.top_k == 0
                      ? out.scores.size() == task.num_scores()
                      : out.top_indices.size() == uint64_t{task.queries.rows} * task.top_k &&
                            out.top_scores.size() == out.top_indices.size();
  if (ok) return absl::OkStatus();
  return absl::InternalError("result buffers are not sized for the task");
}

ChunkPlanInput GpuPlanInput(const CosineTask& task, const DeviceMemoryModel& memory,
                            uint64_t usable_bytes, const ChunkingOptions& chunking,
                            bool rows_resident) {
  ChunkPlanInput in;
  in.rows_resident = rows_resident;
  in.rows = task.targets.rows;
  in.dim = task.targets.dim;
  in.bytes_per_element = sizeof(float);
  in.fixed_bytes = memory.fixed_bytes;
  in.bytes_per_row_extra = memory.bytes_per_row_extra;
  in.free_bytes = usable_bytes;
  in.headroom_bytes = 0;  // Already taken off usable_bytes (see Run).
  in.min_chunk_rows = std::min<uint64_t>(chunking.min_gpu_chunk_rows, task.targets.rows);
  return in;
}

// Rows of CPU work per chunk: cpu_chunk_macs multiply-adds, at least one row.
uint64_t CpuRowsPerChunk(const CosineTask& task, const ChunkingOptions& chunking) {
  const uint64_t per_row = uint64_t{task.queries.rows} * task.queries.dim;
  return std::max<uint64_t>(1, chunking.cpu_chunk_macs / std::max<uint64_t>(1, per_row));
}

// Whether the CPU may check the targets' finiteness in its kernel pass instead of a scan before the
// run. The scan is the only pass over a large request's bytes besides the kernel's own (a 1 x 10^4
// x 768 request spent about a third of its compute time in it), and a row holding a NaN or an
// infinity shows itself in the kernel anyway (its squared norm is not finite). Only when the
// result cannot depend on where the check happens:
// - the targets still need checking, and the placement is not GPU-only (its errors come before
//   dispatch);
// - the CPU backend checks (ChecksTargetsFinite) and the buffers are right (an INTERNAL error for
//   them must still come after a validation error);
// - the whole request is one CPU chunk, so that no chunk of an invalid request is ever counted as
//   done.
// If the dispatcher then picks the GPU, the targets are scanned before it sees them
// (RunWithDecision).
bool MayCheckTargetsInKernel(const CosineTask& task, const ResultBuffers& out, const Backend& cpu,
                             const ChunkingOptions& chunking) {
  return !task.targets_known_finite && task.placement != Placement::kGpu &&
         cpu.ChecksTargetsFinite() && task.targets.rows <= CpuRowsPerChunk(task, chunking) &&
         CheckBuffers(task, out).ok();
}

// Why `c` has no usable GPU: the configured reason when there is no GPU backend, else that the
// backend was marked unusable after a fatal error (the configured reason describes the start-up
// situation, not a device lost later).
std::string GpuUnavailableReason(const Executor::Components& c) {
  if (c.gpu == nullptr) return c.gpu_unavailable_reason;
  return absl::StrCat(c.gpu->description(), " was marked unusable after a fatal error");
}

}  // namespace

Executor::Executor(Components components) : c_(std::move(components)) {
  if (c_.gpu != nullptr) residency_ = std::make_unique<ResidencyCache>(c_.gpu);
}

uint64_t Executor::ResidencyCap(const ServingConfig& config, const VramBudget* budget) const {
  if (residency_ == nullptr) return 0;
  if (budget == nullptr) return config.residency.max_bytes;  // No memory query: only an explicit cap.
  return config.residency.CapFor(budget->total_bytes);
}

void Executor::ForgetTargetSet(absl::string_view name, uint64_t current_version) {
  if (residency_ != nullptr) residency_->Forget(name, current_version);
}

absl::StatusOr<std::unique_ptr<Executor>> Executor::Create(Components components) {
  if (components.cpu == nullptr || components.clock == nullptr || components.config == nullptr) {
    return absl::InvalidArgumentError("executor: cpu, clock and config are required");
  }
  std::unique_ptr<Executor> e(new Executor(std::move(components)));
  std::shared_ptr<const ServingConfig> config = e->c_.config->Current();
  PerformanceTracker::Options tracker_options;
  tracker_options.window_size = config->tracker_window;
  absl::StatusOr<std::unique_ptr<PerformanceTracker>> tracker =
      PerformanceTracker::Create(tracker_options, e->c_.clock);
  if (!tracker.ok()) return tracker.status();
  e->tracker_ = *std::move(tracker);
  absl::StatusOr<std::unique_ptr<CircuitBreaker>> breaker =
      CircuitBreaker::Create(config->breaker, e->c_.clock, e->c_.on_breaker_transition);
  if (!breaker.ok()) return breaker.status();
  e->breaker_ = *std::move(breaker);
  absl::StatusOr<std::shared_ptr<const Runtime>> runtime = e->BuildRuntime(std::move(config));
  if (!runtime.ok()) return runtime.status();
  MutexLock lock(&e->runtime_mu_);
  e->runtime_ = *std::move(runtime);
  return e;
}

absl::StatusOr<std::shared_ptr<const Executor::Runtime>> Executor::BuildRuntime(
    std::shared_ptr<const ServingConfig> config) const {
  auto runtime = std::make_shared<Runtime>();
  absl::StatusOr<std::unique_ptr<TableDispatchPolicy>> policy =
      TableDispatchPolicy::Create(config->policy);
  if (!policy.ok()) return policy.status();
  runtime->policy = *std::move(policy);
  runtime->ticker = std::make_unique<ExplorationTicker>(config->policy.explore_fraction);
  if (c_.gpu != nullptr && c_.gpu->memory_query() != nullptr) {
    absl::StatusOr<std::unique_ptr<VramMonitor>> vram =
        VramMonitor::Create(c_.gpu->memory_query(), c_.clock, config->vram);
    if (!vram.ok()) return vram.status();
    runtime->vram = *std::move(vram);
  }
  runtime->config = std::move(config);
  return std::shared_ptr<const Runtime>(std::move(runtime));
}

std::shared_ptr<const Executor::Runtime> Executor::CurrentRuntime() const {
  std::shared_ptr<const ServingConfig> config = c_.config->Current();
  {
    MutexLock lock(&runtime_mu_);
    if (runtime_->config == config) return runtime_;
  }
  // A reload happened: build outside the lock, then publish unless a newer one won meanwhile.
  // ConfigStore only publishes validated configurations, so building cannot fail short of a bug;
  // then the old runtime stays.
  absl::StatusOr<std::shared_ptr<const Runtime>> built = BuildRuntime(config);
  MutexLock lock(&runtime_mu_);
  if (built.ok() && (*built)->config->version > runtime_->config->version) {
    (void)breaker_->SetOptions(config->breaker);  // Valid: checked by ServingConfig::Validate.
    runtime_ = *std::move(built);
  }
  return runtime_;
}

bool Executor::GpuUsable() const { return c_.gpu != nullptr && c_.gpu->Available(); }

absl::StatusOr<ExecutionReport> Executor::Run(const CosineTask& task, const ResultBuffers& out,
                                              const RequestContext& context) const {
  const std::shared_ptr<const Runtime> runtime = CurrentRuntime();
  const ServingConfig& config = *runtime->config;
  if (absl::Status s = ValidateTaskShape(task, config.limits); !s.ok()) return s;
  if (absl::Status s = CheckFinite(task.queries, "queries"); !s.ok()) return s;
  const bool check_targets_in_kernel = MayCheckTargetsInKernel(task, out, *c_.cpu, config.chunking);
  if (!task.targets_known_finite && !check_targets_in_kernel) {
    if (absl::Status s = CheckFinite(task.targets, "targets"); !s.ok()) return s;
  }
  if (absl::Status s = CheckBuffers(task, out); !s.ok()) return s;
  const bool gpu_usable = GpuUsable();
  if (task.placement == Placement::kGpu && !gpu_usable) {
    return absl::FailedPreconditionError(
        absl::StrCat("placement GPU was requested but this server has no usable GPU: ",
                     GpuUnavailableReason(c_)));
  }

  // One consistent read of everything the decision depends on.
  DispatchContext dc;
  dc.now = c_.clock->Now();  // Also the start of the decision's own timing.
  dc.placement = task.placement;
  dc.gpu_available = gpu_usable;
  dc.breaker_allows = breaker_->AllowsRequests();
  dc.q = task.queries.rows;
  dc.n = task.targets.rows;
  dc.d = task.queries.dim;
  // One read of the device's memory, for the residency cap and the chunk plan.
  std::optional<VramBudget> budget;
  if (gpu_usable && runtime->vram != nullptr) budget = runtime->vram->Budget();
  // A target set that is, or can be made, resident on the GPU is its own operation (no PCIe transfer).
  const uint64_t residency_cap =
      task.target_set != nullptr && gpu_usable ? ResidencyCap(config, budget ? &*budget : nullptr) : 0;
  const bool resident =
      residency_cap > 0 && residency_->WouldBeResident(*task.target_set, residency_cap);
  dc.operation = OperationFor(dc.q, resident);
  dc.size_class = SizeClassOf(dc.q, dc.n, dc.d);
  dc.estimate = tracker_->EstimateFor(dc.operation, dc.size_class);
  dc.usable_vram_bytes =
      UINT64_MAX;  // A GPU backend without a memory query is not planned against memory.
  if (budget.has_value()) {
    const uint64_t headroom = config.chunking.gpu_headroom_bytes;
    dc.usable_vram_bytes = budget->usable_bytes > headroom ? budget->usable_bytes - headroom : 0;
    const DeviceMemoryModel memory = c_.gpu->MemoryModel(dc.q, dc.d, task.top_k);
    dc.min_chunk_vram_bytes =
        MinChunkBytes(GpuPlanInput(task, memory, dc.usable_vram_bytes, config.chunking, resident));
  }
  const Decision decision = DecideWithExploration(*runtime->policy, dc, runtime->ticker.get());
  return RunWithDecision(task, out, context, *runtime, dc, decision, c_.clock->Now() - dc.now,
                         resident ? residency_cap : 0, check_targets_in_kernel);
}

absl::StatusOr<ExecutionReport> Executor::RunWithDecision(
    const CosineTask& task, const ResultBuffers& out, const RequestContext& context,
    const Runtime& runtime, const DispatchContext& dc, Decision decision,
    absl::Duration decision_time, uint64_t residency_cap, bool check_targets_in_kernel) const {
  const ServingConfig& config = *runtime.config;
  const bool forced_gpu = task.placement == Placement::kGpu;
  // A GPU never receives unchecked data: if the dispatcher chose it, the targets are scanned now.
  // (A later fallback from the GPU to the CPU then runs on checked data too.)
  if (check_targets_in_kernel && decision.backend == BackendKind::kGpu) {
    if (absl::Status s = CheckFinite(task.targets, "targets"); !s.ok()) return s;
    check_targets_in_kernel = false;
  }
  const absl::Time start = c_.clock->Now();

  ChunkedRunParams params;
  params.task = &task;
  params.out = out;
  params.context = &context;
  params.clock = c_.clock;
  params.cpu = c_.cpu;
  params.primary = c_.cpu;
  params.cpu_rows_per_chunk = CpuRowsPerChunk(task, config.chunking);
  params.primary_rows_per_chunk = params.cpu_rows_per_chunk;
  params.counters = &counters_;
  params.check_targets_finite = check_targets_in_kernel;

  // Held until the last chunk is done: the GPU reads this copy of the target set.
  ResidencyCache::Acquired resident;
  if (decision.backend == BackendKind::kGpu && residency_cap > 0) {
    resident = residency_->Acquire(*task.target_set, residency_cap);
    // Not resident after all (the upload failed): the set streams through the GPU like inline targets.
    params.resident = resident.targets.get();
  }
  if (decision.backend == BackendKind::kGpu) {
    const DeviceMemoryModel memory = c_.gpu->MemoryModel(dc.q, dc.d, task.top_k);
    absl::StatusOr<ChunkPlan> plan = PlanChunks(GpuPlanInput(
        task, memory, dc.usable_vram_bytes, config.chunking, params.resident != nullptr));
    if (!plan.ok()) {
      // Only a forced placement gets here: otherwise insufficient_vram would have chosen the CPU.
      if (forced_gpu) {
        return absl::ResourceExhaustedError(
            absl::StrCat("not enough free GPU memory for this request: ", plan.status().message()));
      }
      decision = Decision{BackendKind::kCpu, DispatchRule::kInsufficientVram};
    } else if (!breaker_->TryAcquirePermission()) {  // Half-open with its probe quota used up.
      if (forced_gpu) {
        const CircuitBreakerSnapshot b = breaker_->Snapshot();
        return absl::UnavailableError(absl::StrCat(
            "placement GPU was requested but the GPU circuit breaker is open (retry in ",
            absl::FormatDuration(b.time_until_retry), "); last GPU error: ", b.last_error));
      }
      decision = Decision{BackendKind::kCpu, DispatchRule::kCircuitOpen};
    } else {
      params.primary = c_.gpu;
      params.allow_fallback = !forced_gpu;
      params.primary_rows_per_chunk = plan->rows_per_chunk;
      params.primary_min_rows = std::min<uint64_t>(config.chunking.min_gpu_chunk_rows, dc.n);
    }
  }

  ExecutionReport report;
  report.backend = decision.backend;
  report.rule = decision.rule;
  report.operation = dc.operation;
  report.decision_time = decision_time;
  // An invalid request is not a decision: with the check in the kernel, it is counted once the run
  // shows the values valid.
  if (!check_targets_in_kernel) counters_.CountDecision(decision.backend, decision.rule);
  const ChunkedRunResult result = RunChunked(params, &report);
  if (task.target_set != nullptr) {
    // GPU chunks read the resident copy only when there was one (params.resident); CPU chunks read host memory.
    report.targets_resident = report.gpu_chunks == 0 || (params.resident != nullptr && resident.was_resident);
    report.target_set_uploaded = resident.targets != nullptr && !resident.was_resident;
  }
  const absl::Duration latency = c_.clock->Now() - start;
  if (check_targets_in_kernel) {
    if (!result.status.ok()) {
      // Whatever stopped the run (a bad value, the deadline, a cancellation, a failure), invalid
      // values are reported first, exactly as by the scan before the run: the first bad value's row
      // and column.
      if (absl::Status s = CheckFinite(task.targets, "targets"); !s.ok()) return s;
      if (result.targets_non_finite) {
        return absl::InternalError(
            "the CPU kernel reported a non-finite target value that the scan did not find");
      }
    }
    counters_.CountDecision(decision.backend, decision.rule);
  }

  // Feed what happened back into the breaker and the tracker.
  const bool interrupted = result.status.code() == absl::StatusCode::kCancelled ||
                           result.status.code() == absl::StatusCode::kDeadlineExceeded;
  if (decision.backend == BackendKind::kGpu) {
    if (result.primary_failed) {
      // A GPU that reports itself unusable (sticky CUDA error) opens the breaker at once.
      if (c_.gpu->Available()) {
        breaker_->RecordFailure(result.primary_error);
      } else {
        breaker_->RecordFatalFailure(result.primary_error);
      }
      tracker_->Record(BackendKind::kGpu, dc.operation, dc.size_class, latency, Outcome::kFailure);
    } else if (result.primary_chunks_ok > 0 && !interrupted) {
      breaker_->RecordSuccess();  // Out-of-memory is not a fault of the GPU (see the breaker's
                                  // contract).
      tracker_->Record(BackendKind::kGpu, dc.operation, dc.size_class, latency,
                       result.primary_out_of_memory ? Outcome::kOutOfMemory : Outcome::kSuccess);
    } else {
      breaker_->ReleasePermission();
      if (result.primary_out_of_memory) {
        tracker_->Record(BackendKind::kGpu, dc.operation, dc.size_class, latency,
                         Outcome::kOutOfMemory);
      }
    }
  } else if (result.status.ok()) {
    tracker_->Record(BackendKind::kCpu, dc.operation, dc.size_class, latency, Outcome::kSuccess);
  }
  if (report.fallback != FallbackReason::kNone) counters_.CountFallback(report.fallback);
  if (!result.status.ok()) return result.status;
  report.compute_time = latency;
  return report;
}

ExecutorSnapshot Executor::Snapshot() const {
  const std::shared_ptr<const Runtime> runtime = CurrentRuntime();
  ExecutorSnapshot s;
  s.config = runtime->config;
  s.gpu_present = c_.gpu != nullptr;
  s.gpu_available = GpuUsable();
  s.gpu_description = c_.gpu != nullptr ? c_.gpu->description() : "";
  s.gpu_unavailable_reason = s.gpu_available ? "" : GpuUnavailableReason(c_);
  s.performance = tracker_->Snapshot();
  s.breaker = breaker_->Snapshot();
  if (runtime->vram != nullptr) {
    s.vram = runtime->vram->Budget();
    s.vram_query_failures = runtime->vram->query_failures();
  }
  s.counters = counters_.Snapshot();
  if (residency_ != nullptr) {
    s.residency = residency_->GetStats();
    s.residency_cap_bytes = ResidencyCap(*s.config, runtime->vram != nullptr ? &s.vram : nullptr);
  }
  return s;
}

}  // namespace simile
