#include "tests/core/executor_test_util.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>

#include "absl/strings/str_cat.h"

namespace simile {

CosineTask Problem::Task(uint32_t top_k, Placement placement) const {
  CosineTask task;
  task.queries = MatrixView{queries.data(), q, dim};
  task.targets = MatrixView{targets.data(), n, dim};
  task.top_k = top_k;
  task.placement = placement;
  return task;
}

Problem RandomProblem(std::mt19937_64& rng, uint32_t q, uint32_t n, uint32_t dim,
                      uint32_t zero_row_every) {
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  Problem p;
  p.q = q;
  p.n = n;
  p.dim = dim;
  p.queries.resize(size_t{q} * dim);
  p.targets.resize(size_t{n} * dim);
  for (float& v : p.queries) v = value(rng);
  for (float& v : p.targets) v = value(rng);
  if (zero_row_every > 0) {
    for (uint32_t t = zero_row_every - 1; t < n; t += zero_row_every) {
      std::fill_n(p.targets.begin() + size_t{t} * dim, dim, 0.0f);
    }
  }
  return p;
}

Problem TieProblem(uint32_t q, uint32_t n, uint32_t dim) {
  constexpr float kMultipliers[] = {0.5f, 1.0f, 2.0f, 4.0f, -0.5f, -1.0f, -2.0f};
  Problem p;
  p.q = q;
  p.n = n;
  p.dim = dim;
  p.queries.assign(size_t{q} * dim, 0.0f);
  p.targets.assign(size_t{n} * dim, 0.0f);
  for (uint32_t i = 0; i < q; ++i) p.queries[size_t{i} * dim + i % dim] = 1.0f;
  uint64_t state = 12345;
  for (uint32_t t = 0; t < n; ++t) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;  // Knuth's LCG.
    const uint32_t r = static_cast<uint32_t>(state >> 33);
    if (r % 11 == 0) continue;  // A zero row: score exactly 0.
    p.targets[size_t{t} * dim + r % dim] = kMultipliers[(r / dim) % 7];
  }
  return p;
}

Results::Results(const CosineTask& task) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  if (task.top_k == 0) {
    scores.assign(task.num_scores(), nan);
  } else {
    top_indices.assign(size_t{task.queries.rows} * task.top_k, 0xFFFFFFFFu);
    top_scores.assign(top_indices.size(), nan);
  }
}

ResultBuffers Results::Buffers() {
  ResultBuffers b;
  b.scores = absl::MakeSpan(scores);
  b.top_indices = absl::MakeSpan(top_indices);
  b.top_scores = absl::MakeSpan(top_scores);
  return b;
}

Reference::Reference(const Problem& p) : q(p.q), n(p.n), scores(size_t{p.q} * p.n) {
  for (uint32_t i = 0; i < p.q; ++i) {
    const float* a = p.queries.data() + size_t{i} * p.dim;
    double aa = 0.0;
    for (uint32_t d = 0; d < p.dim; ++d) aa += double{a[d]} * a[d];
    for (uint32_t t = 0; t < p.n; ++t) {
      const float* b = p.targets.data() + size_t{t} * p.dim;
      double dot = 0.0;
      double bb = 0.0;
      for (uint32_t d = 0; d < p.dim; ++d) {
        dot += double{a[d]} * b[d];
        bb += double{b[d]} * b[d];
      }
      double s = (aa == 0.0 || bb == 0.0) ? 0.0 : dot / (std::sqrt(aa) * std::sqrt(bb));
      scores[size_t{i} * p.n + t] = std::clamp(s, -1.0, 1.0);
    }
  }
}

std::vector<uint32_t> Reference::TopK(uint32_t qi, uint32_t k) const {
  const double* row = scores.data() + size_t{qi} * n;
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [row](uint32_t a, uint32_t b) {
    return row[a] > row[b] || (row[a] == row[b] && a < b);
  });
  order.resize(k);
  return order;
}

namespace {

bool Close(double a, double b) { return std::fabs(a - b) <= kScoreTolerance; }  // False for NaN.

std::string CheckScores(const Reference& ref, const Results& results) {
  for (uint32_t i = 0; i < ref.q; ++i) {
    for (uint32_t t = 0; t < ref.n; ++t) {
      const size_t at = size_t{i} * ref.n + t;
      if (!Close(results.scores[at], ref.scores[at])) {
        return absl::StrCat("score[", i, ", ", t, "] = ", results.scores[at], ", reference ",
                            ref.scores[at]);
      }
    }
  }
  return "";
}

std::string CheckTopK(const Reference& ref, uint32_t k, const Results& results,
                      bool exact_indices) {
  std::vector<bool> seen(ref.n);
  for (uint32_t i = 0; i < ref.q; ++i) {
    const double* row = ref.scores.data() + size_t{i} * ref.n;
    const std::vector<uint32_t> expected = ref.TopK(i, k);
    std::fill(seen.begin(), seen.end(), false);
    for (uint32_t r = 0; r < k; ++r) {
      const uint32_t idx = results.top_indices[size_t{i} * k + r];
      const float score = results.top_scores[size_t{i} * k + r];
      const std::string where =
          absl::StrCat("query ", i, " rank ", r, ": index ", idx, " score ", score,
                       "; reference index ", expected[r], " score ", row[expected[r]]);
      if (idx >= ref.n) return absl::StrCat(where, " (index out of range)");
      if (seen[idx]) return absl::StrCat(where, " (index repeated)");
      seen[idx] = true;
      if (!Close(score, row[idx])) return absl::StrCat(where, " (not that target's score)");
      if (!Close(score, row[expected[r]])) return absl::StrCat(where, " (wrong score at rank)");
      if (idx != expected[r] && (exact_indices || !Close(row[idx], row[expected[r]]))) {
        return absl::StrCat(where, " (wrong index)");
      }
      if (r > 0) {
        const float prev = results.top_scores[size_t{i} * k + r - 1];
        const uint32_t prev_idx = results.top_indices[size_t{i} * k + r - 1];
        if (score > prev || (score == prev && idx < prev_idx)) {
          return absl::StrCat(where, " (not best first, ties by lower index)");
        }
      }
    }
  }
  return "";
}

}  // namespace

std::string CheckResults(const Reference& ref, const CosineTask& task, const Results& results,
                         bool exact_indices) {
  return task.top_k == 0 ? CheckScores(ref, results)
                         : CheckTopK(ref, task.top_k, results, exact_indices);
}

std::string CheckReport(const ExecutionReport& report) {
  if (report.chunks != report.gpu_chunks + report.cpu_chunks) {
    return absl::StrCat("report: chunks ", report.chunks, " != gpu ", report.gpu_chunks, " + cpu ",
                        report.cpu_chunks);
  }
  if (report.chunks == 0) return "report: no chunk";
  if (report.backend == BackendKind::kCpu && report.gpu_chunks != 0) {
    return absl::StrCat("report: CPU chosen (", Name(report.rule), ") but ", report.gpu_chunks,
                        " GPU chunks");
  }
  if (report.backend == BackendKind::kCpu && report.fallback != FallbackReason::kNone) {
    return "report: CPU chosen but a fallback reported";
  }
  return "";
}

ServingConfig TestConfig() {
  ServingConfig c;
  c.policy.min_gpu_batch_one_query = 1;
  c.policy.min_gpu_batch_many_queries = 1;
  c.policy.min_gpu_batch_resident_one_query = 1;
  c.policy.min_gpu_batch_resident_many_queries = 1;
  c.policy.explore_fraction = 0.0;
  c.breaker.consecutive_failures_to_open = 3;
  c.breaker.window_failure_rate_to_open = 1.0;
  c.breaker.base_cool_down = absl::Seconds(1);
  c.breaker.cool_down_multiplier = 2.0;
  c.breaker.max_cool_down = absl::Seconds(60);
  c.breaker.half_open_probes = 1;
  c.breaker.probe_timeout = absl::Seconds(60);
  c.vram.safety_margin_fraction = 0.0;
  c.chunking.gpu_headroom_bytes = 0;
  c.chunking.min_gpu_chunk_rows = 8;
  return c;
}

ExecutorHarness::ExecutorHarness(const ServingConfig& config)
    : ExecutorHarness(config, Options()) {}

ExecutorHarness::ExecutorHarness(const ServingConfig& config, const Options& options)
    : store(config), cpu(&clock, options.cpu_pool), gpu(&clock) {
  Executor::Components c;
  c.cpu = &cpu;
  c.gpu = options.with_gpu ? &gpu : nullptr;
  c.gpu_unavailable_reason = "no GPU in this test";
  c.clock = &clock;
  c.config = &store;
  c.on_breaker_transition = [this](const BreakerTransition& t) {
    BreakerTransition copy = t;
    copy.last_error = {};  // Valid only during the call.
    MutexLock lock(&mu_);
    transitions_.push_back(copy);
  };
  absl::StatusOr<std::unique_ptr<Executor>> created = Executor::Create(std::move(c));
  REQUIRE(created.ok());
  executor = *std::move(created);
}

absl::StatusOr<ExecutionReport> ExecutorHarness::Run(const CosineTask& task, Results* results,
                                                     const RequestContext& context) const {
  return executor->Run(task, results->Buffers(), context);
}

void ExecutorHarness::SetGpuChunkRows(uint64_t rows, uint32_t dim) {
  const DeviceMemoryModel model = gpu.MemoryModel(1, dim, 0);
  const uint64_t free_bytes =
      model.fixed_bytes + rows * (uint64_t{dim} * sizeof(float) + model.bytes_per_row_extra);
  gpu.memory().SetInfo(free_bytes, 2 * free_bytes);
}

void ExecutorHarness::Reload(const ServingConfig& config) { REQUIRE(store.Replace(config).ok()); }

std::vector<BreakerTransition> ExecutorHarness::transitions() const {
  MutexLock lock(&mu_);
  return transitions_;
}

ExecutionReport RunAndCheck(const ExecutorHarness& harness, const Problem& problem,
                            const Reference& ref, uint32_t top_k, Placement placement,
                            const RequestContext& context) {
  const CosineTask task = problem.Task(top_k, placement);
  Results results(task);
  absl::StatusOr<ExecutionReport> report = harness.Run(task, &results, context);
  INFO("status: " << report.status());
  REQUIRE(report.ok());
  INFO("rule " << Name(report->rule) << ", backend " << Name(report->backend) << ", chunks "
               << report->chunks << " (gpu " << report->gpu_chunks << ", cpu " << report->cpu_chunks
               << "), retries " << report->chunk_retries << ", fallback "
               << Name(report->fallback));
  CHECK(CheckReport(*report) == "");
  CHECK(CheckResults(ref, task, results) == "");
  return *report;
}

uint64_t Decisions(const ExecutorSnapshot& snapshot, BackendKind backend, DispatchRule rule) {
  return snapshot.counters.decisions[Index(backend)][Index(rule)];
}

uint64_t TotalDecisions(const ExecutorSnapshot& snapshot) {
  uint64_t total = 0;
  for (const auto& by_rule : snapshot.counters.decisions) {
    for (uint64_t n : by_rule) total += n;
  }
  return total;
}

void Notification::Notify() {
  MutexLock lock(&mu_);
  done_ = true;
  cv_.SignalAll();
}

void Notification::Wait() {
  MutexLock lock(&mu_);
  // The predicate runs with mu_ held (CondVar::Wait's contract); the analysis cannot see that.
  cv_.Wait(&mu_, [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return done_; });
}

}  // namespace simile
