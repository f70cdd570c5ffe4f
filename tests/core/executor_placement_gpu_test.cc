// PLACEMENT_GPU through the executor: the GPU or an explicit error, never a silent CPU fallback.
#include <catch2/catch.hpp>
#include <random>
#include <string>

#include "core/executor.h"
#include "tests/core/executor_test_util.h"

namespace simile {
namespace {

constexpr uint32_t kDim = 16;

Problem FourChunkProblem() {
  std::mt19937_64 rng(200);
  return RandomProblem(rng, 2, 128, kDim);
}

absl::Status RunForcedGpu(const ExecutorHarness& h, const Problem& p, uint32_t top_k) {
  const CosineTask task = p.Task(top_k, Placement::kGpu);
  Results results(task);
  return h.Run(task, &results).status();
}

TEST_CASE(
    "Executor PLACEMENT_GPU: a GPU error fails the request with UNAVAILABLE and nothing "
    "runs on the CPU",
    "[executor]") {
  const uint32_t top_k = GENERATE(0u, 5u);
  ExecutorHarness h;
  const Problem p = FourChunkProblem();
  h.SetGpuChunkRows(32, kDim);
  h.gpu.FailOnCall(3);
  const absl::Status s = RunForcedGpu(h, p, top_k);
  CHECK(s.code() == absl::StatusCode::kUnavailable);
  CHECK_THAT(std::string(s.message()), Catch::Contains("fake cudaErrorLaunchFailure"));
  CHECK(h.gpu.calls() == 3);
  CHECK(h.cpu.calls() == 0);
  const ExecutorSnapshot snap = h.executor->Snapshot();
  CHECK(snap.breaker.failures == 1);
  CHECK(snap.counters.gpu_errors == 1);
  CHECK(snap.counters.fallbacks[Index(FallbackReason::kGpuError)] == 0);
}

TEST_CASE("Executor PLACEMENT_GPU: a short GPU result fails the request with UNAVAILABLE",
          "[executor]") {
  const uint32_t top_k = GENERATE(0u, 5u);
  ExecutorHarness h;
  const Problem p = FourChunkProblem();
  h.SetGpuChunkRows(32, kDim);
  h.gpu.ShortResultOnCall(2);
  const absl::Status s = RunForcedGpu(h, p, top_k);
  CHECK(s.code() == absl::StatusCode::kUnavailable);
  CHECK_THAT(std::string(s.message()), Catch::Contains("instead of"));
  CHECK(h.cpu.calls() == 0);
}

TEST_CASE(
    "Executor PLACEMENT_GPU: out of memory at the floor fails with RESOURCE_EXHAUSTED, while above "
    "the floor it splits and stays on the GPU",
    "[executor]") {
  const uint32_t top_k = GENERATE(0u, 5u);
  ExecutorHarness h;  // Floor: 8 rows.
  const Problem p = FourChunkProblem();
  const Reference ref(p);
  h.SetGpuChunkRows(32, kDim);

  SECTION("at the floor") {
    h.gpu.OomAtOffset(64);
    const absl::Status s = RunForcedGpu(h, p, top_k);
    CHECK(s.code() == absl::StatusCode::kResourceExhausted);
    CHECK_THAT(std::string(s.message()), Catch::Contains("8 target rows"));
    CHECK(h.cpu.calls() == 0);
    CHECK(h.executor->Snapshot().breaker.failures == 0);
  }
  SECTION("above the floor") {
    h.gpu.SetOomAboveRows(10);  // 32 -> 16 -> 8.
    const ExecutionReport r = RunAndCheck(h, p, ref, top_k, Placement::kGpu);
    CHECK(r.rule == DispatchRule::kPlacementGpu);
    CHECK(r.chunk_retries == 2);
    CHECK(r.gpu_chunks == 16);
    CHECK(r.cpu_chunks == 0);
    CHECK(h.cpu.calls() == 0);
  }
}

TEST_CASE(
    "Executor PLACEMENT_GPU: a breaker opened by GPU failures fails the request with "
    "UNAVAILABLE without touching the GPU",
    "[executor]") {
  ExecutorHarness h;  // Trips after 3 consecutive failures.
  const Problem p = FourChunkProblem();
  h.gpu.SetFailAlways(true);
  for (int i = 0; i < 3; ++i) CHECK(RunForcedGpu(h, p, 0).code() == absl::StatusCode::kUnavailable);
  REQUIRE(h.executor->Snapshot().breaker.state == BreakerState::kOpen);
  const uint64_t gpu_calls = h.gpu.calls();
  const absl::Status s = RunForcedGpu(h, p, 0);
  CHECK(s.code() == absl::StatusCode::kUnavailable);
  CHECK_THAT(std::string(s.message()), Catch::Contains("circuit breaker is open"));
  CHECK_THAT(std::string(s.message()), Catch::Contains("fake cudaErrorLaunchFailure"));
  CHECK(h.gpu.calls() == gpu_calls);
  CHECK(h.cpu.calls() == 0);
}

TEST_CASE(
    "Executor PLACEMENT_GPU: a device lost mid-request fails it with UNAVAILABLE, and later "
    "ones with FAILED_PRECONDITION",
    "[executor]") {
  ExecutorHarness h;
  const Problem p = FourChunkProblem();
  h.SetGpuChunkRows(32, kDim);
  h.gpu.LoseDeviceOnCall(2);
  CHECK(RunForcedGpu(h, p, 3).code() == absl::StatusCode::kUnavailable);
  const absl::Status later = RunForcedGpu(h, p, 3);
  CHECK(later.code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(later.message()), Catch::Contains("marked unusable"));
  CHECK(h.gpu.calls() == 2);
  CHECK(h.cpu.calls() == 0);
}

}  // namespace
}  // namespace simile
