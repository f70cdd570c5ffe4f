// Listener access (Catch2 v2): the end-of-run count of skipped GPU test cases.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include "tests/kernels/gpu_test_support.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include <catch2/catch.hpp>

#include "core/cpu_backend.h"

namespace simile::testing {
namespace {

struct SharedGpuState {
  std::unique_ptr<kernels::GpuBackendSet> set;
  std::string reason;
};

SharedGpuState& State() {
  static SharedGpuState* const state = [] {
    auto* s = new SharedGpuState;
    kernels::GpuBackendOptions options;
    options.host_pool = &TestPool();
    absl::StatusOr<kernels::GpuBackendSet> set = kernels::CreateGpuBackends(options);
    if (set.ok()) {
      s->set = std::make_unique<kernels::GpuBackendSet>(*std::move(set));
    } else {
      s->reason = std::string(set.status().message());
    }
    return s;
  }();
  return *state;
}

// Relaxed: a count read once at the end of the run, after every test case has returned.
std::atomic<int> skipped{0};
std::mutex reason_mu;
std::string last_reason;  // Guarded by reason_mu.

class GpuSkipListener : public Catch::TestEventListenerBase {
 public:
  using TestEventListenerBase::TestEventListenerBase;
  void testRunEnded(const Catch::TestRunStats& stats) override {
    const int n = skipped.load(std::memory_order_relaxed);
    if (n == 0) return;
    std::lock_guard<std::mutex> lock(reason_mu);
    std::printf("\n*** %d GPU test case(s) SKIPPED: %s ***\n", n,
                last_reason.c_str());
    std::fflush(stdout);
  }
};
CATCH_REGISTER_LISTENER(GpuSkipListener)

double ReferenceCosine(const float* a, const float* b, uint32_t dim) {
  double dot = 0;
  double aa = 0;
  double bb = 0;
  for (uint32_t d = 0; d < dim; ++d) {
    dot += double{a[d]} * b[d];
    aa += double{a[d]} * a[d];
    bb += double{b[d]} * b[d];
  }
  if (aa == 0 || bb == 0) return 0;
  return std::clamp(dot / (std::sqrt(aa) * std::sqrt(bb)), -1.0, 1.0);
}

}  // namespace

Backend* SharedGpu(std::string* reason) {
  SharedGpuState& s = State();
  if (s.set == nullptr || s.set->backends.empty()) {
    *reason = s.reason;
    return nullptr;
  }
  return s.set->backends.front().get();
}

std::unique_ptr<kernels::GpuBackendSet> MakeGpus(kernels::GpuBackendOptions options,
                                                 std::string* reason) {
  if (options.host_pool == nullptr) options.host_pool = &TestPool();
  absl::StatusOr<kernels::GpuBackendSet> set = kernels::CreateGpuBackends(options);
  if (!set.ok()) {
    *reason = std::string(set.status().message());
    return nullptr;
  }
  return std::make_unique<kernels::GpuBackendSet>(*std::move(set));
}

int OrdinalOf(const Backend& backend) {
  const std::string d = backend.description();
  return d.rfind("gpu", 0) == 0 ? std::atoi(d.c_str() + 3) : 0;
}

void CheckRandomCase(Backend& gpu, uint32_t q, uint64_t n, uint32_t dim, uint32_t top_k,
                     uint64_t seed, uint32_t target_offset, uint64_t extra_ld, double tolerance) {
  const std::vector<float> queries = FastRandom(q, dim, seed);
  const std::vector<float> targets = FastRandom(n, dim, seed * 7919 + 1);
  const ChunkResult g = RunChunk(gpu, queries, targets, dim, top_k, target_offset, extra_ld);
  const ChunkResult c =
      RunChunk(CpuReference(), queries, targets, dim, top_k, target_offset, extra_ld);
  std::ostringstream label;
  label << "q=" << q << " n=" << n << " dim=" << dim << " top_k=" << top_k
        << " offset=" << target_offset << " extra_ld=" << extra_ld << " on " << gpu.description();
  CheckSameResults(g, c, queries, targets, dim, top_k, target_offset, extra_ld, tolerance,
                   label.str());
}

void NoteGpuSkip(const std::string& reason) {
  skipped.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(reason_mu);
  last_reason = reason;
}

bool QuickMode() {
  const char* v = std::getenv("SIMILE_GPU_TEST_QUICK");
  return v != nullptr && v[0] != '\0' && std::string(v) != "0";
}

ThreadPool& TestPool() {
  static ThreadPool* const pool =
      new ThreadPool(static_cast<int>(std::max(2u, std::thread::hardware_concurrency())));
  return *pool;
}

Backend& CpuReference() {
  static CpuBackend* const cpu = new CpuBackend(&TestPool());
  return *cpu;
}

std::vector<float> FastRandom(uint64_t rows, uint32_t dim, uint64_t seed) {
  std::vector<float> out(rows * dim);
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
  for (float& v : out) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    v = static_cast<float>(z >> 40) * 0x1p-23f - 1.0f;
  }
  return out;
}

ChunkResult RunChunk(Backend& backend, const std::vector<float>& queries,
                     const std::vector<float>& targets, uint32_t dim, uint32_t top_k,
                     uint32_t target_offset, uint64_t extra_ld, const ResidentTargets* resident) {
  const auto q = static_cast<uint32_t>(queries.size() / dim);
  const auto n = static_cast<uint32_t>(targets.size() / dim);
  ChunkResult r;
  ChunkArgs args;
  args.queries = MatrixView{queries.data(), q, dim};
  args.targets = MatrixView{targets.data(), n, dim};
  args.target_offset = target_offset;
  args.top_k = top_k;
  args.resident = resident;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  if (top_k == 0) {
    args.out.ld = n + extra_ld;
    r.scores.assign(uint64_t{q} * args.out.ld, nan);
    args.out.scores = r.scores.data();
  } else {
    const uint64_t k = std::min(top_k, n);
    r.top_indices.assign(q * k, 0xffffffffu);
    r.top_scores.assign(q * k, nan);
    args.out.top_indices = r.top_indices.data();
    args.out.top_scores = r.top_scores.data();
  }
  absl::StatusOr<uint64_t> written = backend.Cosine(args);
  r.status = written.status();
  if (written.ok()) r.written = *written;
  return r;
}

void CheckSameResults(const ChunkResult& gpu, const ChunkResult& cpu,
                      const std::vector<float>& queries, const std::vector<float>& targets,
                      uint32_t dim, uint32_t top_k, uint32_t target_offset, uint64_t extra_ld,
                      double tolerance, const std::string& label) {
  INFO(label);
  REQUIRE(cpu.status.ok());
  INFO("gpu status: " << gpu.status.ToString());
  REQUIRE(gpu.status.ok());
  CHECK(gpu.written == cpu.written);
  const uint64_t q = queries.size() / dim;
  const uint64_t n = targets.size() / dim;
  uint64_t bad = 0;
  std::ostringstream first;
  auto note = [&](const std::string& what) {
    if (bad++ < 5) first << "\n  " << what;
  };
  if (top_k == 0) {
    const uint64_t ld = n + extra_ld;
    double max_error = 0;
    // The independent float64 reference too, where it costs little (every case but the largest).
    const bool exact = q * n * dim <= uint64_t{400'000'000};
    for (uint64_t j = 0; j < q; ++j) {
      for (uint64_t t = 0; t < ld; ++t) {
        const float g = gpu.scores[j * ld + t];
        const float c = cpu.scores[j * ld + t];
        if (t >= n) {
          if (!std::isnan(g)) note("padding written at q=" + std::to_string(j) + " t=" + std::to_string(t));
          continue;
        }
        const double error = std::fabs(double{g} - c);
        if (std::isnan(g) || !(error <= tolerance)) {
          std::ostringstream s;
          s << "q=" << j << " t=" << t << " gpu=" << g << " cpu=" << c;
          note(s.str());
        }
        if (!std::isnan(g)) max_error = std::max(max_error, error);
        if (exact) {
          const double truth =
              ReferenceCosine(queries.data() + j * dim, targets.data() + t * dim, dim);
          if (!(std::fabs(g - truth) <= tolerance)) {
            std::ostringstream s;
            s << "q=" << j << " t=" << t << " gpu=" << g << " float64 reference=" << truth;
            note(s.str());
          }
        }
      }
    }
    INFO("max |gpu - cpu| = " << max_error);
    INFO("first mismatches:" << first.str());
    CHECK(bad == 0);
    return;
  }
  const uint64_t k = std::min<uint64_t>(top_k, n);
  for (uint64_t j = 0; j < q; ++j) {
    std::unordered_set<uint32_t> seen;
    for (uint64_t i = 0; i < k; ++i) {
      const uint32_t idx = gpu.top_indices[j * k + i];
      const float g = gpu.top_scores[j * k + i];
      const float c = cpu.top_scores[j * k + i];
      std::ostringstream s;
      s << "q=" << j << " i=" << i << " index=" << idx << " gpu=" << g << " cpu=" << c;
      if (idx < target_offset || idx - target_offset >= n || !seen.insert(idx).second) {
        note(s.str() + ": index out of range or repeated");
        continue;
      }
      if (std::isnan(g) || !(std::fabs(double{g} - c) <= 2 * tolerance)) {
        note(s.str() + ": i-th best score differs from the CPU's");
      }
      const double truth = ReferenceCosine(queries.data() + j * dim,
                                           targets.data() + uint64_t{idx - target_offset} * dim, dim);
      if (!(std::fabs(g - truth) <= tolerance)) {
        note(s.str() + ": not that target's score (" + std::to_string(truth) + ")");
      }
      if (i > 0) {
        const float prev = gpu.top_scores[j * k + i - 1];
        const uint32_t prev_idx = gpu.top_indices[j * k + i - 1];
        if (prev < g || (prev == g && prev_idx > idx)) note(s.str() + ": out of order");
      }
    }
  }
  INFO("first mismatches:" << first.str());
  CHECK(bad == 0);
}

}  // namespace simile::testing
