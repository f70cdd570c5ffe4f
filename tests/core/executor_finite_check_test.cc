// The executor's finiteness check of the targets when it rides on the CPU kernel's pass (see
// MayCheckTargetsInKernel in core/executor.cc): an invalid request gets exactly the error the scan
// before the run gives (CheckFinite: the field, row and column of the FIRST bad value), whatever
// else happens to the run; it reports no result and counts no decision; a GPU never receives
// unchecked data; valid requests give the float64 reference's results.
#include <catch2/catch.hpp>
#include <limits>
#include <random>
#include <string>

#include "core/executor.h"
#include "core/task_validation.h"
#include "tests/core/executor_test_util.h"

namespace simile {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

ExecutorHarness::Options NoGpu(ThreadPool* pool = nullptr) {
  ExecutorHarness::Options o;
  o.with_gpu = false;
  o.cpu_pool = pool;
  return o;
}

// The error the scan before the run gives for `p`'s targets.
std::string ScanError(const Problem& p) {
  const absl::Status s = CheckFinite(p.Task().targets, "targets");
  REQUIRE(s.code() == absl::StatusCode::kInvalidArgument);
  return std::string(s.message());
}

TEST_CASE("Executor: a non-finite target found by the CPU kernel gives the scan's exact error",
          "[executor][finite]") {
  const uint32_t q = GENERATE(1u, 3u);
  const uint32_t top_k = GENERATE(0u, 5u);
  const uint32_t row =
      GENERATE(0u, 1500u, 2999u);  // The first row, one in a later block, the last row.
  ThreadPool pool(2);
  ExecutorHarness h(TestConfig(), NoGpu(&pool));
  std::mt19937_64 rng(21);
  Problem p = RandomProblem(rng, q, 3000, 64);
  p.targets[size_t{row} * 64 + 17] = row == 1500 ? kInf : kNaN;
  const CosineTask task = p.Task(top_k);
  Results results(task);
  const absl::StatusOr<ExecutionReport> r = h.Run(task, &results);
  REQUIRE(r.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(r.status().message()) == ScanError(p));
  CHECK(h.cpu.calls() == 1);  // The check rode on the kernel's pass: no run before it.
  const ExecutorSnapshot s = h.executor->Snapshot();
  CHECK(TotalDecisions(s) == 0);                            // An invalid request is not a decision,
  CHECK(s.counters.chunks[Index(BackendKind::kCpu)] == 0);  // and runs no chunk to completion.
}

TEST_CASE("Executor: with several bad targets the first one is named", "[executor][finite]") {
  ExecutorHarness h(TestConfig(), NoGpu());
  std::mt19937_64 rng(22);
  Problem p = RandomProblem(rng, 1, 1000, 32);
  p.targets[900 * 32 + 1] = kNaN;
  p.targets[400 * 32 + 31] = -kInf;
  p.targets[400 * 32 + 30] = kNaN;
  const CosineTask task = p.Task();
  Results results(task);
  const absl::StatusOr<ExecutionReport> r = h.Run(task, &results);
  REQUIRE(r.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(r.status().message() == "targets row 400 has a non-finite value (NaN) at column 30");
}

TEST_CASE("Executor: a bad query is reported before any target is looked at",
          "[executor][finite]") {
  ExecutorHarness h(TestConfig(), NoGpu());
  std::mt19937_64 rng(23);
  Problem p = RandomProblem(rng, 2, 100, 8);
  p.queries[1 * 8 + 3] = kInf;
  p.targets[5] = kNaN;
  const CosineTask task = p.Task();
  Results results(task);
  const absl::StatusOr<ExecutionReport> r = h.Run(task, &results);
  REQUIRE(r.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(r.status().message() == "queries row 1 has a non-finite value (Inf) at column 3");
  CHECK(h.cpu.calls() == 0);
}

TEST_CASE("Executor: a bad target outranks a passed deadline, a cancellation and a CPU failure",
          "[executor][finite]") {
  ExecutorHarness h(TestConfig(), NoGpu());
  std::mt19937_64 rng(24);
  Problem p = RandomProblem(rng, 1, 200, 16);
  p.targets[150 * 16 + 2] = kNaN;
  const CosineTask task = p.Task();
  RequestContext context;
  SECTION("deadline passed") { context.deadline = h.clock.Now() - absl::Seconds(1); }
  SECTION("cancelled") {
    context.is_cancelled = [] { return true; };
  }
  SECTION("the CPU backend fails") { h.cpu.SetFailAlways(true); }
  Results results(task);
  const absl::StatusOr<ExecutionReport> r = h.Run(task, &results, context);
  REQUIRE(r.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(r.status().message()) == ScanError(p));
  CHECK(TotalDecisions(h.executor->Snapshot()) == 0);
}

TEST_CASE("Executor: a GPU never receives unchecked targets", "[executor][finite]") {
  const Placement placement = GENERATE(Placement::kAuto, Placement::kGpu);
  ExecutorHarness h;  // TestConfig: the GPU is chosen for auto requests.
  h.SetGpuChunkRows(16, 16);
  std::mt19937_64 rng(25);
  Problem p = RandomProblem(rng, 2, 100, 16);
  p.targets[70 * 16 + 9] = -kInf;
  const CosineTask task = p.Task(0, placement);
  Results results(task);
  const absl::StatusOr<ExecutionReport> r = h.Run(task, &results);
  REQUIRE(r.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(r.status().message() == "targets row 70 has a non-finite value (Inf) at column 9");
  CHECK(h.gpu.calls() == 0);
  CHECK(h.cpu.calls() == 0);
  CHECK(TotalDecisions(h.executor->Snapshot()) == 0);
}

TEST_CASE("Executor: a request of several CPU chunks is scanned before the run",
          "[executor][finite]") {
  ServingConfig config = TestConfig();
  config.chunking.cpu_chunk_macs = 2 * 16 * 20;  // 20-row CPU chunks.
  ExecutorHarness h(config, NoGpu());
  std::mt19937_64 rng(26);
  Problem p = RandomProblem(rng, 2, 100, 16);
  p.targets[90 * 16] = kNaN;
  const CosineTask task = p.Task();
  Results results(task);
  const absl::StatusOr<ExecutionReport> r = h.Run(task, &results);
  REQUIRE(r.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(r.status().message() == "targets row 90 has a non-finite value (NaN) at column 0");
  CHECK(h.cpu.calls() == 0);  // No chunk of an invalid request ran.
}

TEST_CASE("Executor: valid targets checked in the kernel give the float64 reference's results",
          "[executor][finite]") {
  const uint32_t q = GENERATE(1u, 4u);
  const uint32_t top_k = GENERATE(0u, 7u);
  ThreadPool pool(2);
  ExecutorHarness h(TestConfig(), NoGpu(&pool));
  std::mt19937_64 rng(27);
  Problem p = RandomProblem(rng, q, 2000, 48, /*zero_row_every=*/97);
  // Finite rows whose squared norms leave the safe range like a bad row's would.
  for (uint32_t c = 0; c < 48; ++c) {
    p.targets[10 * 48 + c] *= 1e30f;
    p.targets[1234 * 48 + c] *= 1e-30f;
  }
  const ExecutionReport r = RunAndCheck(h, p, Reference(p), top_k);
  CHECK(r.backend == BackendKind::kCpu);
  CHECK(h.cpu.calls() == 1);
  CHECK(TotalDecisions(h.executor->Snapshot()) == 1);
}

}  // namespace
}  // namespace simile
