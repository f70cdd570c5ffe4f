// 16 threads send mixed requests (random shapes, top-k or full matrix, every placement, some with
// deadlines or cancellation) to ONE executor whose fake GPU injects out-of-memory errors, chunk
// failures and short results at random (seeded), while its latency moves the fake clock so the
// breaker trips, cools down and probes. Every result is checked against the float64 reference and
// every failure must be an explicit status of a code the request's placement allows. Also run
// under ThreadSanitizer.
//
// SIMILE_EXECUTOR_STRESS_REQUESTS overrides the requests per thread (default 1000).
#include <algorithm>
#include <array>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/executor.h"
#include "core/thread_pool.h"
#include "tests/core/executor_test_util.h"

namespace simile {
namespace {

constexpr int kThreads = 16;

int RequestsPerThread() {
  const char* env = std::getenv("SIMILE_EXECUTOR_STRESS_REQUESTS");
  if (env != nullptr && std::atoi(env) > 0) return std::atoi(env);
  return 1000;
}

ServingConfig StressConfig() {
  ServingConfig c = TestConfig();
  c.policy.min_gpu_batch_one_query = 64;
  c.policy.min_gpu_batch_many_queries = 16;
  c.policy.explore_fraction = 0.05;
  c.policy.min_samples = 8;
  c.policy.min_success_samples = 50;
  c.policy.min_success_rate = 0.5;
  c.chunking.min_gpu_chunk_rows = 16;
  c.chunking.cpu_chunk_macs = 1 << 14;  // Several CPU chunks per request, so more checks.
  c.breaker.consecutive_failures_to_open = 2;
  c.breaker.base_cool_down = absl::Microseconds(200);
  c.breaker.max_cool_down = absl::Milliseconds(2);
  c.breaker.half_open_probes = 2;
  c.breaker.probe_timeout = absl::Milliseconds(50);
  return c;
}

// What one worker saw.
struct WorkerStats {
  std::vector<std::string> failures;  // Mismatches and unexpected statuses (the first few).
  int64_t ok = 0;
  int64_t forced_gpu_errors = 0;
  int64_t interrupted = 0;
  std::array<int64_t, kNumBackendKinds> chunks{};  // From successful reports.
  int64_t fallbacks = 0;

  void Fail(std::string what) {
    if (failures.size() < 5) failures.push_back(std::move(what));
  }
};

// One random request: runs it and checks the outcome.
void OneRequest(const ExecutorHarness& h, std::mt19937_64& rng, int64_t id, WorkerStats* stats) {
  const uint32_t q = 1 + rng() % 8;
  const uint32_t dim = 1 + rng() % 64;
  const uint32_t n = 1 + (rng() % 4 == 0 ? rng() % 2000 : rng() % 200);
  const uint32_t top_k = rng() % 2 == 0 ? 0 : 1 + rng() % std::min<uint32_t>(n, 24);
  const uint32_t kind = rng() % 20;
  const Placement placement =
      kind < 14 ? Placement::kAuto : (kind < 17 ? Placement::kCpu : Placement::kGpu);
  const Problem p = RandomProblem(rng, q, n, dim, rng() % 5 == 0 ? 7 : 0);

  RequestContext context;
  const uint32_t interruption = rng() % 20;
  if (interruption == 0) {
    auto checks = std::make_shared<int>(0);
    const int cancel_after = static_cast<int>(rng() % 4);
    context.is_cancelled = [checks, cancel_after] { return ++*checks > cancel_after; };
  } else if (interruption == 1) {
    context.deadline = h.clock.Now() + absl::Microseconds(static_cast<int64_t>(rng() % 200));
  }

  const CosineTask task = p.Task(top_k, placement);
  Results results(task);
  const absl::StatusOr<ExecutionReport> r = h.Run(task, &results, context);
  const std::string what = absl::StatusCodeToString(r.status().code());
  const std::string label =
      absl::StrCat("request ", id, " (q ", q, ", n ", n, ", dim ", dim, ", top_k ", top_k,
                   ", placement ", static_cast<int>(placement), "): ");
  if (!r.ok()) {
    const absl::StatusCode code = r.status().code();
    const bool interruptible = interruption <= 1;
    if (interruptible &&
        (code == absl::StatusCode::kCancelled || code == absl::StatusCode::kDeadlineExceeded)) {
      ++stats->interrupted;
      return;
    }
    if (placement == Placement::kGpu &&
        (code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kResourceExhausted)) {
      ++stats->forced_gpu_errors;
      return;
    }
    stats->Fail(absl::StrCat(label, "unexpected status ", r.status().ToString()));
    return;
  }
  ++stats->ok;
  if (std::string e = CheckReport(*r); !e.empty()) stats->Fail(label + e);
  if (placement == Placement::kGpu && (r->cpu_chunks != 0 || r->backend != BackendKind::kGpu)) {
    stats->Fail(label + "PLACEMENT_GPU ran on the CPU");
  }
  if (placement == Placement::kCpu && r->rule != DispatchRule::kPlacementCpu) {
    stats->Fail(label + "PLACEMENT_CPU not honoured");
  }
  stats->chunks[Index(BackendKind::kGpu)] += r->gpu_chunks;
  stats->chunks[Index(BackendKind::kCpu)] += r->cpu_chunks;
  if (r->fallback != FallbackReason::kNone) ++stats->fallbacks;
  if (std::string e = CheckResults(Reference(p), task, results); !e.empty()) stats->Fail(label + e);
}

TEST_CASE(
    "Executor concurrency: 16 threads x 1000 mixed requests with injected GPU faults: every "
    "result matches the reference and every failure is an expected status",
    "[executor][concurrency]") {
  const int per_thread = RequestsPerThread();
  ThreadPool pool(2);
  ExecutorHarness::Options options;
  options.cpu_pool = &pool;
  ExecutorHarness h(StressConfig(), options);
  h.gpu.SetMemoryModel({256, 8});
  h.gpu.memory().SetInfo(256 + 300 * (64 * 4 + 8), uint64_t{1} << 20);  // ~300 rows at dim 64.
  // A GPU chunk costs less than a CPU chunk, so the GPU wins most auto requests once measured.
  h.gpu.SetLatency(absl::Microseconds(2), absl::Nanoseconds(1));
  h.cpu.SetLatency(absl::Microseconds(10));
  FakeGpuBackend::RandomFaults faults;
  faults.seed = 20240601;
  faults.oom_per_mille = 60;
  faults.error_per_mille = 20;
  faults.short_per_mille = 10;
  h.gpu.SetRandomFaults(faults);

  std::vector<WorkerStats> stats(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(1000 + t);
      for (int i = 0; i < per_thread; ++i) {
        // Time also moves between requests, so an open breaker cools down even when no request
        // reaches the GPU.
        h.clock.Advance(absl::Microseconds(20));
        OneRequest(h, rng, int64_t{t} * per_thread + i, &stats[t]);
        // A snapshot now and then, concurrently with the requests (the status RPC's path).
        if (i % 97 == 0) (void)h.executor->Snapshot();
      }
    });
  }
  for (std::thread& t : threads) t.join();

  WorkerStats total;
  for (const WorkerStats& s : stats) {
    for (const std::string& f : s.failures) total.Fail(f);
    total.ok += s.ok;
    total.forced_gpu_errors += s.forced_gpu_errors;
    total.interrupted += s.interrupted;
    total.chunks[0] += s.chunks[0];
    total.chunks[1] += s.chunks[1];
    total.fallbacks += s.fallbacks;
  }
  for (const std::string& f : total.failures) FAIL_CHECK(f);
  const int64_t requests = int64_t{kThreads} * per_thread;
  CHECK(total.ok + total.forced_gpu_errors + total.interrupted == requests);
  const ExecutorSnapshot s = h.executor->Snapshot();
  std::string decisions;
  for (size_t b = 0; b < kNumBackendKinds; ++b) {
    for (size_t rule = 0; rule < kNumDispatchRules; ++rule) {
      if (s.counters.decisions[b][rule] == 0) continue;
      absl::StrAppend(&decisions, Name(static_cast<BackendKind>(b)), "/",
                      Name(static_cast<DispatchRule>(rule)), " ", s.counters.decisions[b][rule],
                      "; ");
    }
  }
  INFO("decisions: " << decisions);
  INFO("breaker trips " << s.breaker.trips << ", GPU calls " << h.gpu.calls() << ", CPU calls "
                        << h.cpu.calls());
  INFO("ok " << total.ok << ", forced GPU errors " << total.forced_gpu_errors << ", interrupted "
             << total.interrupted << ", fallbacks " << total.fallbacks);

  // Every request past validation and the forced-GPU checks made exactly one counted decision.
  CHECK(TotalDecisions(s) <= static_cast<uint64_t>(requests));
  CHECK(TotalDecisions(s) >= static_cast<uint64_t>(requests - total.forced_gpu_errors));
  // Counters include the chunks of requests that failed later; reports only successful ones.
  CHECK(s.counters.chunks[Index(BackendKind::kGpu)] >=
        static_cast<uint64_t>(total.chunks[Index(BackendKind::kGpu)]));
  CHECK(s.counters.chunks[Index(BackendKind::kCpu)] >=
        static_cast<uint64_t>(total.chunks[Index(BackendKind::kCpu)]));
  // The run exercised what it claims to (at the default size, where each of these happens tens
  // to hundreds of times).
  if (per_thread < 1000) return;
  CHECK(total.ok > requests / 2);
  CHECK(total.fallbacks > 0);
  CHECK(s.counters.gpu_oom_events > 0);
  CHECK(s.counters.chunk_retries > 0);
  CHECK(s.counters.gpu_errors > 0);
  CHECK(s.breaker.trips > 0);
  CHECK(Decisions(s, BackendKind::kCpu, DispatchRule::kCircuitOpen) > 0);
  CHECK(Decisions(s, BackendKind::kCpu, DispatchRule::kBatchTooSmall) > 0);
  CHECK(Decisions(s, BackendKind::kGpu, DispatchRule::kGpuFaster) > 0);
  int64_t short_results = 0;
  for (const FakeGpuCall& c : h.gpu.CallLog()) short_results += c.short_result ? 1 : 0;
  CHECK(short_results > 0);
}

TEST_CASE(
    "Executor concurrency: the device is lost while 16 threads send requests: every request "
    "still gets a correct result or an expected error",
    "[executor][concurrency]") {
  const int per_thread = std::max(RequestsPerThread() / 5, 20);
  ExecutorHarness h(StressConfig());
  h.gpu.SetLatency(absl::Microseconds(10));
  h.gpu.LoseDeviceOnCall(500);

  std::vector<WorkerStats> stats(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(5000 + t);
      for (int i = 0; i < per_thread; ++i) {
        const uint32_t q = 1 + rng() % 4;
        const uint32_t dim = 1 + rng() % 32;
        const uint32_t n = 16 + rng() % 300;
        const uint32_t top_k = rng() % 2 == 0 ? 0 : 1 + rng() % 10;
        const Placement placement = rng() % 4 == 0 ? Placement::kGpu : Placement::kAuto;
        const Problem p = RandomProblem(rng, q, n, dim);
        const CosineTask task = p.Task(top_k, placement);
        Results results(task);
        const absl::StatusOr<ExecutionReport> r = h.Run(task, &results);
        if (!r.ok()) {
          const absl::StatusCode code = r.status().code();
          if (placement == Placement::kGpu && (code == absl::StatusCode::kUnavailable ||
                                               code == absl::StatusCode::kFailedPrecondition)) {
            ++stats[t].forced_gpu_errors;
          } else {
            stats[t].Fail(absl::StrCat("unexpected status ", r.status().ToString()));
          }
          continue;
        }
        ++stats[t].ok;
        if (std::string e = CheckReport(*r); !e.empty()) stats[t].Fail(e);
        if (std::string e = CheckResults(Reference(p), task, results); !e.empty()) {
          stats[t].Fail(e);
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (const WorkerStats& w : stats) {
    for (const std::string& f : w.failures) FAIL_CHECK(f);
  }
  const ExecutorSnapshot s = h.executor->Snapshot();
  if (h.gpu.calls() >= 500) {
    CHECK_FALSE(s.gpu_available);
    CHECK(Decisions(s, BackendKind::kCpu, DispatchRule::kGpuUnavailable) > 0);
  }
}

}  // namespace
}  // namespace simile
