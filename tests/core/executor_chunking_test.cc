// Executor chunking and GPU failure recovery: chunk planning against the fake device's free memory,
// out-of-memory splits down to the floor and then the CPU, other GPU errors and short results (rest
// on the CPU), a lost device. Whatever ran where, the results must equal the float64 reference, for
// the full score matrix and for top-k (including k larger than a chunk), and the report must
// account for every chunk.
#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/executor.h"
#include "tests/core/executor_test_util.h"

namespace simile {
namespace {

constexpr auto kCpu = BackendKind::kCpu;
constexpr auto kGpu = BackendKind::kGpu;

// 10 GPU chunks of 32 rows (floor 8), dimension 16, 3 queries.
constexpr uint32_t kRowsPerChunk = 32;
constexpr uint32_t kChunks = 10;
constexpr uint32_t kDim = 16;
constexpr uint32_t kQueries = 3;

Problem TenChunkProblem(uint64_t seed) {
  std::mt19937_64 rng(seed);
  return RandomProblem(rng, kQueries, kRowsPerChunk * kChunks, kDim, /*zero_row_every=*/37);
}

// Offsets and sizes of the GPU calls, for messages.
std::string Calls(const FakeGpuBackend& gpu) {
  std::string s;
  for (const FakeGpuCall& c : gpu.CallLog()) {
    // StrAppend, not a chain of std::string operator+: GCC 12 at -O3 reports a false -Wrestrict in
    // the latter (GCC bug 105329), which -Werror turns into a failed Release build.
    absl::StrAppend(&s, "[", c.target_offset, "+", c.rows, " ", absl::StatusCodeToString(c.outcome),
                    c.short_result ? " short" : "", "] ");
  }
  return s;
}

TEST_CASE("Executor chunking: a batch that exactly fits runs as one GPU chunk", "[executor]") {
  const uint32_t top_k = GENERATE(0u, 7u, 64u);
  ExecutorHarness h;
  h.gpu.SetMemoryModel({1000, 12});
  std::mt19937_64 rng(20);
  const Problem p = RandomProblem(rng, kQueries, 64, kDim);
  h.SetGpuChunkRows(64, kDim);
  const ExecutionReport r = RunAndCheck(h, p, Reference(p), top_k);
  CHECK(r.gpu_chunks == 1);
  const std::vector<FakeGpuCall> calls = h.gpu.CallLog();
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].rows == 64);
}

TEST_CASE("Executor chunking: one byte short of fitting splits into N-1 rows and 1 row",
          "[executor]") {
  const uint32_t top_k = GENERATE(0u, 7u, 64u);
  ExecutorHarness h;
  h.gpu.SetMemoryModel({1000, 12});
  std::mt19937_64 rng(21);
  const Problem p = RandomProblem(rng, kQueries, 64, kDim);
  const uint64_t fits = 1000 + 64 * (kDim * 4 + 12);
  h.gpu.memory().SetInfo(fits - 1, 2 * fits);
  const ExecutionReport r = RunAndCheck(h, p, Reference(p), top_k);
  CHECK(r.gpu_chunks == 2);
  const std::vector<FakeGpuCall> calls = h.gpu.CallLog();
  REQUIRE(calls.size() == 2);
  CHECK(calls[0].target_offset == 0);
  CHECK(calls[0].rows == 63);
  CHECK(calls[1].target_offset == 63);
  CHECK(calls[1].rows == 1);
}

TEST_CASE(
    "Executor chunking: a huge batch under a tiny VRAM budget runs as many contiguous GPU "
    "chunks",
    "[executor]") {
  const uint32_t top_k = GENERATE(0u, 10u);
  ExecutorHarness h;
  std::mt19937_64 rng(22);
  const Problem p = RandomProblem(rng, 2, 100'000, 4, /*zero_row_every=*/1001);
  h.SetGpuChunkRows(97, 4);
  const ExecutionReport r = RunAndCheck(h, p, Reference(p), top_k);
  CHECK(r.gpu_chunks == 1031);  // ceil(100000 / 97)
  CHECK(r.cpu_chunks == 0);
  uint32_t next = 0;
  for (const FakeGpuCall& c : h.gpu.CallLog()) {
    REQUIRE(c.target_offset == next);
    REQUIRE(c.rows <= 97);
    next += c.rows;
  }
  CHECK(next == 100'000);
  CHECK(h.executor->Snapshot().counters.chunks[Index(kGpu)] == 1031);
}

TEST_CASE(
    "Executor chunking: chunks are planned against free memory less the safety margin and "
    "the headroom",
    "[executor]") {
  ServingConfig config = TestConfig();
  config.vram.safety_margin_fraction = 0.25;
  config.chunking.gpu_headroom_bytes = 1024;
  ExecutorHarness h(config);
  h.gpu.SetMemoryModel({512, 0});
  // 16384 free -> 12288 after the margin -> 11264 after the headroom -> 10752 after the fixed
  // part: 168 rows of 64 bytes.
  h.gpu.memory().SetInfo(16384, 1 << 20);
  std::mt19937_64 rng(23);
  const Problem p = RandomProblem(rng, 2, 400, kDim);
  const ExecutionReport r = RunAndCheck(h, p, Reference(p));
  CHECK(r.gpu_chunks == 3);
  const std::vector<FakeGpuCall> calls = h.gpu.CallLog();
  REQUIRE(calls.size() == 3);
  CHECK(calls[0].rows == 168);
  CHECK(calls[2].rows == 400 - 2 * 168);
  const ExecutorSnapshot s = h.executor->Snapshot();
  CHECK(s.vram.usable_bytes == 12288);
  CHECK(s.vram.source == BudgetSource::kFresh);
}

TEST_CASE(
    "Executor chunking: an out-of-memory error at any chunk position halves that chunk and "
    "succeeds on the GPU",
    "[executor]") {
  const uint32_t position = GENERATE(range(0u, kChunks));
  const uint32_t top_k = GENERATE(0u, 7u, 40u);  // 40: more than a 16-row chunk holds.
  ExecutorHarness h;
  const Problem p = TenChunkProblem(30 + position);
  h.SetGpuChunkRows(kRowsPerChunk, kDim);
  h.gpu.OomOnCall(position + 1);
  const ExecutionReport r = RunAndCheck(h, p, Reference(p), top_k);
  INFO("GPU calls: " << Calls(h.gpu));
  CHECK(r.backend == kGpu);
  CHECK(r.fallback == FallbackReason::kNone);
  CHECK(r.chunk_retries == 1);
  // Chunks before the error at full size; from it on, the halved size is kept.
  CHECK(r.gpu_chunks == position + 2 * (kChunks - position));
  CHECK(r.cpu_chunks == 0);
  const std::vector<FakeGpuCall> calls = h.gpu.CallLog();
  REQUIRE(calls.size() == r.gpu_chunks + 1);
  CHECK(calls[position].outcome == absl::StatusCode::kResourceExhausted);
  CHECK(calls[position + 1].target_offset == position * kRowsPerChunk);
  CHECK(calls[position + 1].rows == kRowsPerChunk / 2);

  const ExecutorSnapshot s = h.executor->Snapshot();
  CHECK(s.counters.gpu_oom_events == 1);
  CHECK(s.counters.chunk_retries == 1);
  CHECK(s.breaker.failures == 0);  // Out of memory is not a GPU fault.
  CHECK(s.breaker.successes == 1);
}

TEST_CASE(
    "Executor chunking: a device that runs out of memory above the planned size is split "
    "until chunks fit",
    "[executor]") {
  const uint32_t top_k = GENERATE(0u, 7u);
  ExecutorHarness h;
  const Problem p = TenChunkProblem(40);
  h.SetGpuChunkRows(100, kDim);
  h.gpu.SetOomAboveRows(30);  // 100 -> 50 -> 25.
  const ExecutionReport r = RunAndCheck(h, p, Reference(p), top_k);
  CHECK(r.chunk_retries == 2);
  CHECK(r.gpu_chunks == 13);  // ceil(320 / 25)
  CHECK(r.cpu_chunks == 0);
  CHECK(r.fallback == FallbackReason::kNone);
}

TEST_CASE(
    "Executor chunking: out of memory down to the floor runs that chunk on the CPU, then "
    "the GPU again",
    "[executor]") {
  const uint32_t position = GENERATE(range(0u, kChunks));
  const uint32_t top_k = GENERATE(0u, 7u, 40u);
  ExecutorHarness h;  // Floor: 8 rows.
  const Problem p = TenChunkProblem(50 + position);
  h.SetGpuChunkRows(kRowsPerChunk, kDim);
  h.gpu.OomAtOffset(position * kRowsPerChunk);  // Whatever the size: 32 -> 16 -> 8 -> CPU.
  const ExecutionReport r = RunAndCheck(h, p, Reference(p), top_k);
  INFO("GPU calls: " << Calls(h.gpu));
  CHECK(r.backend == kGpu);
  CHECK(r.fallback == FallbackReason::kGpuOutOfMemory);
  CHECK_THAT(r.fallback_detail, Catch::Contains("out of memory"));
  CHECK(r.chunk_retries == 2);
  CHECK(r.cpu_chunks == 1);
  CHECK(r.gpu_chunks == position + (kChunks - position) * 4 - 1);  // 8-row chunks from then on.
  CHECK(h.cpu.rows_computed() == 8);

  const ExecutorSnapshot s = h.executor->Snapshot();
  CHECK(s.counters.gpu_oom_events == 3);
  CHECK(s.counters.fallbacks[Index(FallbackReason::kGpuOutOfMemory)] == 1);
  CHECK(s.breaker.failures == 0);
  CHECK(s.breaker.state == BreakerState::kClosed);
}

TEST_CASE(
    "Executor chunking: a GPU out of memory for every chunk leaves all the work to the CPU "
    "and neither trips nor credits the breaker",
    "[executor]") {
  const uint32_t top_k = GENERATE(0u, 7u);
  ExecutorHarness h;
  const Problem p = TenChunkProblem(60);
  h.SetGpuChunkRows(kRowsPerChunk, kDim);
  h.gpu.SetOomAboveRows(1);  // Every chunk: the floor is 8 rows.
  for (int i = 0; i < 5; ++i) {
    const ExecutionReport r = RunAndCheck(h, p, Reference(p), top_k);
    CHECK(r.fallback == FallbackReason::kGpuOutOfMemory);
    CHECK(r.gpu_chunks == 0);
    CHECK(r.cpu_chunks == 40);
  }
  const ExecutorSnapshot s = h.executor->Snapshot();
  CHECK(s.breaker.state == BreakerState::kClosed);
  CHECK(s.breaker.failures == 0);
  CHECK(s.breaker.successes == 0);
  const CellStats gpu =
      s.performance.cell(kGpu, Operation::kManyQueries, SizeClassOf(kQueries, p.n, kDim));
  CHECK(gpu.outcomes.out_of_memory == 5);
}

TEST_CASE(
    "Executor chunking: a non-OOM GPU error mid-way runs that chunk and the rest on the CPU "
    "and counts against the breaker",
    "[executor]") {
  const uint32_t position = GENERATE(range(0u, kChunks));
  const uint32_t top_k = GENERATE(0u, 7u, 40u);
  ServingConfig config = TestConfig();
  config.chunking.cpu_chunk_macs = uint64_t{kQueries} * kDim * 50;  // 50-row CPU chunks.
  ExecutorHarness h(config);
  const Problem p = TenChunkProblem(70 + position);
  h.SetGpuChunkRows(kRowsPerChunk, kDim);
  h.gpu.FailOnCall(position + 1);
  const ExecutionReport r = RunAndCheck(h, p, Reference(p), top_k);
  INFO("GPU calls: " << Calls(h.gpu));
  CHECK(r.backend == kGpu);
  CHECK(r.fallback == FallbackReason::kGpuError);
  CHECK_THAT(r.fallback_detail, Catch::Contains("fake cudaErrorLaunchFailure"));
  CHECK(r.gpu_chunks == position);
  CHECK(r.cpu_chunks == (kRowsPerChunk * (kChunks - position) + 49) / 50);
  CHECK(h.gpu.calls() == position + 1);  // No GPU chunk after the error.

  const ExecutorSnapshot s = h.executor->Snapshot();
  CHECK(s.breaker.failures == 1);
  CHECK(s.breaker.consecutive_failures == 1);
  CHECK_THAT(s.breaker.last_error, Catch::Contains("fake cudaErrorLaunchFailure"));
  CHECK(s.counters.gpu_errors == 1);
  CHECK(s.counters.fallbacks[Index(FallbackReason::kGpuError)] == 1);
  const CellStats gpu =
      s.performance.cell(kGpu, Operation::kManyQueries, SizeClassOf(kQueries, p.n, kDim));
  CHECK(gpu.outcomes.failures == 1);
}

TEST_CASE(
    "Executor chunking: a short GPU result is detected, never accepted, and the chunk is "
    "recomputed on the CPU",
    "[executor]") {
  const uint32_t position = GENERATE(range(0u, kChunks));
  const uint32_t top_k = GENERATE(0u, 7u, 40u);
  ExecutorHarness h;
  const Problem p = TenChunkProblem(80 + position);
  h.SetGpuChunkRows(kRowsPerChunk, kDim);
  h.gpu.ShortResultOnCall(position + 1);
  // The NaN sentinels in the unwritten half would fail the reference check if it were accepted.
  const ExecutionReport r = RunAndCheck(h, p, Reference(p), top_k);
  INFO("GPU calls: " << Calls(h.gpu));
  CHECK(r.fallback == FallbackReason::kGpuError);
  CHECK_THAT(r.fallback_detail, Catch::Contains("instead of"));
  CHECK(r.gpu_chunks == position);
  CHECK(r.cpu_chunks >= 1);
  CHECK(h.gpu.calls() == position + 1);
  CHECK(h.executor->Snapshot().breaker.failures == 1);
}

TEST_CASE(
    "Executor chunking: the whole-request top-k chunk written in place survives a GPU "
    "failure after a partial write",
    "[executor]") {
  // One chunk covers every row, so the GPU writes straight into the caller's buffers; its short
  // write must be overwritten by the CPU's full result.
  const uint32_t top_k = GENERATE(1u, 7u, 64u);
  ExecutorHarness h;
  std::mt19937_64 rng(90);
  const Problem p = RandomProblem(rng, kQueries, 64, kDim);
  h.gpu.ShortResultOnCall(1);
  const ExecutionReport r = RunAndCheck(h, p, Reference(p), top_k);
  CHECK(r.fallback == FallbackReason::kGpuError);
  CHECK(r.cpu_chunks == 1);
}

TEST_CASE(
    "Executor chunking: a lost device finishes the request on the CPU, and later requests "
    "see gpu_unavailable",
    "[executor]") {
  const uint32_t top_k = GENERATE(0u, 7u);
  ExecutorHarness h;
  const Problem p = TenChunkProblem(100);
  const Reference ref(p);
  h.SetGpuChunkRows(kRowsPerChunk, kDim);
  h.gpu.LoseDeviceOnCall(3);
  ExecutionReport r = RunAndCheck(h, p, ref, top_k);
  CHECK(r.fallback == FallbackReason::kGpuError);
  CHECK(r.gpu_chunks == 2);
  CHECK_FALSE(h.gpu.Available());

  r = RunAndCheck(h, p, ref, top_k);
  CHECK(r.backend == kCpu);
  CHECK(r.rule == DispatchRule::kGpuUnavailable);
  CHECK(h.gpu.calls() == 3);

  const CosineTask task = p.Task(top_k, Placement::kGpu);
  Results results(task);
  const absl::StatusOr<ExecutionReport> forced = h.Run(task, &results);
  REQUIRE(forced.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(forced.status().message()), Catch::Contains("fake-gpu0"));

  const ExecutorSnapshot s = h.executor->Snapshot();
  CHECK(s.gpu_present);
  CHECK_FALSE(s.gpu_available);
  CHECK_THAT(s.gpu_unavailable_reason, Catch::Contains("fake-gpu0"));
  CHECK(Decisions(s, kCpu, DispatchRule::kGpuUnavailable) == 1);
  // One device-lost failure opens the breaker at once (the harness needs 3 ordinary ones).
  CHECK(s.breaker.state == BreakerState::kOpen);
  CHECK(s.breaker.trips == 1);
}

TEST_CASE(
    "Executor chunking: top-k ties are broken by the lower index whatever the chunk sizes "
    "and backend mix",
    "[executor]") {
  enum class Mix { kGpuOnly, kOomMidway, kOomToCpu, kErrorMidway, kCpuOnly };
  const Mix mix =
      GENERATE(Mix::kGpuOnly, Mix::kOomMidway, Mix::kOomToCpu, Mix::kErrorMidway, Mix::kCpuOnly);
  const uint32_t top_k = GENERATE(0u, 1u, 10u, 50u);
  ServingConfig config = TestConfig();
  config.chunking.cpu_chunk_macs = 4 * 4 * 70;  // 70-row CPU chunks.
  ExecutorHarness h(config);
  const Problem p = TieProblem(4, 1000, 4);
  h.SetGpuChunkRows(64, 4);
  switch (mix) {
    case Mix::kGpuOnly:
      break;
    case Mix::kOomMidway:
      h.gpu.OomOnCall(4);
      break;
    case Mix::kOomToCpu:
      h.gpu.OomAtOffset(3 * 64);
      h.gpu.OomAtOffset(7 * 64);
      break;
    case Mix::kErrorMidway:
      h.gpu.FailOnCall(5);
      break;
    case Mix::kCpuOnly:
      break;
  }
  const CosineTask task = p.Task(top_k, mix == Mix::kCpuOnly ? Placement::kCpu : Placement::kAuto);
  Results results(task);
  const absl::StatusOr<ExecutionReport> r = h.Run(task, &results);
  REQUIRE(r.ok());
  CHECK(CheckReport(*r) == "");
  CHECK(CheckResults(Reference(p), task, results, /*exact_indices=*/true) == "");
}

TEST_CASE("Executor chunking: a failure of the CPU path is INTERNAL, never a partial result",
          "[executor]") {
  ExecutorHarness h;
  const Problem p = TenChunkProblem(110);
  h.SetGpuChunkRows(kRowsPerChunk, kDim);

  SECTION("CPU placement, CPU fails") {
    h.cpu.FailOnCall(1);
    const CosineTask task = p.Task(0, Placement::kCpu);
    Results results(task);
    CHECK(h.Run(task, &results).status().code() == absl::StatusCode::kInternal);
  }
  SECTION("CPU placement, CPU reports a short result") {
    h.cpu.ShortResultOnCall(1);
    const CosineTask task = p.Task(5, Placement::kCpu);
    Results results(task);
    const absl::StatusOr<ExecutionReport> r = h.Run(task, &results);
    CHECK(r.status().code() == absl::StatusCode::kInternal);
    CHECK_THAT(std::string(r.status().message()), Catch::Contains("instead of"));
  }
  SECTION("GPU error, then the CPU fallback fails") {
    h.gpu.FailOnCall(2);
    h.cpu.FailOnCall(1);
    const CosineTask task = p.Task(0);
    Results results(task);
    CHECK(h.Run(task, &results).status().code() == absl::StatusCode::kInternal);
    CHECK(h.executor->Snapshot().breaker.failures == 1);
  }
  SECTION("GPU out of memory at the floor, then the CPU fallback fails") {
    h.gpu.OomAtOffset(0);
    h.cpu.FailOnCall(1);
    const CosineTask task = p.Task(7);
    Results results(task);
    CHECK(h.Run(task, &results).status().code() == absl::StatusCode::kInternal);
  }
}

}  // namespace
}  // namespace simile
