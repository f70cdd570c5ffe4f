// The circuit breaker as the executor drives it: GPU failures open it, open sends auto requests to
// the CPU under circuit_open, the cool-down (on the fake clock) leads to a half-open probe, and the
// probe's outcome closes or re-opens it; out of memory never counts as a GPU fault.
#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/executor.h"
#include "tests/core/executor_test_util.h"

namespace simile {
namespace {

constexpr auto kCpu = BackendKind::kCpu;
constexpr auto kGpu = BackendKind::kGpu;

int64_t Transitions(const ExecutorSnapshot& s, BreakerState from, BreakerState to) {
  return s.breaker.transitions[Index(from)][Index(to)];
}

TEST_CASE(
    "Executor breaker: opens after N consecutive GPU failures, sends requests to the CPU "
    "under circuit_open, and a successful probe after the cool-down closes it",
    "[executor]") {
  const uint32_t top_k = GENERATE(0u, 4u);
  ExecutorHarness h;  // 3 consecutive failures, 1 s cool-down, 1 probe.
  std::mt19937_64 rng(300);
  const Problem p = RandomProblem(rng, 2, 100, 16);
  const Reference ref(p);

  h.gpu.SetFailAlways(true);
  for (int i = 0; i < 3; ++i) {
    const ExecutionReport r = RunAndCheck(h, p, ref, top_k);
    CHECK(r.rule == DispatchRule::kGpuFaster);
    CHECK(r.fallback == FallbackReason::kGpuError);
  }
  ExecutorSnapshot s = h.executor->Snapshot();
  REQUIRE(s.breaker.state == BreakerState::kOpen);
  CHECK(s.breaker.trips == 1);
  CHECK(s.breaker.time_until_retry == absl::Seconds(1));
  CHECK_THAT(s.breaker.last_error, Catch::Contains("fake cudaErrorLaunchFailure"));
  CHECK(h.gpu.calls() == 3);

  ExecutionReport r = RunAndCheck(h, p, ref, top_k);
  CHECK(r.backend == kCpu);
  CHECK(r.rule == DispatchRule::kCircuitOpen);
  CHECK(h.gpu.calls() == 3);

  h.gpu.SetFailAlways(false);
  h.clock.Advance(absl::Milliseconds(999));
  CHECK(RunAndCheck(h, p, ref, top_k).rule == DispatchRule::kCircuitOpen);
  h.clock.Advance(absl::Milliseconds(1));
  r = RunAndCheck(h, p, ref, top_k);  // The probe.
  CHECK(r.backend == kGpu);
  CHECK(r.rule == DispatchRule::kGpuFaster);
  CHECK(r.gpu_chunks == 1);

  s = h.executor->Snapshot();
  CHECK(s.breaker.state == BreakerState::kClosed);
  CHECK(Transitions(s, BreakerState::kClosed, BreakerState::kOpen) == 1);
  CHECK(Transitions(s, BreakerState::kOpen, BreakerState::kHalfOpen) == 1);
  CHECK(Transitions(s, BreakerState::kHalfOpen, BreakerState::kClosed) == 1);
  CHECK(Decisions(s, kCpu, DispatchRule::kCircuitOpen) == 2);
  CHECK(Decisions(s, kGpu, DispatchRule::kGpuFaster) == 4);

  const std::vector<BreakerTransition> seen = h.transitions();
  REQUIRE(seen.size() == 3);
  CHECK(seen[0].to == BreakerState::kOpen);
  CHECK(seen[1].to == BreakerState::kHalfOpen);
  CHECK(seen[2].to == BreakerState::kClosed);
}

TEST_CASE("Executor breaker: a failed probe re-opens it with a longer cool-down", "[executor]") {
  ExecutorHarness h;  // Cool-downs 1 s, then 2 s.
  std::mt19937_64 rng(301);
  const Problem p = RandomProblem(rng, 2, 100, 16);
  const Reference ref(p);
  h.gpu.SetFailAlways(true);
  for (int i = 0; i < 3; ++i) RunAndCheck(h, p, ref);
  h.clock.Advance(absl::Seconds(1));
  ExecutionReport r = RunAndCheck(h, p, ref);  // The probe fails; its work finishes on the CPU.
  CHECK(r.rule == DispatchRule::kGpuFaster);
  CHECK(r.fallback == FallbackReason::kGpuError);
  ExecutorSnapshot s = h.executor->Snapshot();
  CHECK(s.breaker.state == BreakerState::kOpen);
  CHECK(s.breaker.time_until_retry == absl::Seconds(2));
  CHECK(Transitions(s, BreakerState::kHalfOpen, BreakerState::kOpen) == 1);

  h.gpu.SetFailAlways(false);
  h.clock.Advance(absl::Seconds(1));
  CHECK(RunAndCheck(h, p, ref).rule == DispatchRule::kCircuitOpen);
  h.clock.Advance(absl::Seconds(1));
  CHECK(RunAndCheck(h, p, ref).rule == DispatchRule::kGpuFaster);
  s = h.executor->Snapshot();
  CHECK(s.breaker.state == BreakerState::kClosed);
  CHECK(s.breaker.trips == 2);
}

TEST_CASE("Executor breaker: out-of-memory fallbacks never open it", "[executor]") {
  ExecutorHarness h;
  std::mt19937_64 rng(302);
  const Problem p = RandomProblem(rng, 2, 64, 16);
  const Reference ref(p);
  h.SetGpuChunkRows(16, 16);
  h.gpu.SetOomAboveRows(1);
  for (int i = 0; i < 10; ++i) {
    const ExecutionReport r = RunAndCheck(h, p, ref);
    CHECK(r.rule == DispatchRule::kGpuFaster);
    CHECK(r.fallback == FallbackReason::kGpuOutOfMemory);
  }
  const ExecutorSnapshot s = h.executor->Snapshot();
  CHECK(s.breaker.state == BreakerState::kClosed);
  CHECK(s.breaker.failures == 0);
  CHECK(s.breaker.trips == 0);
}

TEST_CASE(
    "Executor breaker: a half-open probe that ends without a GPU outcome (cancelled, past "
    "its deadline, or out of memory everywhere) gives its permit back for the next probe",
    "[executor]") {
  enum class End { kCancelled, kDeadline, kOutOfMemoryEverywhere };
  const End end = GENERATE(End::kCancelled, End::kDeadline, End::kOutOfMemoryEverywhere);
  ExecutorHarness h;  // One half-open probe; probe timeout 60 s.
  std::mt19937_64 rng(304);
  const Problem p = RandomProblem(rng, 2, 64, 16);
  const Reference ref(p);
  h.SetGpuChunkRows(16, 16);
  h.gpu.SetFailAlways(true);
  for (int i = 0; i < 3; ++i) RunAndCheck(h, p, ref);
  h.gpu.SetFailAlways(false);
  h.clock.Advance(absl::Seconds(1));

  const CosineTask task = p.Task(0);
  Results results(task);
  RequestContext context;
  switch (end) {
    case End::kCancelled:
      context.is_cancelled = [] { return true; };
      CHECK(h.Run(task, &results, context).status().code() == absl::StatusCode::kCancelled);
      break;
    case End::kDeadline:
      context.deadline = h.clock.Now();
      CHECK(h.Run(task, &results, context).status().code() == absl::StatusCode::kDeadlineExceeded);
      break;
    case End::kOutOfMemoryEverywhere:
      h.gpu.SetOomAboveRows(1);
      CHECK(RunAndCheck(h, p, ref).fallback == FallbackReason::kGpuOutOfMemory);
      h.gpu.SetOomAboveRows(0);
      break;
  }
  ExecutorSnapshot s = h.executor->Snapshot();
  CHECK(s.breaker.state == BreakerState::kHalfOpen);
  CHECK(s.breaker.probes_in_flight == 0);

  const ExecutionReport r = RunAndCheck(h, p, ref);  // The next probe, well within 60 s.
  CHECK(r.rule == DispatchRule::kGpuFaster);
  CHECK(r.gpu_chunks == 4);
  s = h.executor->Snapshot();
  CHECK(s.breaker.state == BreakerState::kClosed);
}

TEST_CASE(
    "Executor breaker: when the half-open probe is taken between another request's decision "
    "and its permission, that request runs on the CPU under circuit_open (or fails "
    "PLACEMENT_GPU with UNAVAILABLE)",
    "[executor]") {
  const Placement placement = GENERATE(Placement::kAuto, Placement::kGpu);
  ExecutorHarness h;  // One half-open probe.
  std::mt19937_64 rng(303);
  const Problem p = RandomProblem(rng, 2, 100, 16);
  const Reference ref(p);

  // Trip the breaker, wait out the cool-down: the next permission goes half-open.
  h.gpu.SetFailAlways(true);
  for (int i = 0; i < 3; ++i) RunAndCheck(h, p, ref);
  h.gpu.SetFailAlways(false);
  h.clock.Advance(absl::Seconds(1));
  REQUIRE(h.executor->Snapshot().breaker.state == BreakerState::kOpen);

  // A reads the breaker (allows), then blocks in its VRAM query; B takes the only probe and blocks
  // in the GPU; A resumes and is refused the permission.
  Notification a_deciding, b_on_gpu, release_b;
  std::atomic<int> queries{0};
  h.gpu.memory().SetQueryHook([&] {
    if (queries.fetch_add(1) == 0) {
      a_deciding.Notify();
      b_on_gpu.Wait();
    }
  });
  h.gpu.SetCallHook([&](const ChunkArgs&, uint64_t) {
    b_on_gpu.Notify();
    release_b.Wait();
  });

  const CosineTask task_a = p.Task(0, placement);
  Results results_a(task_a);
  absl::StatusOr<ExecutionReport> report_a;
  std::thread a([&] { report_a = h.Run(task_a, &results_a); });
  a_deciding.Wait();
  const CosineTask task_b = p.Task(0);
  Results results_b(task_b);
  absl::StatusOr<ExecutionReport> report_b;
  std::thread b([&] { report_b = h.Run(task_b, &results_b); });
  a.join();  // A finishes while B's probe is still on the GPU.
  release_b.Notify();
  b.join();

  if (placement == Placement::kAuto) {
    REQUIRE(report_a.ok());
    CHECK(report_a->backend == kCpu);
    CHECK(report_a->rule == DispatchRule::kCircuitOpen);
    CHECK(CheckResults(ref, task_a, results_a) == "");
  } else {
    CHECK(report_a.status().code() == absl::StatusCode::kUnavailable);
  }
  REQUIRE(report_b.ok());
  CHECK(report_b->backend == kGpu);
  CHECK(report_b->gpu_chunks == 1);
  CHECK(CheckResults(ref, task_b, results_b) == "");
  CHECK(h.gpu.calls() == 4);
  CHECK(h.executor->Snapshot().breaker.state == BreakerState::kClosed);
}

}  // namespace
}  // namespace simile
