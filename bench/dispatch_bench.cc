// The cost of one dispatch decision as the executor makes it: one tracker read (EstimateFor), one
// breaker read (AllowsRequests), one clock read, and the policy (with the exploration ticker);
// alone, with 8 threads deciding at once, and with 8 threads deciding while another thread records
// continuously (so the seqlock readers see concurrent publishes). Also the cost of
// PerformanceTracker::Record and Snapshot, and of each part alone.
//
//   build-disp/bench/simile-dispatch-bench --benchmark_repetitions=3
//   --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

#include "core/chunk_planner.h"
#include "core/circuit_breaker.h"
#include "core/clock.h"
#include "core/dispatch_policy.h"
#include "core/performance_tracker.h"

namespace simile {
namespace {

// One process-wide set of dispatcher parts, shared by every benchmark thread (as in the server).
struct Harness {
  Harness()
      : clock(SteadyClock::Default()),
        tracker(*PerformanceTracker::Create(PerformanceTracker::Options(), clock)),
        breaker(*CircuitBreaker::Create(CircuitBreaker::Options(), clock)),
        policy(*TableDispatchPolicy::Create(PolicyOptions())),
        ticker(PolicyOptions().explore_fraction) {
    // Every cell holds a full window, so estimates and percentiles are real.
    for (int i = 0; i < PerformanceTracker::kDefaultWindowSize; ++i) {
      for (int sc = 0; sc < kNumSizeClasses; ++sc) {
        for (Operation op : {Operation::kOneQuery, Operation::kManyQueries}) {
          tracker->Record(BackendKind::kCpu, op, sc, absl::Microseconds(100 + sc * 50 + i),
                          Outcome::kSuccess);
          tracker->Record(BackendKind::kGpu, op, sc, absl::Microseconds(300 + sc * 10 + i),
                          Outcome::kSuccess);
        }
      }
    }
  }

  const Clock* clock;
  std::unique_ptr<PerformanceTracker> tracker;
  std::unique_ptr<CircuitBreaker> breaker;
  std::unique_ptr<TableDispatchPolicy> policy;
  ExplorationTicker ticker;
};

Harness& Shared() {
  static Harness* const harness = new Harness();
  return *harness;
}

// One full decision for a request of 1 x n x 768, as the executor would make it (the VRAM budget is
// a given number here: its query is the device driver's cost, not the dispatcher's).
Decision DecideOnce(Harness& h, uint64_t n) {
  DispatchContext ctx;
  ctx.placement = Placement::kAuto;
  ctx.gpu_available = true;
  ctx.q = 1;
  ctx.n = n;
  ctx.d = 768;
  ctx.operation = OperationFor(ctx.q);
  ctx.size_class = SizeClassOf(ctx.q, ctx.n, ctx.d);
  ctx.estimate = h.tracker->EstimateFor(ctx.operation, ctx.size_class);
  ctx.breaker_allows = h.breaker->AllowsRequests();
  ChunkPlanInput plan;
  plan.rows = n;
  plan.dim = 768;
  plan.fixed_bytes = 768 * 4;
  plan.bytes_per_row_extra = 8;
  plan.min_chunk_rows = 1024;
  ctx.usable_vram_bytes = 40ull << 30;
  ctx.min_chunk_vram_bytes = MinChunkBytes(plan);
  ctx.now = h.clock->Now();
  return DecideWithExploration(*h.policy, ctx, &h.ticker);
}

void RunDecisions(benchmark::State& state) {
  Harness& h = Shared();
  uint64_t i = static_cast<uint64_t>(state.thread_index()) * 7919;
  for (auto _ : state) {
    // n from 16 Ki to ~4 Mi targets: several size classes, mostly past batch_too_small.
    const uint64_t n = 16384 + ((i++ * 2654435761u) & ((1u << 22) - 1));
    benchmark::DoNotOptimize(DecideOnce(h, n));
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Decision(benchmark::State& state) { RunDecisions(state); }
BENCHMARK(BM_Decision)->Threads(1)->Threads(8);

// A background thread records into the cells the deciders read, as fast as it can.
class Recorder {
 public:
  void Start(Harness* h) {
    stop_.store(false, std::memory_order_relaxed);
    thread_ = std::thread([this, h] {
      uint64_t i = 0;
      // Relaxed: a stop flag; nothing else is published through it (join() orders the rest).
      while (!stop_.load(std::memory_order_relaxed)) {
        const int sc = static_cast<int>(i % kNumSizeClasses);
        h->tracker->Record(i % 2 == 0 ? BackendKind::kCpu : BackendKind::kGpu, Operation::kOneQuery,
                           sc, absl::Microseconds(100 + i % 200),
                           i % 50 == 0 ? Outcome::kFailure : Outcome::kSuccess);
        ++i;
      }
      records_ = i;
    });
  }
  uint64_t Stop() {
    stop_.store(true, std::memory_order_relaxed);
    thread_.join();
    return records_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
  uint64_t records_ = 0;  // Written by the thread, read after join().
};

void BM_DecisionWhileRecording(benchmark::State& state) {
  static Recorder* const recorder = new Recorder();
  // Thread 0 starts the recorder before the timed loop; the other threads wait for it at the loop's
  // start barrier, and everyone is past the loop's end barrier before it stops.
  if (state.thread_index() == 0) recorder->Start(&Shared());
  RunDecisions(state);
  if (state.thread_index() == 0) {
    state.counters["records"] = static_cast<double>(recorder->Stop());
  }
}
BENCHMARK(BM_DecisionWhileRecording)->Threads(1)->Threads(8);

// The parts alone.
void BM_EstimateFor(benchmark::State& state) {
  Harness& h = Shared();
  int sc = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(h.tracker->EstimateFor(Operation::kOneQuery, sc));
    sc = (sc + 1) % kNumSizeClasses;
  }
}
BENCHMARK(BM_EstimateFor)->Threads(1)->Threads(8);

void BM_BreakerAllowsRequests(benchmark::State& state) {
  Harness& h = Shared();
  for (auto _ : state) benchmark::DoNotOptimize(h.breaker->AllowsRequests());
}
BENCHMARK(BM_BreakerAllowsRequests)->Threads(1)->Threads(8);

void BM_PolicyDecideOnly(benchmark::State& state) {
  Harness& h = Shared();
  DispatchContext ctx;
  ctx.gpu_available = true;
  ctx.breaker_allows = true;
  ctx.n = 100000;
  ctx.estimate = h.tracker->EstimateFor(Operation::kOneQuery, 10);
  for (auto _ : state) {
    benchmark::DoNotOptimize(ctx);
    benchmark::DoNotOptimize(h.policy->Decide(ctx));
  }
}
BENCHMARK(BM_PolicyDecideOnly);

void BM_Record(benchmark::State& state) {
  Harness& h = Shared();
  uint64_t i = static_cast<uint64_t>(state.thread_index());
  for (auto _ : state) {
    h.tracker->Record(i % 2 == 0 ? BackendKind::kCpu : BackendKind::kGpu, Operation::kManyQueries,
                      static_cast<int>(i % kNumSizeClasses), absl::Microseconds(100 + i % 500),
                      Outcome::kSuccess);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Record)->Threads(1)->Threads(8);

void BM_Snapshot(benchmark::State& state) {
  Harness& h = Shared();
  for (auto _ : state) benchmark::DoNotOptimize(h.tracker->Snapshot());
}
BENCHMARK(BM_Snapshot);

}  // namespace
}  // namespace simile
