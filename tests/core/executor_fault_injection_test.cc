// The executor over the server's own fault-injection stack (SimulatedGpuBackend behind a
// FaultInjectingBackend, the CPU backend as fallback) on a fake clock: at 10%, 50% and 100%
// injected GPU errors and out-of-memory every automatic request still ends with a full, correct
// result; the breaker opens under 100% and closes once faults are off and its cool-down has passed;
// VRAM query failures send work to the CPU rather than planning blind. tests/e2e/chaos_test.py does
// the same through the real server process.
#include <catch2/catch.hpp>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/cpu_backend.h"
#include "core/executor.h"
#include "core/fault_injecting_backend.h"
#include "core/fault_injector.h"
#include "core/simulated_gpu_backend.h"
#include "tests/core/executor_test_util.h"

namespace simile {
namespace {

constexpr uint32_t kDim = 16;

// An executor wired like the server with fault_injection.simulate_gpu.
struct FaultStack {
  explicit FaultStack(const ServingConfig& config = TestConfig())
      : store(config),
        cpu(nullptr),
        device(&cpu, 4096),  // ~50 target rows of 16 floats per chunk for Q = 2.
        injector([this](absl::Duration d) { clock.Advance(d); }),
        gpu(&device, &injector) {
    Executor::Components c;
    c.cpu = &cpu;
    c.gpu = &gpu;
    c.clock = &clock;
    c.config = &store;
    absl::StatusOr<std::unique_ptr<Executor>> e = Executor::Create(std::move(c));
    REQUIRE(e.ok());
    executor = *std::move(e);
  }

  // Runs `p` and checks the result; returns the report, or the error.
  absl::StatusOr<ExecutionReport> RunChecked(const Problem& p, uint32_t top_k, Placement placement,
                                             std::string* problem) const {
    const CosineTask task = p.Task(top_k, placement);
    Results results(task);
    absl::StatusOr<ExecutionReport> r = executor->Run(task, results.Buffers(), RequestContext{});
    if (r.ok()) {
      *problem = CheckResults(Reference(p), task, results);
      if (problem->empty()) *problem = CheckReport(*r);
    }
    return r;
  }

  FakeClock clock;
  ConfigStore store;
  CpuBackend cpu;
  SimulatedGpuBackend device;
  FaultInjector injector;
  FaultInjectingBackend gpu;
  std::unique_ptr<Executor> executor;
};

FaultInjectionOptions Faults(double error, double oom, uint64_t seed = 5) {
  FaultInjectionOptions o;
  o.gpu_error_rate = error;
  o.gpu_oom_rate = oom;
  o.seed = seed;
  return o;
}

TEST_CASE(
    "Executor under injected faults: automatic requests always end with a full correct result",
    "[executor][fault_injection]") {
  const double rate = GENERATE(0.1, 0.5, 1.0);
  FaultStack s;
  REQUIRE(s.injector.Configure(Faults(rate, rate)));
  std::mt19937_64 rng(77);
  uint64_t fallbacks = 0;
  for (int i = 0; i < 40; ++i) {
    const Problem p = RandomProblem(rng, 1 + i % 3, 100 + 37 * i, kDim, 9);
    const uint32_t top_k = i % 2 == 0 ? 0 : 1 + i % 5;
    std::string problem;
    const absl::StatusOr<ExecutionReport> r = s.RunChecked(p, top_k, Placement::kAuto, &problem);
    REQUIRE(r.ok());
    INFO("request " << i << " at rate " << rate);
    CHECK(problem.empty());
    fallbacks += r->fallback != FallbackReason::kNone;
  }
  CHECK(fallbacks > 0);
  const FaultInjectionSnapshot f = s.injector.Snapshot();
  CHECK(f.injected[static_cast<size_t>(FaultKind::kGpuError)] > 0);
  if (rate == 1.0) {
    const ExecutorSnapshot snap = s.executor->Snapshot();
    CHECK(snap.breaker.state == BreakerState::kOpen);  // The fake clock never moved.
    CHECK(Decisions(snap, BackendKind::kCpu, DispatchRule::kCircuitOpen) > 0);
  }
}

TEST_CASE(
    "Executor under injected faults: PLACEMENT_GPU fails only with UNAVAILABLE or "
    "RESOURCE_EXHAUSTED",
    "[executor][fault_injection]") {
  FaultStack s;
  REQUIRE(s.injector.Configure(Faults(0.3, 0.5)));
  std::mt19937_64 rng(78);
  int failed = 0;
  for (int i = 0; i < 40; ++i) {
    const Problem p = RandomProblem(rng, 2, 300, kDim);
    std::string problem;
    const absl::StatusOr<ExecutionReport> r = s.RunChecked(p, i % 3, Placement::kGpu, &problem);
    if (r.ok()) {
      CHECK(problem.empty());
      CHECK(r->cpu_chunks == 0);  // Never a silent fallback.
      continue;
    }
    ++failed;
    INFO(r.status().ToString());
    CHECK((r.status().code() == absl::StatusCode::kUnavailable ||
           r.status().code() == absl::StatusCode::kResourceExhausted));
    CHECK_FALSE(r.status().message().empty());
  }
  CHECK(failed > 0);
}

TEST_CASE(
    "Executor under injected faults: the breaker opens under 100% errors and closes once they "
    "stop",
    "[executor][fault_injection]") {
  FaultStack s;
  REQUIRE(s.injector.Configure(Faults(1.0, 0.0)));
  std::mt19937_64 rng(79);
  const Problem p = RandomProblem(rng, 2, 300, kDim);
  std::string problem;
  for (int i = 0; i < 5; ++i) {
    REQUIRE(s.RunChecked(p, 0, Placement::kAuto, &problem).ok());
    CHECK(problem.empty());
  }
  ExecutorSnapshot snap = s.executor->Snapshot();
  REQUIRE(snap.breaker.state == BreakerState::kOpen);
  const absl::Duration cool_down = snap.breaker.current_cool_down;

  REQUIRE(s.injector.Configure(FaultInjectionOptions()));
  s.clock.Advance(cool_down);
  for (int i = 0; i < 3; ++i) {
    const absl::StatusOr<ExecutionReport> r = s.RunChecked(p, 0, Placement::kAuto, &problem);
    REQUIRE(r.ok());
    CHECK(problem.empty());
  }
  snap = s.executor->Snapshot();
  CHECK(snap.breaker.state == BreakerState::kClosed);
  const absl::StatusOr<ExecutionReport> r = s.RunChecked(p, 3, Placement::kAuto, &problem);
  REQUIRE(r.ok());
  CHECK(problem.empty());
  CHECK(r->backend == BackendKind::kGpu);
  CHECK(r->gpu_chunks == r->chunks);
}

TEST_CASE("Executor under injected faults: failing VRAM queries keep work off a GPU it cannot plan",
          "[executor][fault_injection]") {
  FaultStack s;
  FaultInjectionOptions o;
  o.vram_query_failure_rate = 1.0;
  REQUIRE(s.injector.Configure(o));
  std::mt19937_64 rng(80);
  const Problem p = RandomProblem(rng, 2, 300, kDim);
  std::string problem;
  const absl::StatusOr<ExecutionReport> r = s.RunChecked(p, 0, Placement::kAuto, &problem);
  REQUIRE(r.ok());
  CHECK(problem.empty());
  // No answer ever: the pessimistic budget is 0, so the request runs on the CPU.
  CHECK(r->backend == BackendKind::kCpu);
  CHECK(r->rule == DispatchRule::kInsufficientVram);
  CHECK(s.executor->Snapshot().vram_query_failures > 0);
}

TEST_CASE("Executor under injected faults: concurrent requests while faults are reconfigured",
          "[executor][fault_injection][concurrency]") {
  FaultStack s;
  std::vector<std::string> problems(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(100 + t);
      for (int i = 0; i < 15; ++i) {
        const Problem p = RandomProblem(rng, 1 + (i % 2), 200, kDim);
        std::string problem;
        const absl::StatusOr<ExecutionReport> r =
            s.RunChecked(p, i % 3 == 0 ? 4 : 0, Placement::kAuto, &problem);
        if (!r.ok()) problem = r.status().ToString();
        if (!problem.empty() && problems[t].empty()) problems[t] = problem;
      }
    });
  }
  for (int i = 0; i < 30; ++i) (void)s.injector.Configure(Faults(i % 3 * 0.5, 0.3, i));
  for (std::thread& t : threads) t.join();
  for (const std::string& p : problems) CHECK(p.empty());
}

}  // namespace
}  // namespace simile
