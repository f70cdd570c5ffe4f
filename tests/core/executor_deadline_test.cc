// Deadlines and cancellation through the executor, checked before every chunk: the fake GPU moves
// the fake clock, and hooks flip cancellation after an exact chunk, so no test sleeps.
#include <atomic>
#include <catch2/catch.hpp>
#include <random>

#include "core/executor.h"
#include "tests/core/executor_test_util.h"

namespace simile {
namespace {

constexpr uint32_t kDim = 16;

Problem FiveChunkProblem() {
  std::mt19937_64 rng(400);
  return RandomProblem(rng, 2, 160, kDim);  // 5 GPU chunks of 32 rows.
}

TEST_CASE(
    "Executor deadline: a deadline passing between GPU chunks ends the request with "
    "DEADLINE_EXCEEDED and no further chunk",
    "[executor]") {
  const uint32_t top_k = GENERATE(0u, 5u);
  ExecutorHarness h;
  const Problem p = FiveChunkProblem();
  h.SetGpuChunkRows(32, kDim);
  h.gpu.SetLatency(absl::Milliseconds(10));
  RequestContext context;
  context.deadline = h.clock.Now() + absl::Milliseconds(25);  // Passes during the third chunk.
  const CosineTask task = p.Task(top_k);
  Results results(task);
  const absl::StatusOr<ExecutionReport> r = h.Run(task, &results, context);
  CHECK(r.status().code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(h.gpu.calls() == 3);
  CHECK(h.cpu.calls() == 0);
  // An interrupted request is neither a GPU failure nor a GPU measurement.
  const ExecutorSnapshot s = h.executor->Snapshot();
  CHECK(s.breaker.failures == 0);
  CHECK(s.breaker.successes == 0);
  CHECK(s.performance.records == 0);
}

TEST_CASE("Executor deadline: a deadline already past runs nothing", "[executor]") {
  const Placement placement = GENERATE(Placement::kAuto, Placement::kCpu, Placement::kGpu);
  ExecutorHarness h;
  const Problem p = FiveChunkProblem();
  RequestContext context;
  context.deadline = h.clock.Now();
  const CosineTask task = p.Task(0, placement);
  Results results(task);
  CHECK(h.Run(task, &results, context).status().code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(h.gpu.calls() == 0);
  CHECK(h.cpu.calls() == 0);
}

TEST_CASE("Executor deadline: the deadline is checked before an out-of-memory retry",
          "[executor]") {
  ExecutorHarness h;
  const Problem p = FiveChunkProblem();
  h.SetGpuChunkRows(32, kDim);
  h.gpu.SetLatency(absl::Milliseconds(10));
  h.gpu.OomOnCall(2);
  RequestContext context;
  context.deadline = h.clock.Now() + absl::Milliseconds(15);
  const CosineTask task = p.Task(0);
  Results results(task);
  CHECK(h.Run(task, &results, context).status().code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(h.gpu.calls() == 2);  // The first chunk, then the failed one; no retry.
}

TEST_CASE(
    "Executor cancellation: cancelling after GPU chunk k ends the request with CANCELLED "
    "and the GPU gets no further chunk",
    "[executor]") {
  const uint64_t k = GENERATE(1u, 2u, 4u);
  const uint32_t top_k = GENERATE(0u, 5u);
  ExecutorHarness h;
  const Problem p = FiveChunkProblem();
  h.SetGpuChunkRows(32, kDim);
  std::atomic<bool> cancelled{false};
  h.gpu.SetCallHook([&](const ChunkArgs&, uint64_t call) {
    if (call == k) cancelled.store(true);
  });
  RequestContext context;
  context.is_cancelled = [&] { return cancelled.load(); };
  const CosineTask task = p.Task(top_k);
  Results results(task);
  CHECK(h.Run(task, &results, context).status().code() == absl::StatusCode::kCancelled);
  CHECK(h.gpu.calls() == k);
  CHECK(h.cpu.calls() == 0);
  CHECK(h.executor->Snapshot().breaker.failures == 0);
}

TEST_CASE("Executor cancellation: cancelling after CPU chunk k stops the CPU work", "[executor]") {
  ServingConfig config = TestConfig();
  config.chunking.cpu_chunk_macs = 2 * kDim * 20;  // 20-row CPU chunks: 8 of them.
  ExecutorHarness h(config);
  const Problem p = FiveChunkProblem();
  std::atomic<bool> cancelled{false};
  h.cpu.SetCallHook([&](const ChunkArgs&, uint64_t call) {
    if (call == 3) cancelled.store(true);
  });
  RequestContext context;
  context.is_cancelled = [&] { return cancelled.load(); };
  const CosineTask task = p.Task(0, Placement::kCpu);
  Results results(task);
  CHECK(h.Run(task, &results, context).status().code() == absl::StatusCode::kCancelled);
  CHECK(h.cpu.calls() == 3);
}

TEST_CASE("Executor cancellation: a request cancelled after its fallback to the CPU stops there",
          "[executor]") {
  ServingConfig config = TestConfig();
  config.chunking.cpu_chunk_macs = 2 * kDim * 20;
  ExecutorHarness h(config);
  const Problem p = FiveChunkProblem();
  h.SetGpuChunkRows(32, kDim);
  h.gpu.FailOnCall(2);
  std::atomic<bool> cancelled{false};
  h.cpu.SetCallHook([&](const ChunkArgs&, uint64_t call) {
    if (call == 1) cancelled.store(true);
  });
  RequestContext context;
  context.is_cancelled = [&] { return cancelled.load(); };
  const CosineTask task = p.Task(0);
  Results results(task);
  CHECK(h.Run(task, &results, context).status().code() == absl::StatusCode::kCancelled);
  CHECK(h.gpu.calls() == 2);
  CHECK(h.cpu.calls() == 1);
  CHECK(h.executor->Snapshot().breaker.failures == 1);  // The GPU error still counts.
}

}  // namespace
}  // namespace simile
