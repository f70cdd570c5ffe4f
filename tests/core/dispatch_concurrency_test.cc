// 16 threads run the dispatcher's read-decide-record loop against one tracker, breaker, VRAM
// monitor, policy and exploration ticker, with injected GPU failures and failing VRAM queries,
// while one of them advances a fake clock. Afterwards every counter must add up. Also run under
// ThreadSanitizer.
#include <array>
#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/chunk_planner.h"
#include "core/circuit_breaker.h"
#include "core/dispatch_policy.h"
#include "core/performance_tracker.h"
#include "core/vram_monitor.h"
#include "tests/core/fake_clock.h"

namespace simile {
namespace {

// Fails every 7th query.
class FlakyDeviceMemory final : public DeviceMemoryQuery {
 public:
  absl::StatusOr<DeviceMemoryInfo> Query() override {
    // Relaxed: a ticket counter, nothing else is published through it.
    if (calls_.fetch_add(1, std::memory_order_relaxed) % 7 == 6) {
      failures_.fetch_add(1, std::memory_order_relaxed);
      return absl::UnavailableError("injected");
    }
    return DeviceMemoryInfo{8ull << 30, 16ull << 30};
  }
  std::atomic<uint64_t> calls_{0};
  std::atomic<uint64_t> failures_{0};
};

TEST_CASE("16 threads hammer tracker, breaker, VRAM monitor and policy - every counter adds up",
          "[dispatch][breaker][tracker][concurrency]") {
  constexpr int kThreads = 16;
  constexpr int kIterations = 1000;

  FakeClock clock;
  auto tracker = *PerformanceTracker::Create(PerformanceTracker::Options(), &clock);

  CircuitBreaker::Options breaker_options;
  breaker_options.base_cool_down = absl::Milliseconds(1);
  breaker_options.max_cool_down = absl::Milliseconds(4);
  breaker_options.half_open_probes = 2;
  breaker_options.probe_timeout = absl::Milliseconds(20);
  std::atomic<int64_t> listened{0};
  auto breaker = *CircuitBreaker::Create(breaker_options, &clock, [&](const BreakerTransition& t) {
    if (t.from != t.to) listened.fetch_add(1, std::memory_order_relaxed);
  });

  FlakyDeviceMemory device;
  auto vram = *VramMonitor::Create(&device, &clock, VramMonitor::Options());

  PolicyOptions policy_options;
  policy_options.min_gpu_batch_one_query = 2000;
  policy_options.min_gpu_batch_many_queries = 100;
  policy_options.min_samples = 4;
  policy_options.explore_fraction = 0.1;
  // The breaker, not the success rate, should react to the injected failures here.
  policy_options.min_success_samples = 1'000'000;
  auto policy = *TableDispatchPolicy::Create(policy_options);
  ExplorationTicker ticker(policy_options.explore_fraction);

  std::atomic<int64_t> records{0};
  std::atomic<int64_t> breaker_reports{0};
  std::atomic<int> errors{0};
  std::array<std::atomic<int64_t>, kNumDispatchRules> by_rule{};

  const absl::Time start = clock.Now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIterations; ++i) {
        clock.Advance(
            absl::Microseconds(20));  // Every thread moves time, so it moves while any runs.
        const uint64_t q = i % 3 == 0 ? 8 : 1;
        const uint64_t n = 500 + static_cast<uint64_t>((i * 7919 + t * 104729) % 200000);
        const uint32_t d = 128;

        DispatchContext ctx;
        ctx.placement = i % 50 == 0 ? Placement::kCpu : Placement::kAuto;
        ctx.gpu_available = true;
        ctx.q = q;
        ctx.n = n;
        ctx.d = d;
        ctx.operation = OperationFor(q);
        ctx.size_class = SizeClassOf(q, n, d);
        ctx.estimate = tracker->EstimateFor(ctx.operation, ctx.size_class);
        ctx.breaker_allows = breaker->AllowsRequests();
        ChunkPlanInput plan;
        plan.rows = n;
        plan.dim = d;
        plan.fixed_bytes = q * d * 4;
        plan.bytes_per_row_extra = 4 + q * 4;
        plan.min_chunk_rows = 256;
        ctx.usable_vram_bytes = vram->Budget().usable_bytes;
        ctx.min_chunk_vram_bytes = MinChunkBytes(plan);
        ctx.now = clock.Now();

        const Decision decision = DecideWithExploration(*policy, ctx, &ticker);
        by_rule[Index(decision.rule)].fetch_add(1, std::memory_order_relaxed);
        bool matches_table = false;
        for (const TableDispatchPolicy::Rule& r : TableDispatchPolicy::Rules()) {
          matches_table |= r.rule == decision.rule && r.target == decision.backend;
        }
        if (!matches_table) errors.fetch_add(1);

        // Work size drives simulated latencies: the GPU wins big batches, the CPU small ones.
        const double work = static_cast<double>(WorkOf(q, n, d));
        if (decision.backend == BackendKind::kGpu && breaker->TryAcquirePermission()) {
          if (i % 97 == 0) {
            breaker->ReleasePermission();  // Cancelled before the GPU ran: no outcome.
          } else {
            // The GPU fails throughout every third 10 ms of (fake) time, for every thread alike, so
            // the breaker trips, probes and recovers whatever the interleaving.
            const bool fail = ((clock.Now() - start) / absl::Milliseconds(10)) % 3 == 1;
            const absl::Duration latency = absl::Microseconds(20) + absl::Nanoseconds(work / 50);
            if (fail) {
              breaker->RecordFailure("injected failure " + std::to_string(t));
            } else {
              breaker->RecordSuccess();
            }
            breaker_reports.fetch_add(1);
            tracker->Record(BackendKind::kGpu, ctx.operation, ctx.size_class, latency,
                            fail ? Outcome::kFailure : Outcome::kSuccess);
            records.fetch_add(1);
            if (!fail) continue;
          }
        }
        // The CPU path: the decision's own CPU work, or the fallback after a refusal or a GPU
        // failure.
        tracker->Record(BackendKind::kCpu, ctx.operation, ctx.size_class,
                        absl::Nanoseconds(work / 5), Outcome::kSuccess);
        records.fetch_add(1);
      }
    });
  }
  for (std::thread& th : threads) th.join();

  REQUIRE(errors.load() == 0);

  const PerformanceSnapshot snap = tracker->Snapshot();
  REQUIRE(snap.records == static_cast<uint64_t>(records.load()));

  const CircuitBreakerSnapshot b = breaker->Snapshot();
  REQUIRE(b.successes + b.failures == breaker_reports.load());
  REQUIRE(b.trips > 0);              // The injected failures did trip it...
  REQUIRE(b.transitions[1][2] > 0);  // ...and it probed again (open -> half_open).
  // The transition counts describe one walk through the states that began at closed.
  int64_t total_transitions = 0;
  int64_t into_open = 0;
  for (size_t from = 0; from < kNumBreakerStates; ++from) {
    for (size_t to = 0; to < kNumBreakerStates; ++to) total_transitions += b.transitions[from][to];
    into_open += b.transitions[from][static_cast<size_t>(BreakerState::kOpen)];
  }
  REQUIRE(into_open == b.trips);
  REQUIRE(listened.load() == total_transitions);
  for (size_t s = 0; s < kNumBreakerStates; ++s) {
    int64_t in = 0;
    int64_t out = 0;
    for (size_t other = 0; other < kNumBreakerStates; ++other) {
      in += b.transitions[other][s];
      out += b.transitions[s][other];
    }
    const int64_t expected = (s == static_cast<size_t>(b.state) ? 1 : 0) - (s == 0 ? 1 : 0);
    INFO("state " << Name(static_cast<BreakerState>(s)));
    REQUIRE(in - out == expected);
  }

  REQUIRE(vram->query_failures() == device.failures_.load());
  REQUIRE(device.calls_.load() == static_cast<uint64_t>(kThreads) * kIterations);

  int64_t decisions = 0;
  for (const auto& c : by_rule) decisions += c.load();
  REQUIRE(decisions == kThreads * kIterations);
  REQUIRE(by_rule[Index(DispatchRule::kPlacementCpu)].load() > 0);
  REQUIRE(by_rule[Index(DispatchRule::kBatchTooSmall)].load() > 0);
  REQUIRE(by_rule[Index(DispatchRule::kGpuFaster)].load() > 0);
  REQUIRE(by_rule[Index(DispatchRule::kExplore)].load() > 0);
}

}  // namespace
}  // namespace simile
