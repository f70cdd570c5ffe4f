// Executor dispatch: every rule of the policy observed through Run's report and the decision
// counters in Snapshot(), from real requests against a fake GPU and the CPU backend.
#include <catch2/catch.hpp>
#include <random>

#include "core/executor.h"
#include "tests/core/executor_test_util.h"

namespace simile {
namespace {

constexpr auto kCpu = BackendKind::kCpu;
constexpr auto kGpu = BackendKind::kGpu;

TEST_CASE("Executor: PLACEMENT_CPU runs on the CPU under rule placement_cpu", "[executor]") {
  const uint32_t top_k = GENERATE(0u, 5u);
  ExecutorHarness h;
  std::mt19937_64 rng(1);
  const Problem p = RandomProblem(rng, 2, 100, 16);
  const ExecutionReport r = RunAndCheck(h, p, Reference(p), top_k, Placement::kCpu);
  CHECK(r.backend == kCpu);
  CHECK(r.rule == DispatchRule::kPlacementCpu);
  CHECK(r.gpu_chunks == 0);
  CHECK(h.gpu.calls() == 0);
  const ExecutorSnapshot s = h.executor->Snapshot();
  CHECK(Decisions(s, kCpu, DispatchRule::kPlacementCpu) == 1);
  CHECK(TotalDecisions(s) == 1);
  CHECK(s.counters.chunks[Index(kCpu)] == r.cpu_chunks);
}

TEST_CASE("Executor: PLACEMENT_GPU runs every chunk on the GPU under rule placement_gpu",
          "[executor]") {
  const uint32_t top_k = GENERATE(0u, 5u);
  ExecutorHarness h;
  h.SetGpuChunkRows(16, 16);
  std::mt19937_64 rng(2);
  const Problem p = RandomProblem(rng, 2, 100, 16);
  const ExecutionReport r = RunAndCheck(h, p, Reference(p), top_k, Placement::kGpu);
  CHECK(r.backend == kGpu);
  CHECK(r.rule == DispatchRule::kPlacementGpu);
  CHECK(r.gpu_chunks == 7);  // ceil(100 / 16)
  CHECK(r.cpu_chunks == 0);
  CHECK(h.cpu.calls() == 0);
  const ExecutorSnapshot s = h.executor->Snapshot();
  CHECK(Decisions(s, kGpu, DispatchRule::kPlacementGpu) == 1);
  CHECK(s.counters.chunks[Index(kGpu)] == 7);
  CHECK(s.counters.chunks[Index(kCpu)] == 0);
}

TEST_CASE(
    "Executor: without a GPU backend, auto runs on the CPU under rule gpu_unavailable and "
    "PLACEMENT_GPU fails with FAILED_PRECONDITION naming the reason",
    "[executor]") {
  ExecutorHarness::Options no_gpu;
  no_gpu.with_gpu = false;
  ExecutorHarness h(TestConfig(), no_gpu);
  std::mt19937_64 rng(3);
  const Problem p = RandomProblem(rng, 2, 100, 16);
  const ExecutionReport r = RunAndCheck(h, p, Reference(p));
  CHECK(r.backend == kCpu);
  CHECK(r.rule == DispatchRule::kGpuUnavailable);

  const CosineTask task = p.Task(0, Placement::kGpu);
  Results results(task);
  const absl::StatusOr<ExecutionReport> forced = h.Run(task, &results);
  REQUIRE(forced.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(forced.status().message()), Catch::Contains("no GPU in this test"));

  const ExecutorSnapshot s = h.executor->Snapshot();
  CHECK_FALSE(s.gpu_present);
  CHECK_FALSE(s.gpu_available);
  CHECK(s.gpu_unavailable_reason == "no GPU in this test");
  CHECK(Decisions(s, kCpu, DispatchRule::kGpuUnavailable) == 1);
  CHECK(TotalDecisions(s) == 1);  // The refused request decided nothing.
  CHECK(h.gpu.calls() == 0);
}

TEST_CASE(
    "Executor: a breaker forced open by configuration sends auto requests to the CPU under "
    "circuit_open and fails PLACEMENT_GPU with UNAVAILABLE",
    "[executor]") {
  ServingConfig config = TestConfig();
  config.breaker.mode = BreakerMode::kForceOpen;
  ExecutorHarness h(config);
  std::mt19937_64 rng(4);
  const Problem p = RandomProblem(rng, 2, 100, 16);
  const ExecutionReport r = RunAndCheck(h, p, Reference(p));
  CHECK(r.backend == kCpu);
  CHECK(r.rule == DispatchRule::kCircuitOpen);

  const CosineTask task = p.Task(0, Placement::kGpu);
  Results results(task);
  const absl::StatusOr<ExecutionReport> forced = h.Run(task, &results);
  REQUIRE(forced.status().code() == absl::StatusCode::kUnavailable);
  CHECK_THAT(std::string(forced.status().message()), Catch::Contains("circuit breaker is open"));
  CHECK(h.gpu.calls() == 0);
  CHECK(h.cpu.calls() == 1);  // Only the auto request's chunk: never a silent CPU fallback.

  const ExecutorSnapshot s = h.executor->Snapshot();
  CHECK(s.breaker.mode == BreakerMode::kForceOpen);
  CHECK(Decisions(s, kCpu, DispatchRule::kCircuitOpen) == 1);
}

TEST_CASE(
    "Executor: below the minimum GPU batch of its operation a request runs on the CPU under "
    "batch_too_small",
    "[executor]") {
  ServingConfig config = TestConfig();
  config.policy.min_gpu_batch_one_query = 1000;
  config.policy.min_gpu_batch_many_queries = 50;
  ExecutorHarness h(config);
  std::mt19937_64 rng(5);
  struct Case {
    uint32_t q, n;
    BackendKind backend;
    DispatchRule rule;
  };
  const Case c = GENERATE(Case{1, 999, kCpu, DispatchRule::kBatchTooSmall},
                          Case{1, 1000, kGpu, DispatchRule::kGpuFaster},
                          Case{3, 49, kCpu, DispatchRule::kBatchTooSmall},
                          Case{3, 50, kGpu, DispatchRule::kGpuFaster});
  const Problem p = RandomProblem(rng, c.q, c.n, 8);
  const ExecutionReport r = RunAndCheck(h, p, Reference(p));
  CHECK(r.backend == c.backend);
  CHECK(r.rule == c.rule);
  CHECK(Decisions(h.executor->Snapshot(), c.backend, c.rule) == 1);
}

TEST_CASE(
    "Executor: when not even the smallest chunk fits in usable VRAM, auto goes to the CPU "
    "under insufficient_vram and PLACEMENT_GPU fails with RESOURCE_EXHAUSTED",
    "[executor]") {
  ExecutorHarness h;  // Floor: 8 rows.
  h.gpu.SetMemoryModel({4096, 16});
  std::mt19937_64 rng(6);
  const Problem p = RandomProblem(rng, 2, 100, 16);
  const Reference ref(p);

  h.SetGpuChunkRows(7, 16);  // One row short of the floor.
  ExecutionReport r = RunAndCheck(h, p, ref);
  CHECK(r.backend == kCpu);
  CHECK(r.rule == DispatchRule::kInsufficientVram);
  const CosineTask task = p.Task(0, Placement::kGpu);
  Results results(task);
  const absl::StatusOr<ExecutionReport> forced = h.Run(task, &results);
  CHECK(forced.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(h.gpu.calls() == 0);

  h.SetGpuChunkRows(8, 16);  // Exactly the floor.
  r = RunAndCheck(h, p, ref);
  CHECK(r.backend == kGpu);
  CHECK(r.rule == DispatchRule::kGpuFaster);
  CHECK(r.gpu_chunks == 13);  // ceil(100 / 8)

  // A request smaller than the floor needs only its own rows.
  const Problem small = RandomProblem(rng, 2, 5, 16);
  h.SetGpuChunkRows(5, 16);
  r = RunAndCheck(h, small, Reference(small));
  CHECK(r.rule == DispatchRule::kGpuFaster);
  CHECK(r.gpu_chunks == 1);

  const ExecutorSnapshot s = h.executor->Snapshot();
  CHECK(Decisions(s, kCpu, DispatchRule::kInsufficientVram) == 1);
  CHECK(Decisions(s, kGpu, DispatchRule::kGpuFaster) == 2);
}

TEST_CASE(
    "Executor: a failing VRAM query uses the cached budget while fresh, then the "
    "pessimistic one",
    "[executor]") {
  ExecutorHarness h;  // cache_ttl 2 s, pessimistic 10% of the total.
  std::mt19937_64 rng(7);
  const Problem p = RandomProblem(rng, 2, 100, 16);
  const Reference ref(p);
  // Free: room for 100 rows; total: 2x that, so 10% of it holds 20 rows (above the floor of 8).
  h.SetGpuChunkRows(100, 16);
  CHECK(RunAndCheck(h, p, ref).gpu_chunks == 1);

  h.gpu.memory().SetFailAlways(true);
  h.clock.Advance(absl::Seconds(1));
  ExecutionReport r = RunAndCheck(h, p, ref);
  CHECK(r.rule == DispatchRule::kGpuFaster);
  CHECK(r.gpu_chunks == 1);  // The cached answer: 100 rows.

  h.clock.Advance(absl::Seconds(2));
  r = RunAndCheck(h, p, ref);
  CHECK(r.rule == DispatchRule::kGpuFaster);
  CHECK(r.gpu_chunks == 5);  // The pessimistic budget: 20 rows.

  const ExecutorSnapshot s = h.executor->Snapshot();  // Queries once more.
  CHECK(s.vram.source == BudgetSource::kPessimistic);
  CHECK(s.vram_query_failures == 3);
}

TEST_CASE("Executor: with no measurements the GPU is chosen under gpu_faster", "[executor]") {
  ExecutorHarness h;
  std::mt19937_64 rng(8);
  const Problem p = RandomProblem(rng, 2, 100, 16);
  const ExecutionReport r = RunAndCheck(h, p, Reference(p), 3);
  CHECK(r.backend == kGpu);
  CHECK(r.rule == DispatchRule::kGpuFaster);
  CHECK(r.fallback == FallbackReason::kNone);
  CHECK(Decisions(h.executor->Snapshot(), kGpu, DispatchRule::kGpuFaster) == 1);
}

TEST_CASE(
    "Executor: measured latencies in the same size class decide between "
    "gpu_slower_for_this_size and gpu_faster, and other size classes are unaffected",
    "[executor]") {
  struct Case {
    absl::Duration gpu_latency;
    BackendKind backend;
    DispatchRule rule;
  };
  // CPU 10 ms; the GPU must be at least 1.2x faster (<= 8.33 ms).
  const Case c = GENERATE(Case{absl::Milliseconds(9), kCpu, DispatchRule::kGpuSlowerForThisSize},
                          Case{absl::Microseconds(8400), kCpu, DispatchRule::kGpuSlowerForThisSize},
                          Case{absl::Milliseconds(8), kGpu, DispatchRule::kGpuFaster},
                          Case{absl::Milliseconds(1), kGpu, DispatchRule::kGpuFaster});
  ServingConfig config = TestConfig();
  config.policy.min_samples = 2;
  ExecutorHarness h(config);
  h.cpu.SetLatency(absl::Milliseconds(10));
  h.gpu.SetLatency(c.gpu_latency);
  std::mt19937_64 rng(9);
  const Problem p = RandomProblem(rng, 2, 100, 16);  // Size class 0.
  const Reference ref(p);
  for (int i = 0; i < 2; ++i) {
    RunAndCheck(h, p, ref, 0, Placement::kCpu);
    RunAndCheck(h, p, ref, 0, Placement::kGpu);
  }
  const ExecutionReport r = RunAndCheck(h, p, ref);
  CHECK(r.backend == c.backend);
  CHECK(r.rule == c.rule);
  CHECK(Decisions(h.executor->Snapshot(), c.backend, c.rule) == 1);

  // 2 x 2000 x 16 = 64000 multiply-adds: another size class, with no measurements.
  const Problem bigger = RandomProblem(rng, 2, 2000, 16);
  REQUIRE(SizeClassOf(2, 2000, 16) != SizeClassOf(2, 100, 16));
  const ExecutionReport other = RunAndCheck(h, bigger, Reference(bigger));
  CHECK(other.rule == DispatchRule::kGpuFaster);
}

TEST_CASE(
    "Executor: a GPU whose success rate fell below the threshold is avoided under "
    "low_gpu_success_rate",
    "[executor]") {
  ServingConfig config = TestConfig();
  config.policy.min_success_samples = 4;
  config.policy.min_success_rate = 0.9;
  config.breaker.mode = BreakerMode::kForceClosed;  // Only the success rate reacts here.
  ExecutorHarness h(config);
  h.gpu.SetFailAlways(true);
  std::mt19937_64 rng(10);
  const Problem p = RandomProblem(rng, 2, 100, 16);
  const Reference ref(p);
  for (int i = 0; i < 4; ++i) {
    const ExecutionReport r = RunAndCheck(h, p, ref);
    CHECK(r.rule == DispatchRule::kGpuFaster);
    CHECK(r.fallback == FallbackReason::kGpuError);
    CHECK(r.gpu_chunks == 0);
  }
  CHECK(h.gpu.calls() == 4);
  const ExecutionReport r = RunAndCheck(h, p, ref);
  CHECK(r.backend == kCpu);
  CHECK(r.rule == DispatchRule::kLowGpuSuccessRate);
  CHECK(h.gpu.calls() == 4);

  const ExecutorSnapshot s = h.executor->Snapshot();
  CHECK(Decisions(s, kGpu, DispatchRule::kGpuFaster) == 4);
  CHECK(Decisions(s, kCpu, DispatchRule::kLowGpuSuccessRate) == 1);
  CHECK(s.counters.fallbacks[Index(FallbackReason::kGpuError)] == 4);
  CHECK(s.counters.gpu_errors == 4);
  CHECK(s.breaker.state == BreakerState::kClosed);
  CHECK(s.breaker.failures == 4);
}

TEST_CASE(
    "Executor: exploration sends eligible requests against the evidence, at the configured "
    "fraction",
    "[executor]") {
  std::mt19937_64 rng(11);
  const Problem p = RandomProblem(rng, 2, 100, 16);
  const Reference ref(p);

  SECTION("no evidence against the GPU: every other eligible request explores the CPU") {
    ServingConfig config = TestConfig();
    config.policy.explore_fraction = 0.5;
    ExecutorHarness h(config);
    CHECK(RunAndCheck(h, p, ref).rule == DispatchRule::kGpuFaster);
    // Forced placements are not eligible and do not advance the cadence.
    CHECK(RunAndCheck(h, p, ref, 0, Placement::kCpu).rule == DispatchRule::kPlacementCpu);
    ExecutionReport r = RunAndCheck(h, p, ref);
    CHECK(r.rule == DispatchRule::kExplore);
    CHECK(r.backend == kCpu);
    CHECK(RunAndCheck(h, p, ref).rule == DispatchRule::kGpuFaster);
    r = RunAndCheck(h, p, ref);
    CHECK(r.rule == DispatchRule::kExplore);
    CHECK(r.backend == kCpu);
    const ExecutorSnapshot s = h.executor->Snapshot();
    CHECK(Decisions(s, kCpu, DispatchRule::kExplore) == 2);
    CHECK(Decisions(s, kGpu, DispatchRule::kGpuFaster) == 2);
  }

  SECTION("evidence against the GPU (low success rate): exploration sends work to the GPU") {
    ServingConfig config = TestConfig();
    config.policy.min_success_samples = 2;
    config.breaker.mode = BreakerMode::kForceClosed;
    ExecutorHarness h(config);
    h.gpu.SetFailAlways(true);
    RunAndCheck(h, p, ref);
    RunAndCheck(h, p, ref);
    h.gpu.SetFailAlways(false);
    CHECK(RunAndCheck(h, p, ref).rule == DispatchRule::kLowGpuSuccessRate);

    config.policy.explore_fraction = 1.0;
    h.Reload(config);
    const ExecutionReport r = RunAndCheck(h, p, ref);
    CHECK(r.rule == DispatchRule::kExplore);
    CHECK(r.backend == kGpu);
    CHECK(r.gpu_chunks == 1);
    CHECK(Decisions(h.executor->Snapshot(), kGpu, DispatchRule::kExplore) == 1);
  }
}

TEST_CASE(
    "Executor: invalid tasks and mis-sized result buffers are refused before any decision "
    "or work",
    "[executor]") {
  ServingConfig config = TestConfig();
  config.limits.max_dim = 32;
  ExecutorHarness h(config);
  std::mt19937_64 rng(12);
  const Problem p = RandomProblem(rng, 2, 100, 16);

  CosineTask too_many = p.Task(101);  // top_k > N.
  Results r1(p.Task(0));
  CHECK(h.Run(too_many, &r1).status().code() == absl::StatusCode::kInvalidArgument);

  const Problem wide = RandomProblem(rng, 1, 10, 33);
  const CosineTask too_wide = wide.Task();
  Results r2(too_wide);
  CHECK(h.Run(too_wide, &r2).status().code() == absl::StatusCode::kResourceExhausted);

  const CosineTask task = p.Task(5);
  Results wrong(p.Task(4));  // Buffers for k = 4.
  CHECK(h.Run(task, &wrong).status().code() == absl::StatusCode::kInternal);

  CHECK(TotalDecisions(h.executor->Snapshot()) == 0);
  CHECK(h.gpu.calls() == 0);
  CHECK(h.cpu.calls() == 0);
}

}  // namespace
}  // namespace simile
