// DispatchPolicy: decides which backend runs one request, from plain data the executor gathered
// beforehand (one tracker read, one breaker read, one VRAM budget), and names the rule that
// decided. No locks, no clock, no I/O: a decision is a pure function of (DispatchContext,
// PolicyOptions), so every rule is a unit test.
//
// TableDispatchPolicy, the default, is an ordered table of named rules; the first that applies
// wins:
//
//   rule                      applies when                                        backend
//   placement_cpu             the request asked for the CPU                       CPU
//   placement_gpu             the request asked for the GPU (the executor fails   GPU
//                             it with FAILED_PRECONDITION if there is none)
//   gpu_unavailable           no usable GPU                                       CPU
//   circuit_open              the breaker does not allow GPU work                 CPU
//   batch_too_small           n < min GPU batch for this operation (resident      CPU
//                             target sets have their own, smaller thresholds)
//   insufficient_vram         usable VRAM < what the smallest chunk needs         CPU
//   explore                   ctx.explore (the ExplorationTicker said so)         the backend the
//                                                                                 rules below would
//                                                                                 NOT choose
//   low_gpu_success_rate      >= min_success_samples GPU calls in its window      CPU
//                             and success rate < min_success_rate
//   gpu_slower_for_this_size  both backends have >= min_samples fresh samples     CPU
//                             in this size class and
//                             cpu_mean < required_speedup * gpu_mean
//   gpu_faster                otherwise                                           GPU
//
// The comparison: the GPU is chosen only when cpu_mean / gpu_mean >= required_speedup, i.e. it must
// beat the CPU by a margin that pays for its extra risk (OOM retries, transfers, the breaker), and
// equal means go to the CPU.
//
// Why gpu_faster is also the answer when the GPU has no (fresh) measurement for this size class:
// the requests reaching this rule already passed batch_too_small, so they are big enough that the
// GPU is expected to win; optimistic initialisation measures the GPU within a few requests per
// class, whereas defaulting to the CPU would leave the GPU unmeasured except through exploration. A
// bad guess is bounded: each wrong call is measured and the comparison takes over after
// min_samples, and failures are caught by the breaker and the success rate.
//
// Why explore: the tracker only learns about the backend that ran. If the GPU always wins a size
// class, the CPU's figures there stop changing while the host, its load or the code changes, and
// the other way round, so a decision made once would never be revisited. A small deterministic
// fraction of eligible requests (those no hard constraint above explore decides) run on the backend
// the measured evidence does not favour, which keeps both estimates fresh (and measures the CPU in
// classes where it was never tried). Estimates older than max_estimate_age count as no measurement,
// as a second guard.
//
// Why explore comes BEFORE low_gpu_success_rate (rather than after it): the success rate is
// computed over the GPU's last calls, and only GPU calls change it. Were low_gpu_success_rate to
// win over explore, a GPU whose rate once dipped below the threshold would get no calls, its window
// would never change, and it would be avoided forever, even after it recovered. Exploring sends a
// small fraction to it, so its rate recovers (or not) from fresh evidence. A GPU that is actually
// failing is stopped first by circuit_open, which precedes explore and has its own probing; failed
// explorations fall back to the CPU like any GPU failure.
//
// Thread safety: DispatchPolicy implementations are immutable after construction; Decide may be
// called concurrently. ExplorationTicker::Tick may be called concurrently.
#ifndef SIMILE_CORE_DISPATCH_POLICY_H_
#define SIMILE_CORE_DISPATCH_POLICY_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "core/backend_kind.h"
#include "core/cosine_task.h"
#include "core/performance_tracker.h"

namespace simile {

// Thresholds, from the hardware profile and the configuration. The defaults are PROVISIONAL
// starting points until a hardware profile measured by bench/ replaces them (the review's point:
// thresholds must be measured).
struct PolicyOptions {
  // Fewest targets (n) worth a GPU launch for a single query. 1 x N is memory bound and the targets
  // cross PCIe first (~25 GB/s) while a CPU scans host memory at a similar rate, so the GPU needs a
  // large N to pay for launch and transfer latency (~tens of microseconds).
  uint64_t min_gpu_batch_one_query = 16384;
  // Fewest targets for Q > 1 queries (compute bound: every target is reused Q times, so far fewer
  // suffice).
  uint64_t min_gpu_batch_many_queries = 256;
  // The GPU must be at least this many times faster than the CPU in the same size class (> 0; < 1
  // would prefer a slower GPU). 1.2: a margin above measurement noise (see the tracker's window)
  // for the GPU's extra risk.
  double required_speedup = 1.2;
  // The same thresholds for requests on a target set resident in GPU memory (Operation::k*Resident): no
  // PCIe transfer of the targets, so the GPU wins at far smaller N. PROVISIONAL: from the device's memory
  // bandwidth (a 1 x 2048 x 768 scan is ~6 MB, a few microseconds on an H100 against ~0.5 ms on a CPU core),
  // not yet measured by simile-calibrate.
  uint64_t min_gpu_batch_resident_one_query = 2048;
  uint64_t min_gpu_batch_resident_many_queries = 64;
  // Successful samples each backend needs in a size class before their means are compared (>= 1).
  // With latency CV ~0.3, 16 samples put the mean's standard error near 7.5%, well inside the 1.2x
  // margin.
  int64_t min_samples = 16;
  // The GPU's success rate over its window below which it is avoided, in [0, 1]...
  double min_success_rate = 0.9;
  // ...once the window holds at least this many calls (>= 1), so one early failure does not count
  // as 0%.
  int64_t min_success_samples = 20;
  // Fraction of eligible requests sent to the backend the estimates do not favour, in [0, 1]. 1/50:
  // costs at most ~2% of eligible requests running on the slower backend, and refreshes a 16-sample
  // estimate within ~800 eligible requests of that class.
  double explore_fraction = 0.02;
  // Estimates not updated for this long count as no measurement (> 0; InfiniteDuration disables).
  absl::Duration max_estimate_age = absl::Minutes(10);

  [[nodiscard]] uint64_t MinGpuBatch(Operation operation) const {
    switch (operation) {
      case Operation::kOneQuery:
        return min_gpu_batch_one_query;
      case Operation::kManyQueries:
        return min_gpu_batch_many_queries;
      case Operation::kOneQueryResident:
        return min_gpu_batch_resident_one_query;
      case Operation::kManyQueriesResident:
        return min_gpu_batch_resident_many_queries;
    }
    return min_gpu_batch_one_query;
  }

  // InvalidArgument naming the bad field.
  [[nodiscard]] absl::Status Validate() const;
};

// Everything a decision looks at, filled by the executor from ONE tracker read (EstimateFor), one
// breaker read (AllowsRequests), one VRAM budget, and the request.
struct DispatchContext {
  Placement placement = Placement::kAuto;
  bool gpu_available = false;                  // A GPU backend exists and is usable.
  bool breaker_allows = false;                 // CircuitBreaker::AllowsRequests().
  uint64_t q = 0;                              // Query rows.
  uint64_t n = 0;                              // Target rows.
  uint32_t d = 0;                              // Dimension.
  Operation operation = Operation::kOneQuery;  // OperationFor(q, targets resident on the GPU).
  int size_class = 0;                          // SizeClassOf(q, n, d).
  DispatchEstimate estimate;          // PerformanceTracker::EstimateFor(operation, size_class).
  uint64_t usable_vram_bytes = 0;     // VramBudget::usable_bytes (minus any headroom).
  uint64_t min_chunk_vram_bytes = 0;  // MinChunkBytes() for this request (resident rows cost no bytes).
  // The executor's Clock::Now(), for the staleness check; InfinitePast disables it.
  absl::Time now = absl::InfinitePast();
  // Set by the executor: ExplorationEligible(ctx) && ticker.Tick() (see DecideWithExploration).
  bool explore = false;
};

struct Decision {
  BackendKind backend = BackendKind::kCpu;
  DispatchRule rule = DispatchRule::kGpuUnavailable;
};

class DispatchPolicy {
 public:
  virtual ~DispatchPolicy() = default;

  [[nodiscard]] virtual Decision Decide(const DispatchContext& ctx) const = 0;

  // True when only measured evidence would decide `ctx` (no placement, availability, breaker, size
  // or VRAM rule applies): such requests may be explored. ctx.explore is ignored.
  [[nodiscard]] virtual bool ExplorationEligible(const DispatchContext& ctx) const = 0;
};

class TableDispatchPolicy final : public DispatchPolicy {
 public:
  struct Rule {
    DispatchRule rule;
    bool (*applies)(const DispatchContext& ctx, const PolicyOptions& options);
    BackendKind target;
  };

  // InvalidArgument for invalid options.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<TableDispatchPolicy>> Create(
      const PolicyOptions& options);

  [[nodiscard]] Decision Decide(const DispatchContext& ctx) const override;
  [[nodiscard]] bool ExplorationEligible(const DispatchContext& ctx) const override;

  // The table, in order (explore appears twice: once per direction).
  [[nodiscard]] static absl::Span<const Rule> Rules();

  // Whether the estimates in `ctx` favour the CPU (the gpu_slower_for_this_size condition).
  [[nodiscard]] static bool EstimatesFavourCpu(const DispatchContext& ctx,
                                               const PolicyOptions& options);
  // Whether the rules after explore would choose the CPU: low_gpu_success_rate or
  // gpu_slower_for_this_size.
  [[nodiscard]] static bool EvidenceFavoursCpu(const DispatchContext& ctx,
                                               const PolicyOptions& options);

  [[nodiscard]] const PolicyOptions& options() const { return options_; }

 private:
  explicit TableDispatchPolicy(const PolicyOptions& options) : options_(options) {}

  const PolicyOptions options_;
};

// Deterministic exploration cadence: of the requests that call Tick(), exactly every period-th (the
// 1st..period-th calls hold one true, at the period-th) returns true, period = round(1 / fraction);
// fraction 0 never explores. Call it only for eligible requests, so the fraction is of eligible
// requests. Deterministic rather than random so tests and reasoning are exact; interleaving across
// threads decides which request gets the true, never how many.
class ExplorationTicker {
 public:
  // `fraction` is clamped to [0, 1].
  explicit ExplorationTicker(double fraction);

  ExplorationTicker(const ExplorationTicker&) = delete;
  ExplorationTicker& operator=(const ExplorationTicker&) = delete;

  [[nodiscard]] bool Tick();

  // 0: never explores.
  [[nodiscard]] uint64_t period() const { return period_; }

 private:
  const uint64_t period_;
  // memory_order_relaxed: each Tick needs only a unique ticket number (the RMW is atomic whatever
  // the order); no other data is published or consumed through this counter.
  std::atomic<uint64_t> ticks_{0};
};

// The executor's one-liner: sets ctx.explore from eligibility and the ticker (ticking only eligible
// requests), then decides. `ticker` may be null (no exploration).
[[nodiscard]] Decision DecideWithExploration(const DispatchPolicy& policy, DispatchContext ctx,
                                             ExplorationTicker* ticker);

}  // namespace simile

#endif  // SIMILE_CORE_DISPATCH_POLICY_H_
