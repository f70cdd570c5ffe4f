// The GPU call planner (kernels/gpu_plan.h): padding, paths, sub-chunk sizes, the top-k passes,
// the workspace layout, and the memory model the chunk planner relies on (it must bound what a
// call really allocates). Host-only: runs everywhere.
#include "kernels/gpu_plan.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <utility>
#include <vector>

namespace simile::kernels {
namespace {

GpuCallPlan Plan(uint32_t q, uint32_t dim, uint64_t rows, uint32_t top_k,
                 const GpuPlanOptions& options = {}) {
  absl::StatusOr<GpuCallPlan> plan = PlanGpuCall(q, dim, rows, top_k, options);
  INFO(plan.status().ToString());
  REQUIRE(plan.ok());
  return *plan;
}

TEST_CASE("Rows are padded to a multiple of four floats") {
  const std::vector<std::pair<uint32_t, uint32_t>> cases = {
      {1, 4}, {3, 4}, {4, 4}, {17, 20}, {127, 128}, {768, 768}, {1023, 1024}, {4096, 4096}};
  for (const auto& [dim, padded] : cases) {
    INFO("dim " << dim);
    CHECK(Plan(1, dim, 10, 0).padded_dim == padded);
  }
}

TEST_CASE("Up to max_fused_queries queries take the fused kernel, more take SGEMM") {
  CHECK(Plan(1, 64, 100, 0).score_path == ScorePath::kFused);
  CHECK(Plan(4, 64, 100, 0).score_path == ScorePath::kFused);
  CHECK(Plan(5, 64, 100, 0).score_path == ScorePath::kGemm);
  GpuPlanOptions gemm_only;
  gemm_only.max_fused_queries = 0;
  CHECK(Plan(1, 64, 100, 0, gemm_only).score_path == ScorePath::kGemm);
}

TEST_CASE("Top-k runs on the device up to k = 1024, on the host beyond") {
  CHECK(Plan(2, 8, 5000, 0).top_k_mode == TopKMode::kNone);
  CHECK(Plan(2, 8, 5000, 1).top_k_mode == TopKMode::kDevice);
  CHECK(Plan(2, 8, 5000, 1024).top_k_mode == TopKMode::kDevice);
  CHECK(Plan(2, 8, 5000, 1025).top_k_mode == TopKMode::kHost);
  // k_eff = min(top_k, rows) decides.
  const GpuCallPlan small_chunk = Plan(2, 8, 1000, 2000);
  CHECK(small_chunk.k_eff == 1000);
  CHECK(small_chunk.top_k_mode == TopKMode::kDevice);
  CHECK(Plan(2, 8, 1500, 2000).top_k_mode == TopKMode::kHost);
}

TEST_CASE("Sub-chunks are bounded by the target and score byte budgets") {
  // dim 768: 3072 bytes a row; 32 MiB / 3072 = 10922 rows.
  const GpuCallPlan one = Plan(1, 768, 1'000'000, 0);
  CHECK(one.sub_rows == 10922);
  CHECK(one.num_sub_chunks == (1'000'000 + 10921) / 10922);
  // 4096 queries: 32 MiB of scores is 2048 rows.
  CHECK(Plan(4096, 768, 1'000'000, 0).sub_rows == 2048);
  // Small chunks are one sub-chunk.
  const GpuCallPlan small = Plan(3, 17, 500, 0);
  CHECK(small.sub_rows == 500);
  CHECK(small.num_sub_chunks == 1);
  // The sub-chunks cover the rows exactly.
  GpuPlanOptions tiny;
  tiny.sub_chunk_target_bytes = 4096;
  const GpuCallPlan many = Plan(2, 33, 1001, 0, tiny);
  CHECK(many.sub_rows == 4096 / (36 * 4));
  uint64_t covered = 0;
  for (uint64_t i = 0; i < many.num_sub_chunks; ++i) {
    CHECK(many.SubRows(i) >= 1);
    CHECK(many.SubRows(i) <= many.sub_rows);
    covered += many.SubRows(i);
  }
  CHECK(covered == 1001);
}

TEST_CASE("Top-k passes shrink to one tile and end in a merge into the best list") {
  for (uint32_t k : {1u, 5u, 8u, 9u, 32u, 33u, 100u, 1000u, 1024u}) {
    for (uint64_t n : {uint64_t{1}, uint64_t{7}, uint64_t{4096}, uint64_t{8193}, uint64_t{100'000},
                       uint64_t{10'000'000}}) {
      const uint32_t k_eff = static_cast<uint32_t>(std::min<uint64_t>(k, n));
      INFO("k " << k_eff << " n " << n);
      const std::vector<TopKPass> passes = PlanTopKPasses(n, k_eff);
      REQUIRE(passes.size() >= 2);
      CHECK(passes.front().kind == TopKPass::Kind::kFirst);
      CHECK(passes.front().input_count == n);
      const uint32_t span = FirstPassSpan(FirstPassFor(k_eff));
      CHECK(passes.front().groups == (n + span - 1) / span);
      CHECK(passes.back().kind == TopKPass::Kind::kFinalMerge);
      CHECK(passes.back().output == TopKPass::Buffer::kBest);
      CHECK(passes.back().groups == 1);
      CHECK(passes.back().input_count + k_eff <= kSortTile);
      for (size_t i = 1; i < passes.size(); ++i) {
        CHECK(passes[i].input == passes[i - 1].output);
        CHECK(passes[i].input_count == passes[i - 1].output_count(k_eff));
        if (passes[i].kind == TopKPass::Kind::kReduce) {
          CHECK(passes[i].input_count > kSortTile - k_eff);
          CHECK(passes[i].output_count(k_eff) < passes[i].input_count);
          CHECK(passes[i].groups == (passes[i].input_count + kSortTile - 1) / kSortTile);
        }
      }
    }
  }
  CHECK(FirstPassFor(8) == TopKFirstPass::kRegister8);
  CHECK(FirstPassFor(32) == TopKFirstPass::kRegister32);
  CHECK(FirstPassFor(33) == TopKFirstPass::kSortTiles);
  CHECK(PlanTopKPasses(100, 0).empty());
  CHECK(PlanTopKPasses(5000, 1025).empty());
}

TEST_CASE("Candidate buffers hold every pass of every sub-chunk size") {
  GpuPlanOptions options;
  options.sub_chunk_target_bytes = 64ull << 20;
  options.sub_chunk_score_bytes = 64ull << 20;
  for (uint32_t k : {1u, 10u, 32u, 33u, 500u, 1024u}) {
    const GpuCallPlan plan = Plan(3, 4, 3'000'000, k, options);
    REQUIRE(plan.top_k_mode == TopKMode::kDevice);
    for (uint64_t n : {uint64_t{1}, plan.sub_rows / 3, plan.sub_rows - 1, plan.sub_rows}) {
      INFO("k " << k << " n " << n);
      for (const TopKPass& pass : PlanTopKPasses(n, plan.k_eff)) {
        const uint64_t out = pass.output_count(plan.k_eff);
        if (pass.output == TopKPass::Buffer::kCandA) CHECK(out <= plan.cand_a_per_query);
        if (pass.output == TopKPass::Buffer::kCandB) CHECK(out <= plan.cand_b_per_query);
        if (pass.output == TopKPass::Buffer::kBest) CHECK(out == plan.k_eff);
      }
    }
  }
}

// The regions of a layout in offset order, with their sizes.
std::vector<std::pair<uint64_t, uint64_t>> Regions(const GpuCallPlan& p) {
  const uint64_t q = p.q;
  const uint64_t s = p.sub_rows;
  const uint64_t row = uint64_t{p.padded_dim} * 4;
  std::vector<std::pair<uint64_t, uint64_t>> r = {
      {p.device.queries, q * row}, {p.device.targets[0], s * row}, {p.device.targets[1], s * row},
      {p.device.scores, q * s * 4}};
  if (p.score_path == ScorePath::kGemm) r.emplace_back(p.device.norms, s * 4);
  if (p.top_k_mode == TopKMode::kDevice) {
    r.emplace_back(p.device.cand_a, q * p.cand_a_per_query * 8);
    if (p.cand_b_per_query > 0) r.emplace_back(p.device.cand_b, q * p.cand_b_per_query * 8);
    r.emplace_back(p.device.best, q * p.k_eff * 8);
    r.emplace_back(p.device.out_indices, q * p.k_eff * 4);
    r.emplace_back(p.device.out_scores, q * p.k_eff * 4);
  }
  std::sort(r.begin(), r.end());
  return r;
}

TEST_CASE("Workspace regions are aligned, disjoint and inside the total") {
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    const uint32_t q = 1 + rng() % 300;
    const uint32_t dim = 1 + rng() % 2000;
    const uint64_t rows = 1 + rng() % 200'000;
    const uint32_t top_k = rng() % 3 == 0 ? 0 : 1 + rng() % 1500;
    const GpuCallPlan p = Plan(q, dim, rows, top_k);
    INFO("q " << q << " dim " << dim << " rows " << rows << " k " << top_k);
    uint64_t end = 0;
    for (const auto& [offset, size] : Regions(p)) {
      CHECK(offset % kRegionAlignment == 0);
      CHECK(offset >= end);
      end = offset + size;
    }
    CHECK(end <= p.device.total_bytes);
    CHECK(p.pinned.targets[1] >= p.pinned.targets[0] + p.sub_rows * p.padded_dim * 4);
    if (p.top_k_mode != TopKMode::kDevice) {
      CHECK(p.pinned.results[0] >= p.pinned.targets[1] + p.sub_rows * p.padded_dim * 4);
      CHECK(p.pinned.results[1] >= p.pinned.results[0] + q * p.sub_rows * 4);
      CHECK(p.pinned.total_bytes >= p.pinned.results[1] + q * p.sub_rows * 4);
    }
  }
}

TEST_CASE("The memory model bounds the device workspace of every chunk size") {
  std::mt19937 rng(11);
  for (int i = 0; i < 400; ++i) {
    GpuPlanOptions options;
    options.sub_chunk_target_bytes = (uint64_t{1} << (12 + rng() % 16));
    options.sub_chunk_score_bytes = (uint64_t{1} << (12 + rng() % 16));
    options.max_fused_queries = rng() % 5;
    const uint32_t q = 1 + rng() % 5000;
    const uint32_t dim = 1 + rng() % 4096;
    const uint32_t top_k = rng() % 3 == 0 ? 0 : 1 + rng() % 2000;
    const DeviceMemoryModel model = GpuMemoryModel(q, dim, top_k, options);
    CHECK(model.fixed_bytes >= uint64_t{q} * dim * 4);
    for (uint64_t n : {uint64_t{1}, uint64_t{2}, uint64_t{1} + rng() % 1000,
                       uint64_t{1} + rng() % 100'000, uint64_t{1} + rng() % 20'000'000}) {
      const GpuCallPlan plan = Plan(q, dim, n, top_k, options);
      const uint64_t bound = model.fixed_bytes + n * (uint64_t{dim} * 4 + model.bytes_per_row_extra);
      INFO("q " << q << " dim " << dim << " k " << top_k << " n " << n << " plan "
                << plan.device.total_bytes << " model " << bound);
      CHECK(plan.device.total_bytes <= bound);
    }
  }
}

TEST_CASE("Bad calls and options are invalid arguments") {
  const GpuPlanOptions ok;
  CHECK(PlanGpuCall(0, 4, 10, 0, ok).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(PlanGpuCall(1, 0, 10, 0, ok).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(PlanGpuCall(1, 4, 0, 0, ok).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(PlanGpuCall(1, 4, uint64_t{1} << 32, 0, ok).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(PlanGpuCall(1, std::numeric_limits<uint32_t>::max(), 10, 0, ok).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(PlanGpuCall(std::numeric_limits<uint32_t>::max(), std::numeric_limits<uint32_t>::max() - 8,
                    10, 0, ok)
            .status()
            .code() == absl::StatusCode::kInvalidArgument);
  GpuPlanOptions bad;
  bad.max_fused_queries = 5;
  CHECK(PlanGpuCall(1, 4, 10, 0, bad).status().code() == absl::StatusCode::kInvalidArgument);
  bad = GpuPlanOptions();
  bad.sub_chunk_target_bytes = 0;
  CHECK(!bad.Validate().ok());
  bad = GpuPlanOptions();
  bad.sub_chunk_score_bytes = 0;
  CHECK(!bad.Validate().ok());
}

TEST_CASE("Resident targets: no target buffers on the device or in pinned memory") {
  for (const uint32_t top_k : {0u, 10u}) {
    const GpuCallPlan streamed = Plan(4, 768, 100000, top_k);
    absl::StatusOr<GpuCallPlan> resident = PlanGpuCall(4, 768, 100000, top_k, {}, /*resident_targets=*/true);
    REQUIRE(resident.ok());
    CHECK(resident->resident_targets);
    CHECK(resident->device.targets[0] == 0);
    CHECK(resident->device.targets[1] == 0);
    CHECK(resident->pinned.targets[0] == 0);
    CHECK(resident->sub_rows == streamed.sub_rows);
    const uint64_t buffers = 2 * streamed.sub_rows * 768 * sizeof(float);
    CHECK(resident->device.total_bytes + buffers <= streamed.device.total_bytes);
    CHECK(resident->pinned.total_bytes + buffers <= streamed.pinned.total_bytes);
    // The memory model (what the executor plans with, minus the rows for resident targets) still bounds it.
    const DeviceMemoryModel m = GpuMemoryModel(4, 768, top_k, {});
    CHECK(resident->device.total_bytes <= m.fixed_bytes + resident->sub_rows * m.bytes_per_row_extra);
  }
}

}  // namespace
}  // namespace simile::kernels
