// The GPU backend against the CPU backend (core/cpu_backend.h), the reference: random shapes
// (dims 1..4096 with odd ones, N from 1 to 10^7, Q from 1 to 4096), poisoned outputs (every slot
// must be written, padding never), full scores and top-k (k = 1, small, >32, 1024, >1024 on the
// host, k = N), ties, extreme magnitudes, the SGEMM path for every Q, many sub-chunks, TF32, and
// concurrent calls. |gpu - cpu| <= 1e-5 everywhere (5e-3 with TF32).
//
// Tagged [gpu]; each skips visibly without a usable GPU. [large] cases are left out with
// SIMILE_GPU_TEST_QUICK=1 (compute-sanitizer runs).
#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "core/backend.h"
#include "core/vram_monitor.h"
#include "kernels/gpu_backend.h"
#include "tests/kernels/gpu_test_support.h"

namespace simile::testing {
namespace {

const std::vector<uint32_t> kDims = {1, 3, 17, 127, 768, 1023, 4096};

uint64_t MaxRowsFor(uint32_t dim, bool quick) {
  const uint64_t floats = quick ? 200'000 : 4'000'000;
  return std::max<uint64_t>(1, std::min<uint64_t>(quick ? 3000 : 30'000, floats / dim));
}

TEST_CASE("GPU scores equal the CPU's over random shapes", "[gpu]") {
  SIMILE_GPU_OR_SKIP(gpu);
  const bool quick = QuickMode();
  std::mt19937_64 rng(1);
  for (uint32_t dim : kDims) {
    for (uint32_t q : {1u, 2u, 3u, 4u, 5u, 16u}) {
      const uint64_t max_rows = MaxRowsFor(dim, quick);
      for (uint64_t n : {uint64_t{1}, uint64_t{2} + rng() % 30, uint64_t{1} + rng() % max_rows}) {
        CheckRandomCase(*gpu, q, n, dim, 0, rng());
      }
    }
  }
  // A chunk with a global offset and output rows longer than the chunk (ld > N).
  CheckRandomCase(*gpu, 3, 1000, 33, 0, 5, 123456, 17);
  CheckRandomCase(*gpu, 9, 1000, 33, 0, 6, 7, 5);
}

TEST_CASE("GPU top-k equals the CPU's over random shapes", "[gpu]") {
  SIMILE_GPU_OR_SKIP(gpu);
  const bool quick = QuickMode();
  std::mt19937_64 rng(2);
  for (uint32_t dim : {1u, 3u, 17u, 127u, 768u, 1023u}) {
    for (uint32_t q : {1u, 4u, 6u, 33u}) {
      const uint64_t n = std::max<uint64_t>(1100, MaxRowsFor(dim, quick));
      for (uint32_t k : {1u, 7u, 10u, 32u, 33u, 100u, 1024u, 1025u}) {
        CheckRandomCase(*gpu, q, n, dim, k, rng(), static_cast<uint32_t>(rng() % 1000));
      }
    }
  }
  // k = N, and k > N (k_eff = N).
  for (uint32_t q : {1u, 5u}) {
    CheckRandomCase(*gpu, q, 1, 8, 1, 3);
    CheckRandomCase(*gpu, q, 300, 8, 300, 4);
    CheckRandomCase(*gpu, q, 2000, 8, 2000, 5);
    CheckRandomCase(*gpu, q, 40, 8, 100, 6);
  }
}

TEST_CASE("GPU results equal the CPU's at large N and Q", "[gpu][large]") {
  SIMILE_GPU_OR_SKIP(gpu);
  if (QuickMode()) {
    WARN("large shapes left out (SIMILE_GPU_TEST_QUICK)");
    return;
  }
  CheckRandomCase(*gpu, 1, 10'000'000, 1, 0, 11);
  CheckRandomCase(*gpu, 1, 10'000'000, 3, 10, 12);
  CheckRandomCase(*gpu, 2, 2'000'000, 17, 0, 13);
  CheckRandomCase(*gpu, 3, 3'000'000, 4, 1000, 14);
  CheckRandomCase(*gpu, 1, 1'000'000, 768, 0, 15);
  CheckRandomCase(*gpu, 1, 1'000'000, 768, 100, 16);
  CheckRandomCase(*gpu, 1, 100'000, 4096, 0, 17);
  CheckRandomCase(*gpu, 4096, 4000, 128, 0, 18);
  CheckRandomCase(*gpu, 4096, 20'000, 64, 100, 19);
  CheckRandomCase(*gpu, 4096, 20'000, 64, 5, 20);
  CheckRandomCase(*gpu, 257, 100'000, 256, 1024, 21);
  CheckRandomCase(*gpu, 16, 200'000, 768, 2000, 22);  // Host-side selection.
}

// All targets equal: every score ties, so the k best are the k lowest indices.
TEST_CASE("Ties rank the lower index first, as on the CPU", "[gpu]") {
  SIMILE_GPU_OR_SKIP(gpu);
  for (uint32_t q : {3u, 6u}) {  // Fused kernel and SGEMM.
    const uint32_t dim = 24;
    const uint32_t n = 5000;
    const std::vector<float> queries = FastRandom(q, dim, 100 + q);
    const std::vector<float> one = FastRandom(1, dim, 7);
    std::vector<float> same;
    for (uint32_t t = 0; t < n; ++t) same.insert(same.end(), one.begin(), one.end());
    for (uint32_t k : {1u, 10u, 40u, 1024u}) {
      const ChunkResult r = RunChunk(*gpu, queries, same, dim, k, 1000);
      INFO("q " << q << " k " << k << " " << r.status.ToString());
      REQUIRE(r.status.ok());
      for (uint32_t j = 0; j < q; ++j) {
        for (uint32_t i = 0; i < k; ++i) {
          CHECK(r.top_indices[j * k + i] == 1000 + i);
          CHECK(r.top_scores[j * k + i] == r.top_scores[j * k]);
        }
      }
    }
    // Two distinct vectors alternating: ties within each, exact order equal to the CPU's.
    const std::vector<float> other = FastRandom(1, dim, 8);
    std::vector<float> two;
    for (uint32_t t = 0; t < n; ++t) {
      const std::vector<float>& v = t % 2 == 0 ? one : other;
      two.insert(two.end(), v.begin(), v.end());
    }
    for (uint32_t k : {5u, 33u, 3000u}) {
      const ChunkResult g = RunChunk(*gpu, queries, two, dim, k);
      const ChunkResult c = RunChunk(CpuReference(), queries, two, dim, k);
      REQUIRE(g.status.ok());
      CHECK(g.top_indices == c.top_indices);
    }
  }
}

// Rows the float fast path cannot take (norms outside [2^-50, 2^50], zero rows, denormals, an
// element near FLT_MAX) are recomputed in double, as on the CPU.
TEST_CASE("Zero, tiny, huge and denormal vectors score as on the CPU", "[gpu]") {
  SIMILE_GPU_OR_SKIP(gpu);
  const uint32_t dim = 37;
  const uint32_t n = 330;
  std::vector<float> targets = FastRandom(n, dim, 9);
  const float scales[] = {1.0f, 0.0f, 1e30f, 1e-30f, 1e-40f, 1e19f, -1e-20f, 1e-3f, 3e20f, 1.0f, -1.0f};
  for (uint32_t t = 0; t < n; ++t) {
    const float scale = scales[t % 11];
    for (uint32_t d = 0; d < dim; ++d) targets[t * dim + d] *= scale;
    if (t % 17 == 3) targets[t * dim + t % dim] = 3e38f;  // Its square overflows a float.
  }
  for (uint32_t q : {4u, 8u}) {
    std::vector<float> queries = FastRandom(q, dim, 10);
    const float query_scales[] = {1.0f, 0.0f, 1e-35f, 1e35f};
    for (uint32_t j = 0; j < q; ++j) {
      for (uint32_t d = 0; d < dim; ++d) queries[j * dim + d] *= query_scales[j % 4];
    }
    for (uint32_t k : {0u, 20u, 100u}) {
      const ChunkResult g = RunChunk(*gpu, queries, targets, dim, k);
      const ChunkResult c = RunChunk(CpuReference(), queries, targets, dim, k);
      CheckSameResults(g, c, queries, targets, dim, k, 0, 0, 1e-5,
                       "extreme magnitudes, q=" + std::to_string(q) + " k=" + std::to_string(k));
    }
  }
}

// Tiny sub-chunks: dozens of pipelined uploads per call (double buffering, events, the running
// top-k merge), and SGEMM even for one query.
TEST_CASE("Many sub-chunks and SGEMM for every Q give the same results", "[gpu]") {
  SIMILE_GPU_OR_SKIP(shared);
  kernels::GpuBackendOptions options;
  options.plan.sub_chunk_target_bytes = 8192;
  options.plan.sub_chunk_score_bytes = 8192;
  options.plan.max_fused_queries = 0;
  options.lanes_per_device = 1;
  std::string reason;
  std::unique_ptr<kernels::GpuBackendSet> set = MakeGpus(options, &reason);
  INFO(reason);
  REQUIRE(set != nullptr);
  Backend& gpu = *set->backends.front();
  for (uint32_t q : {1u, 2u, 5u}) {
    for (uint32_t k : {0u, 3u, 20u, 50u, 1025u}) {
      CheckRandomCase(gpu, q, 5000, 17, k, 30 + q * 7 + k, 77);
      CheckRandomCase(gpu, q, 777, 64, k, 31 + q * 7 + k);
    }
  }
  options.plan.max_fused_queries = 4;  // And the fused kernel through the same pipeline.
  set = MakeGpus(options, &reason);
  REQUIRE(set != nullptr);
  for (uint32_t q : {1u, 3u}) {
    for (uint32_t k : {0u, 8u, 40u}) CheckRandomCase(*set->backends.front(), q, 4000, 12, k, 40 + k);
  }
}

TEST_CASE("TF32 is opt-in and stays within 5e-3 of FP32", "[gpu]") {
  SIMILE_GPU_OR_SKIP(shared);
  kernels::GpuBackendOptions options;
  options.allow_tf32 = true;
  std::string reason;
  std::unique_ptr<kernels::GpuBackendSet> set = MakeGpus(options, &reason);
  REQUIRE(set != nullptr);
  CheckRandomCase(*set->backends.front(), 64, 3000, 768, 0, 50, 0, 0, 5e-3);
}

TEST_CASE("Concurrent calls on one device give each caller its own correct results", "[gpu]") {
  SIMILE_GPU_OR_SKIP(gpu);
  struct Job {
    uint32_t q, dim, top_k;
    uint64_t n;
    std::vector<float> queries, targets;
    ChunkResult result;
  };
  std::vector<Job> jobs;
  std::mt19937_64 rng(60);
  const uint32_t qs[] = {1, 3, 8, 40};
  const uint32_t ks[] = {0, 5, 64};
  for (int i = 0; i < 32; ++i) {
    Job job;
    job.q = qs[i % 4];
    job.top_k = ks[i % 3];
    job.dim = 1 + static_cast<uint32_t>(rng() % 300);
    job.n = 1 + rng() % 20'000;
    job.queries = FastRandom(job.q, job.dim, rng());
    job.targets = FastRandom(job.n, job.dim, rng());
    jobs.push_back(std::move(job));
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&jobs, gpu, t] {
      for (size_t i = t; i < jobs.size(); i += 8) {
        Job& job = jobs[i];
        job.result = RunChunk(*gpu, job.queries, job.targets, job.dim, job.top_k);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (const Job& job : jobs) {
    const ChunkResult c = RunChunk(CpuReference(), job.queries, job.targets, job.dim, job.top_k);
    CheckSameResults(job.result, c, job.queries, job.targets, job.dim, job.top_k, 0, 0, 1e-5,
                     "concurrent job q=" + std::to_string(job.q) + " n=" + std::to_string(job.n));
  }
}

TEST_CASE("Malformed chunks are invalid arguments and leave the device usable", "[gpu]") {
  SIMILE_GPU_OR_SKIP(gpu);
  const std::vector<float> queries = FastRandom(2, 8, 1);
  const std::vector<float> targets = FastRandom(10, 8, 2);
  std::vector<float> scores(20);
  ChunkArgs args;
  args.queries = MatrixView{queries.data(), 2, 8};
  args.targets = MatrixView{targets.data(), 10, 7};  // Dims differ.
  args.out.scores = scores.data();
  args.out.ld = 10;
  CHECK(gpu->Cosine(args).status().code() == absl::StatusCode::kInvalidArgument);
  args.targets.dim = 8;
  args.out.ld = 9;  // Shorter than a row.
  CHECK(gpu->Cosine(args).status().code() == absl::StatusCode::kInvalidArgument);
  args.top_k = 3;  // Top-k outputs missing.
  CHECK(gpu->Cosine(args).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(gpu->Available());
  args.top_k = 0;
  args.out.ld = 10;
  absl::StatusOr<uint64_t> written = gpu->Cosine(args);
  REQUIRE(written.ok());
  CHECK(*written == 20);
}

TEST_CASE("Device memory is reported from cudaMemGetInfo and the model grows with the shape",
          "[gpu]") {
  SIMILE_GPU_OR_SKIP(gpu);
  absl::StatusOr<DeviceMemoryInfo> info = gpu->memory_query()->Query();
  REQUIRE(info.ok());
  CHECK(info->total_bytes > (uint64_t{1} << 30));
  CHECK(info->free_bytes <= info->total_bytes);
  const DeviceMemoryModel small = gpu->MemoryModel(1, 128, 0);
  const DeviceMemoryModel large = gpu->MemoryModel(1024, 4096, 100);
  CHECK(large.fixed_bytes > small.fixed_bytes);
  CHECK(large.bytes_per_row_extra > small.bytes_per_row_extra);
  WARN(gpu->description() << ": " << info->free_bytes / (1 << 20) << " MiB free of "
                          << info->total_bytes / (1 << 20) << " MiB");
}

}  // namespace
}  // namespace simile::testing
