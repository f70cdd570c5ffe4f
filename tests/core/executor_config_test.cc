// Configuration reloads through the executor: new requests see the new thresholds, a rejected
// configuration changes nothing, and a request in flight finishes on the configuration it started
// with.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <random>
#include <vector>

#include "core/executor.h"
#include "tests/core/executor_test_util.h"

namespace simile {
namespace {

constexpr auto kCpu = BackendKind::kCpu;
constexpr auto kGpu = BackendKind::kGpu;

TEST_CASE("Executor config: a reload changes the thresholds for new requests", "[executor]") {
  ServingConfig config = TestConfig();
  config.policy.min_gpu_batch_many_queries = 256;
  ExecutorHarness h(config);
  std::mt19937_64 rng(500);
  const Problem p = RandomProblem(rng, 2, 100, 16);
  const Reference ref(p);
  CHECK(RunAndCheck(h, p, ref).rule == DispatchRule::kBatchTooSmall);
  CHECK(h.executor->Snapshot().config->version == 1);

  config.policy.min_gpu_batch_many_queries = 64;
  h.Reload(config);
  const ExecutionReport r = RunAndCheck(h, p, ref);
  CHECK(r.backend == kGpu);
  CHECK(r.rule == DispatchRule::kGpuFaster);
  const ExecutorSnapshot s = h.executor->Snapshot();
  CHECK(s.config->version == 2);
  CHECK(s.config->policy.min_gpu_batch_many_queries == 64);
}

TEST_CASE("Executor config: a rejected reload keeps the old thresholds", "[executor]") {
  ServingConfig config = TestConfig();
  config.policy.min_gpu_batch_many_queries = 256;
  ExecutorHarness h(config);
  std::mt19937_64 rng(501);
  const Problem p = RandomProblem(rng, 2, 100, 16);
  const Reference ref(p);
  ServingConfig bad = config;
  bad.policy.min_gpu_batch_many_queries = 1;
  bad.policy.required_speedup = -1.0;
  CHECK(h.store.Replace(bad).code() == absl::StatusCode::kInvalidArgument);
  CHECK(RunAndCheck(h, p, ref).rule == DispatchRule::kBatchTooSmall);
  CHECK(h.executor->Snapshot().config->version == 1);
}

TEST_CASE(
    "Executor config: reloading the breaker mode forces it open, and back to auto probes "
    "first",
    "[executor]") {
  ServingConfig config = TestConfig();
  ExecutorHarness h(config);
  std::mt19937_64 rng(502);
  const Problem p = RandomProblem(rng, 2, 100, 16);
  const Reference ref(p);
  config.breaker.mode = BreakerMode::kForceOpen;
  h.Reload(config);
  CHECK(RunAndCheck(h, p, ref).rule == DispatchRule::kCircuitOpen);
  CHECK(h.gpu.calls() == 0);

  config.breaker.mode = BreakerMode::kAuto;
  h.Reload(config);
  const ExecutionReport r = RunAndCheck(h, p, ref);  // The half-open probe.
  CHECK(r.backend == kGpu);
  const ExecutorSnapshot s = h.executor->Snapshot();
  CHECK(s.breaker.state == BreakerState::kClosed);
  CHECK(s.breaker.transitions[Index(BreakerState::kOpen)][Index(BreakerState::kHalfOpen)] == 1);
}

TEST_CASE(
    "Executor config: a request in flight keeps the configuration it started with, and the next "
    "request uses the new one",
    "[executor]") {
  ServingConfig config = TestConfig();
  config.chunking.min_gpu_chunk_rows = 16;
  ExecutorHarness h(config);
  std::mt19937_64 rng(503);
  const Problem p = RandomProblem(rng, 2, 64, 16);
  const Reference ref(p);
  h.SetGpuChunkRows(64, 16);
  h.gpu.OomAtOffset(0);  // Whatever the size: splits to the floor, then the CPU.

  // During the first request's first GPU call, an operator lowers the floor and turns on
  // exploration.
  ServingConfig next = config;
  next.chunking.min_gpu_chunk_rows = 4;
  next.policy.explore_fraction = 1.0;
  bool reloaded = false;
  h.gpu.SetCallHook([&](const ChunkArgs&, uint64_t) {
    if (!reloaded) {
      reloaded = true;
      REQUIRE(h.store.Replace(next).ok());
    }
  });
  ExecutionReport r = RunAndCheck(h, p, ref);
  CHECK(reloaded);
  CHECK(r.rule == DispatchRule::kGpuFaster);
  CHECK(r.chunk_retries == 2);  // 64 -> 32 -> 16: the old floor.
  CHECK(r.fallback == FallbackReason::kGpuOutOfMemory);
  uint32_t smallest = UINT32_MAX;
  for (const FakeGpuCall& c : h.gpu.CallLog()) smallest = std::min(smallest, c.rows);
  CHECK(smallest == 16);

  // The next request explores (the CPU, as nothing counts against the GPU) under the new
  // configuration...
  r = RunAndCheck(h, p, ref);
  CHECK(r.rule == DispatchRule::kExplore);
  CHECK(r.backend == kCpu);
  // ...and a forced GPU request splits down to the new floor.
  const size_t calls_before = h.gpu.CallLog().size();
  const CosineTask task = p.Task(0, Placement::kGpu);
  Results results(task);
  CHECK(h.Run(task, &results).status().code() == absl::StatusCode::kResourceExhausted);
  const std::vector<FakeGpuCall> calls = h.gpu.CallLog();
  REQUIRE(calls.size() > calls_before);
  CHECK(calls.back().rows == 4);
  CHECK(h.executor->Snapshot().config->version == 2);
}

}  // namespace
}  // namespace simile
