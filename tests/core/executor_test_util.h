// Shared pieces of the executor tests (tests/core/executor_*_test.cc): test problems, result
// buffers pre-filled with sentinels, an independent float64 reference with checkers, a test
// configuration, and a harness that wires an Executor to a FakeClock, a ScriptedCpuBackend and a
// FakeGpuBackend.
//
// The checkers return "" on success and a description of the first mismatch otherwise, so that
// worker threads (where Catch2 assertions are not allowed) can collect failures and the test thread
// reports them.
//
// Thread safety: Problem, Reference and the checkers are plain values and pure functions; a harness
// is shared by the threads of a concurrency test exactly as an Executor is (see core/executor.h).
#ifndef SIMILE_TESTS_CORE_EXECUTOR_TEST_UTIL_H_
#define SIMILE_TESTS_CORE_EXECUTOR_TEST_UTIL_H_

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "core/config_store.h"
#include "core/cosine_task.h"
#include "core/execution_report.h"
#include "core/executor.h"
#include "core/mutex.h"
#include "core/request_context.h"
#include "core/serving_config.h"
#include "core/thread_pool.h"
#include "tests/core/fake_clock.h"
#include "tests/core/fake_gpu_backend.h"
#include "tests/core/scripted_cpu_backend.h"

namespace simile {

// Scores within this of the float64 reference are correct (float kernels, dims up to a few
// hundred).
inline constexpr double kScoreTolerance = 1e-5;

// A request's inputs, owned.
struct Problem {
  uint32_t q = 0;
  uint32_t n = 0;
  uint32_t dim = 0;
  std::vector<float> queries;  // q * dim.
  std::vector<float> targets;  // n * dim.

  [[nodiscard]] CosineTask Task(uint32_t top_k = 0, Placement placement = Placement::kAuto) const;
};

// Values uniform in [-1, 1]; every `zero_row_every`-th target row (if > 0) is all zeros.
[[nodiscard]] Problem RandomProblem(std::mt19937_64& rng, uint32_t q, uint32_t n, uint32_t dim,
                                    uint32_t zero_row_every = 0);

// Scores that every implementation computes exactly, with many exact ties: queries are unit axis
// vectors, targets are signed power-of-two multiples of axis vectors (or zero), so every cosine is
// exactly 1, 0 or -1. Top-k over it must break ties by the lower index.
[[nodiscard]] Problem TieProblem(uint32_t q, uint32_t n, uint32_t dim);

// Caller-side result buffers for one task, pre-filled with sentinels (NaN scores, index
// 0xFFFFFFFF), so a result that was never written cannot pass a check.
struct Results {
  std::vector<float> scores;
  std::vector<uint32_t> top_indices;
  std::vector<float> top_scores;

  explicit Results(const CosineTask& task);
  [[nodiscard]] ResultBuffers Buffers();
};

// The float64 reference: scores[qi * n + t] = cos(query qi, target t); 0 when either is zero.
struct Reference {
  uint32_t q = 0;
  uint32_t n = 0;
  std::vector<double> scores;

  explicit Reference(const Problem& p);
  // Query qi's k best targets: higher score first, equal scores by lower index.
  [[nodiscard]] std::vector<uint32_t> TopK(uint32_t qi, uint32_t k) const;
};

// Checks `results` for `task` (either layout) against the reference. Top-k: every index distinct
// and in range, every score within kScoreTolerance of its own target's reference score and of the
// reference's score at that rank, scores best first with equal scores by lower index, and each
// index equal to the reference's, except (unless `exact_indices`) where the two targets' reference
// scores lie within kScoreTolerance of each other (a near-tie a float kernel may order either way).
[[nodiscard]] std::string CheckResults(const Reference& ref, const CosineTask& task,
                                       const Results& results, bool exact_indices = false);

// Report invariants every successful run must satisfy: chunks == gpu_chunks + cpu_chunks, at least
// one chunk, and no GPU chunk when the CPU was chosen.
[[nodiscard]] std::string CheckReport(const ExecutionReport& report);

// The configuration the executor tests start from: every GPU threshold at its minimum (so the GPU
// is chosen unless a test says otherwise), no exploration, a breaker that trips after 3 consecutive
// failures (rate rule off) for 1 s with one half-open probe, no VRAM safety margin or headroom, and
// an out-of-memory floor of 8 rows.
[[nodiscard]] ServingConfig TestConfig();

// An Executor over a FakeClock, a ScriptedCpuBackend and (optionally) a FakeGpuBackend.
class ExecutorHarness {
 public:
  struct Options {
    bool with_gpu = true;
    ThreadPool* cpu_pool = nullptr;  // For the CPU backend; not owned.
  };

  explicit ExecutorHarness(const ServingConfig& config = TestConfig());
  ExecutorHarness(const ServingConfig& config, const Options& options);

  // Runs `task` into `results`.
  absl::StatusOr<ExecutionReport> Run(const CosineTask& task, Results* results,
                                      const RequestContext& context = {}) const;

  // Makes the chunk planner give exactly `rows` rows per GPU chunk for targets of dimension `dim`
  // (sets the fake device's free memory for the current memory model; needs a zero safety margin
  // and zero headroom, as in TestConfig()).
  void SetGpuChunkRows(uint64_t rows, uint32_t dim);

  // Replaces the configuration (a reload); REQUIREs success.
  void Reload(const ServingConfig& config);

  [[nodiscard]] std::vector<BreakerTransition> transitions() const;

  FakeClock clock;
  ConfigStore store;
  ScriptedCpuBackend cpu;
  FakeGpuBackend gpu;
  std::unique_ptr<Executor> executor;

 private:
  mutable Mutex mu_;
  std::vector<BreakerTransition> transitions_ ABSL_GUARDED_BY(mu_);
};

// Runs `problem` with `top_k` and `placement`, REQUIREs success, and CHECKs the results against
// `ref` and the report's invariants. Returns the report.
ExecutionReport RunAndCheck(const ExecutorHarness& harness, const Problem& problem,
                            const Reference& ref, uint32_t top_k = 0,
                            Placement placement = Placement::kAuto,
                            const RequestContext& context = {});

// The number of decisions `snapshot` counted for (backend, rule).
[[nodiscard]] uint64_t Decisions(const ExecutorSnapshot& snapshot, BackendKind backend,
                                 DispatchRule rule);
// All decisions `snapshot` counted.
[[nodiscard]] uint64_t TotalDecisions(const ExecutorSnapshot& snapshot);

// A one-shot event for handshakes between test threads (std::mutex-based, so TSan sees it).
class Notification {
 public:
  void Notify();
  void Wait();

 private:
  Mutex mu_;
  CondVar cv_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace simile

#endif  // SIMILE_TESTS_CORE_EXECUTOR_TEST_UTIL_H_
