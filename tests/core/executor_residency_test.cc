// Executor with target sets resident on the GPU: upload on the first GPU request, no transfer after, the
// resident thresholds of the dispatcher, streaming when a set exceeds the cap or its upload fails, eviction
// under a small cap, CPU fallback reading host rows; every result against the float64 reference.
#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/executor.h"
#include "core/mutex.h"
#include "core/target_set_store.h"
#include "tests/core/executor_test_util.h"

namespace simile {
namespace {

// A target set holding `p`'s targets, as the store would publish it.
std::shared_ptr<TargetSetVersion> SetOf(const Problem& p, const std::string& name, uint64_t version = 1) {
  auto set = std::make_shared<TargetSetVersion>();
  set->name = name;
  set->version = version;
  set->dim = p.dim;
  set->data = p.targets;
  for (uint32_t r = 0; r < p.n; ++r) {
    double sum = 0;
    for (uint32_t c = 0; c < p.dim; ++c) {
      const double v = p.targets[uint64_t{r} * p.dim + c];
      sum += v * v;
    }
    set->norms.push_back(static_cast<float>(std::sqrt(sum)));
  }
  return set;
}

CosineTask TaskOn(const Problem& p, const TargetSetVersion& set, uint32_t top_k = 0) {
  CosineTask task = p.Task(top_k);
  task.targets = set.view();
  task.targets_known_finite = true;
  task.target_set = &set;
  return task;
}

ExecutionReport RunOn(const ExecutorHarness& h, const Problem& p, const TargetSetVersion& set,
                      uint32_t top_k = 0) {
  const CosineTask task = TaskOn(p, set, top_k);
  Results results(task);
  absl::StatusOr<ExecutionReport> report = h.Run(task, &results);
  REQUIRE(report.ok());
  CHECK(CheckResults(Reference(p), task, results) == "");
  CHECK(CheckReport(*report) == "");
  return *report;
}

TEST_CASE("Executor residency: the first GPU request uploads the set, later ones read it in place",
          "[executor][residency]") {
  const uint32_t top_k = GENERATE(0u, 5u);
  const uint32_t q = GENERATE(1u, 3u);
  ExecutorHarness h;
  std::mt19937_64 rng(11);
  const Problem p = RandomProblem(rng, q, 300, 16, /*zero_row_every=*/7);
  const auto set = SetOf(p, "docs");

  const ExecutionReport first = RunOn(h, p, *set, top_k);
  CHECK(first.backend == BackendKind::kGpu);
  CHECK(first.operation == OperationFor(q, /*resident=*/true));
  CHECK(first.target_set_uploaded);
  CHECK_FALSE(first.targets_resident);
  CHECK(h.executor->IsResidentOnGpu("docs", 1));

  const ExecutionReport second = RunOn(h, p, *set, top_k);
  CHECK(second.backend == BackendKind::kGpu);
  CHECK(second.targets_resident);
  CHECK_FALSE(second.target_set_uploaded);
  CHECK(h.gpu.uploads_attempted() == 1);
  CHECK(h.gpu.resident_chunks() == first.gpu_chunks + second.gpu_chunks);
  const ExecutorSnapshot s = h.executor->Snapshot();
  CHECK(s.residency.sets == 1);
  CHECK(s.residency.uploads == 1);
  CHECK(s.residency_cap_bytes == (uint64_t{2} << 30) / 2);  // Half of the fake's 2 GiB.
}

TEST_CASE("Executor residency: results on a resident set equal the inline path's, bit for bit",
          "[executor][residency]") {
  ExecutorHarness h;
  std::mt19937_64 rng(12);
  const Problem p = RandomProblem(rng, 2, 200, 33);
  const auto set = SetOf(p, "docs");
  const CosineTask inline_task = p.Task();
  Results inline_results(inline_task);
  REQUIRE(h.Run(inline_task, &inline_results).ok());
  for (int i = 0; i < 2; ++i) {  // Uploading, then resident.
    const CosineTask task = TaskOn(p, *set);
    Results results(task);
    REQUIRE(h.Run(task, &results).ok());
    CHECK(results.scores == inline_results.scores);
  }
}

TEST_CASE("Executor residency: the dispatcher uses the resident thresholds for a set that can be resident",
          "[executor][residency]") {
  ServingConfig config = TestConfig();
  config.policy.min_gpu_batch_one_query = 100000;
  config.policy.min_gpu_batch_resident_one_query = 64;
  ExecutorHarness h(config);
  std::mt19937_64 rng(13);
  const Problem p = RandomProblem(rng, 1, 1000, 8);
  const auto set = SetOf(p, "docs");

  const ExecutionReport on_set = RunOn(h, p, *set);
  CHECK(on_set.backend == BackendKind::kGpu);
  CHECK(on_set.rule == DispatchRule::kGpuFaster);
  CHECK(on_set.operation == Operation::kOneQueryResident);

  const ExecutionReport inline_targets = RunAndCheck(h, p, Reference(p));
  CHECK(inline_targets.backend == BackendKind::kCpu);
  CHECK(inline_targets.rule == DispatchRule::kBatchTooSmall);
  CHECK(inline_targets.operation == Operation::kOneQuery);
}

TEST_CASE("Executor residency: a set larger than the cap streams through the GPU in chunks",
          "[executor][residency]") {
  ServingConfig config = TestConfig();
  config.residency.max_bytes = 1000;  // Smaller than the set.
  ExecutorHarness h(config);
  h.SetGpuChunkRows(64, 16);
  std::mt19937_64 rng(14);
  const Problem p = RandomProblem(rng, 1, 300, 16);
  const auto set = SetOf(p, "big");
  const ExecutionReport r = RunOn(h, p, *set, 5);
  CHECK(r.backend == BackendKind::kGpu);
  CHECK(r.operation == Operation::kOneQuery);  // Not resident: the inline thresholds and estimates.
  CHECK(r.gpu_chunks == 5);                    // ceil(300 / 64)
  CHECK_FALSE(r.targets_resident);
  CHECK_FALSE(r.target_set_uploaded);
  CHECK(h.gpu.uploads_attempted() == 0);
  CHECK(h.gpu.resident_chunks() == 0);
}

TEST_CASE("Executor residency: a failed upload streams the set instead and loses nothing",
          "[executor][residency]") {
  ExecutorHarness h;
  h.gpu.SetFailUploads(true);
  std::mt19937_64 rng(15);
  const Problem p = RandomProblem(rng, 2, 100, 16);
  const auto set = SetOf(p, "docs");
  const ExecutionReport r = RunOn(h, p, *set, 3);
  CHECK(r.backend == BackendKind::kGpu);
  CHECK(r.gpu_chunks >= 1);
  CHECK_FALSE(r.targets_resident);
  CHECK_FALSE(r.target_set_uploaded);
  CHECK(h.gpu.resident_chunks() == 0);
  CHECK(h.executor->Snapshot().residency.upload_failures == 1);
}

TEST_CASE("Executor residency: under a small cap the least recently used set is evicted",
          "[executor][residency]") {
  std::mt19937_64 rng(16);
  const Problem pa = RandomProblem(rng, 1, 100, 16);
  const Problem pb = RandomProblem(rng, 1, 100, 16);
  const Problem pc = RandomProblem(rng, 1, 100, 16);
  const auto a = SetOf(pa, "a");
  const auto b = SetOf(pb, "b");
  const auto c = SetOf(pc, "c");
  ServingConfig config = TestConfig();
  config.residency.max_bytes = 2 * a->bytes() + 100;  // Room for two sets.
  ExecutorHarness h(config);

  RunOn(h, pa, *a);
  RunOn(h, pb, *b);
  CHECK(RunOn(h, pa, *a).targets_resident);  // a is now more recent than b.
  const ExecutionReport on_c = RunOn(h, pc, *c);
  CHECK(on_c.target_set_uploaded);
  CHECK(h.executor->IsResidentOnGpu("a", 1));
  CHECK_FALSE(h.executor->IsResidentOnGpu("b", 1));
  CHECK(h.executor->IsResidentOnGpu("c", 1));
  CHECK(h.executor->Snapshot().residency.evictions == 1);
  // b comes back (uploaded again, evicting a, now the least recently used) with correct results.
  const ExecutionReport again = RunOn(h, pb, *b);
  CHECK(again.target_set_uploaded);
  CHECK_FALSE(h.executor->IsResidentOnGpu("a", 1));
  CHECK(h.gpu.uploads_attempted() == 4);
}

TEST_CASE("Executor residency: a GPU chunk failure falls back to the CPU on the host rows",
          "[executor][residency]") {
  ExecutorHarness h;
  // Resident rows cost only their extra bytes: 100 each, so 3200 free bytes make chunks of 32 rows, while
  // the 2 GiB total leaves the residency cap at 1 GiB.
  h.gpu.SetMemoryModel(DeviceMemoryModel{0, 100});
  h.gpu.memory().SetInfo(32 * 100, uint64_t{2} << 30);
  std::mt19937_64 rng(17);
  const Problem p = RandomProblem(rng, 2, 100, 16);
  const auto set = SetOf(p, "docs");
  RunOn(h, p, *set);  // Uploads.
  h.gpu.FailOnCall(h.gpu.calls() + 2);
  const ExecutionReport r = RunOn(h, p, *set, 4);
  CHECK(r.fallback == FallbackReason::kGpuError);
  CHECK(r.gpu_chunks >= 1);
  CHECK(r.cpu_chunks >= 1);
  CHECK(r.targets_resident);  // GPU chunks read the resident copy, CPU chunks host memory.
}

TEST_CASE("Executor residency: ForgetTargetSet frees the copy of a deleted or replaced set",
          "[executor][residency]") {
  ExecutorHarness h;
  std::mt19937_64 rng(18);
  const Problem p = RandomProblem(rng, 1, 100, 16);
  const auto v1 = SetOf(p, "docs", 1);
  RunOn(h, p, *v1);
  REQUIRE(h.gpu.resident_bytes() > 0);
  h.executor->ForgetTargetSet("docs", 2);  // Version 2 was published.
  CHECK_FALSE(h.executor->IsResidentOnGpu("docs", 1));
  CHECK(h.gpu.resident_bytes() == 0);
}

TEST_CASE("Executor residency: without a GPU a set runs on the CPU, resident in host memory",
          "[executor][residency]") {
  ExecutorHarness::Options no_gpu;
  no_gpu.with_gpu = false;
  ExecutorHarness h(TestConfig(), no_gpu);
  std::mt19937_64 rng(19);
  const Problem p = RandomProblem(rng, 1, 100, 16);
  const auto set = SetOf(p, "docs");
  const ExecutionReport r = RunOn(h, p, *set);
  CHECK(r.backend == BackendKind::kCpu);
  CHECK(r.operation == Operation::kOneQuery);
  CHECK(r.targets_resident);
  CHECK_FALSE(h.executor->IsResidentOnGpu("docs", 1));
  CHECK(h.executor->Snapshot().residency_cap_bytes == 0);
}

TEST_CASE("Executor residency: concurrent queries stay correct while sets are evicted, replaced and forgotten",
          "[executor][residency][concurrency]") {
  // Three sets and a cap that holds two: every few requests evict one, while another thread keeps dropping
  // copies (as deletes and appends do). Readers hold their copy to the end of their request, so every result
  // must still be exact.
  std::mt19937_64 rng(20);
  std::vector<Problem> problems;
  std::vector<std::shared_ptr<TargetSetVersion>> sets;
  for (int i = 0; i < 3; ++i) {
    problems.push_back(RandomProblem(rng, 1 + i % 2, 150, 16));
    sets.push_back(SetOf(problems.back(), "set" + std::to_string(i)));
  }
  ServingConfig config = TestConfig();
  config.residency.max_bytes = 2 * sets[0]->bytes() + 100;
  ExecutorHarness h(config);
  std::atomic<bool> stop{false};
  std::vector<std::string> failures;
  Mutex failures_mu;
  auto query = [&](int thread) {
    for (int i = 0; i < 60; ++i) {
      const int which = (thread + i) % 3;
      const CosineTask task = TaskOn(problems[which], *sets[which], i % 2 == 0 ? 0 : 4);
      Results results(task);
      absl::StatusOr<ExecutionReport> report = h.Run(task, &results);
      std::string failure = report.ok() ? CheckResults(Reference(problems[which]), task, results)
                                        : report.status().ToString();
      if (!failure.empty()) {
        MutexLock lock(&failures_mu);
        failures.push_back(std::move(failure));
      }
    }
  };
  std::thread forgetter([&] {
    // Relaxed: a stop flag; the threads share no other data through it.
    for (int i = 0; !stop.load(std::memory_order_relaxed); ++i) {
      h.executor->ForgetTargetSet("set" + std::to_string(i % 3), 0);
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back(query, t);
  for (std::thread& t : threads) t.join();
  stop.store(true, std::memory_order_relaxed);
  forgetter.join();
  for (const std::string& f : failures) FAIL_CHECK(f);
  const ExecutorSnapshot s = h.executor->Snapshot();
  CHECK(s.residency.bytes <= config.residency.max_bytes);
  CHECK(s.residency.uploads >= 3);
  h.executor->ForgetTargetSet("set0", 0);
  h.executor->ForgetTargetSet("set1", 0);
  h.executor->ForgetTargetSet("set2", 0);
  CHECK(h.gpu.resident_bytes() == 0);  // Nothing leaked once every reader is done.
}

}  // namespace
}  // namespace simile
