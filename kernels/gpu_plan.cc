#include "kernels/gpu_plan.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace simile::kernels {
namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

uint64_t Mul(uint64_t a, uint64_t b) {
  uint64_t r = 0;
  return __builtin_mul_overflow(a, b, &r) ? kMax : r;
}
uint64_t Add(uint64_t a, uint64_t b) {
  uint64_t r = 0;
  return __builtin_add_overflow(a, b, &r) ? kMax : r;
}
uint64_t CeilDiv(uint64_t a, uint64_t b) { return a / b + (a % b != 0 ? 1 : 0); }
uint64_t AlignUp(uint64_t bytes) {
  return bytes > kMax - kRegionAlignment ? kMax : CeilDiv(bytes, kRegionAlignment) * kRegionAlignment;
}

// Appends a region of `bytes` (if any) at the aligned end of the layout; returns its offset.
uint64_t Place(uint64_t bytes, uint64_t* end) {
  if (bytes == 0) return 0;
  const uint64_t offset = *end;
  *end = Add(offset, AlignUp(bytes));
  return offset;
}

}  // namespace

absl::Status GpuPlanOptions::Validate() const {
  if (sub_chunk_target_bytes == 0) {
    return absl::InvalidArgumentError("gpu: sub_chunk_target_bytes must be positive");
  }
  if (sub_chunk_score_bytes == 0) {
    return absl::InvalidArgumentError("gpu: sub_chunk_score_bytes must be positive");
  }
  if (max_fused_queries > 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("gpu: max_fused_queries must be in [0, 4], got ", max_fused_queries));
  }
  return absl::OkStatus();
}

TopKFirstPass FirstPassFor(uint32_t k_eff) {
  if (k_eff <= 8) return TopKFirstPass::kRegister8;
  if (k_eff <= 32) return TopKFirstPass::kRegister32;
  return TopKFirstPass::kSortTiles;
}

uint32_t FirstPassSpan(TopKFirstPass pass) {
  return pass == TopKFirstPass::kSortTiles ? kSortTile : kRegisterSpan;
}

std::vector<TopKPass> PlanTopKPasses(uint64_t n, uint32_t k_eff) {
  std::vector<TopKPass> passes;
  if (n == 0 || k_eff == 0 || k_eff > kMaxDeviceTopK) return passes;
  TopKPass first;
  first.kind = TopKPass::Kind::kFirst;
  first.input = TopKPass::Buffer::kScores;
  first.output = TopKPass::Buffer::kCandA;
  first.input_count = n;
  first.groups = CeilDiv(n, FirstPassSpan(FirstPassFor(k_eff)));
  passes.push_back(first);

  uint64_t m = first.output_count(k_eff);
  TopKPass::Buffer current = TopKPass::Buffer::kCandA;
  // k_eff <= kSortTile / 4, so each reduce pass shrinks m at least ~3-fold (see gpu_plan.h).
  while (m > kSortTile - k_eff) {
    TopKPass reduce;
    reduce.kind = TopKPass::Kind::kReduce;
    reduce.input = current;
    reduce.output = current == TopKPass::Buffer::kCandA ? TopKPass::Buffer::kCandB
                                                        : TopKPass::Buffer::kCandA;
    reduce.input_count = m;
    reduce.groups = CeilDiv(m, kSortTile);
    passes.push_back(reduce);
    m = reduce.output_count(k_eff);
    current = reduce.output;
  }
  TopKPass final_merge;
  final_merge.kind = TopKPass::Kind::kFinalMerge;
  final_merge.input = current;
  final_merge.output = TopKPass::Buffer::kBest;
  final_merge.input_count = m;
  final_merge.groups = 1;
  passes.push_back(final_merge);
  return passes;
}

absl::StatusOr<GpuCallPlan> PlanGpuCall(uint32_t q, uint32_t dim, uint64_t rows, uint32_t top_k,
                                        const GpuPlanOptions& options,
                                        bool resident_targets) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  if (q == 0 || dim == 0 || rows == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("gpu: empty call (q=", q, ", dim=", dim, ", rows=", rows, ")"));
  }
  if (dim > std::numeric_limits<uint32_t>::max() - 3) {
    return absl::InvalidArgumentError(absl::StrCat("gpu: dim ", dim, " is too large"));
  }
  if (rows > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError(absl::StrCat("gpu: ", rows, " target rows exceed 2^32 - 1"));
  }
  GpuCallPlan p;
  p.q = q;
  p.dim = dim;
  p.padded_dim = static_cast<uint32_t>(CeilDiv(dim, 4) * 4);
  p.rows = rows;
  p.top_k = top_k;
  p.resident_targets = resident_targets;
  p.k_eff = static_cast<uint32_t>(std::min<uint64_t>(top_k, rows));
  p.score_path = q <= options.max_fused_queries ? ScorePath::kFused : ScorePath::kGemm;
  p.top_k_mode = top_k == 0                  ? TopKMode::kNone
                 : p.k_eff <= kMaxDeviceTopK ? TopKMode::kDevice
                                             : TopKMode::kHost;

  const uint64_t row_bytes = uint64_t{p.padded_dim} * sizeof(float);
  const uint64_t by_targets = std::max<uint64_t>(1, options.sub_chunk_target_bytes / row_bytes);
  const uint64_t by_scores =
      std::max<uint64_t>(1, options.sub_chunk_score_bytes / (uint64_t{q} * sizeof(float)));
  // cuBLAS takes int sizes.
  const uint64_t int_max = static_cast<uint64_t>(std::numeric_limits<int32_t>::max());
  p.sub_rows = std::min({rows, by_targets, by_scores, int_max});
  p.num_sub_chunks = CeilDiv(rows, p.sub_rows);

  if (p.top_k_mode == TopKMode::kDevice) {
    for (const TopKPass& pass : PlanTopKPasses(p.sub_rows, p.k_eff)) {
      const uint64_t out = pass.output_count(p.k_eff);
      if (pass.output == TopKPass::Buffer::kCandA) {
        p.cand_a_per_query = std::max(p.cand_a_per_query, out);
      } else if (pass.output == TopKPass::Buffer::kCandB) {
        p.cand_b_per_query = std::max(p.cand_b_per_query, out);
      }
    }
  }

  const uint64_t s = p.sub_rows;
  const uint64_t kk = p.k_eff;
  DeviceLayout& d = p.device;
  uint64_t end = 0;
  d.queries = Place(Mul(Mul(q, p.padded_dim), sizeof(float)), &end);
  // Resident targets are read in place: no target buffers on the device, no staging.
  const uint64_t target_buffer = resident_targets ? 0 : Mul(s, row_bytes);
  d.targets[0] = Place(target_buffer, &end);
  d.targets[1] = Place(target_buffer, &end);
  if (p.score_path == ScorePath::kGemm) d.norms = Place(Mul(s, sizeof(float)), &end);
  d.scores = Place(Mul(Mul(q, s), sizeof(float)), &end);
  if (p.top_k_mode == TopKMode::kDevice) {
    d.cand_a = Place(Mul(Mul(q, p.cand_a_per_query), sizeof(uint64_t)), &end);
    d.cand_b = Place(Mul(Mul(q, p.cand_b_per_query), sizeof(uint64_t)), &end);
    d.best = Place(Mul(Mul(q, kk), sizeof(uint64_t)), &end);
    d.out_indices = Place(Mul(Mul(q, kk), sizeof(uint32_t)), &end);
    d.out_scores = Place(Mul(Mul(q, kk), sizeof(float)), &end);
  }
  d.total_bytes = end;

  PinnedLayout& h = p.pinned;
  end = 0;
  h.targets[0] = Place(target_buffer, &end);
  h.targets[1] = Place(target_buffer, &end);
  if (p.top_k_mode != TopKMode::kDevice) {
    h.results[0] = Place(Mul(Mul(q, s), sizeof(float)), &end);
    h.results[1] = Place(Mul(Mul(q, s), sizeof(float)), &end);
  }
  h.total_bytes = end;
  if (d.total_bytes == kMax || h.total_bytes == kMax) {
    return absl::InvalidArgumentError("gpu: the call's buffers overflow 64-bit sizes");
  }
  return p;
}

DeviceMemoryModel GpuMemoryModel(uint32_t q, uint32_t dim, uint32_t top_k,
                                 const GpuPlanOptions& options) {
  // See gpu_plan.h: the layout of PlanGpuCall bounded by fixed + n * per_row for every n, using
  // ceil(a / b) <= a / b + 1 for the candidate buffers (first-pass spans are >= kSortTile).
  const uint64_t padded_dim = CeilDiv(dim, 4) * 4;
  const bool gemm = q > options.max_fused_queries;
  // k_eff = min(top_k, n) may be selected on the device even when top_k > kMaxDeviceTopK.
  const bool device_top_k = top_k > 0;
  const uint64_t k = std::min(top_k, kMaxDeviceTopK);
  const uint64_t tile = kSortTile;

  uint64_t per_row = Mul(2 * padded_dim, sizeof(float));       // Two target buffers.
  per_row = Add(per_row, gemm ? sizeof(float) : 0);             // Norms.
  per_row = Add(per_row, Mul(q, sizeof(float)));                // Scores.
  uint64_t fixed = Mul(Mul(q, padded_dim), sizeof(float));     // Queries.
  fixed = Add(fixed, 10 * kRegionAlignment);                    // Alignment of 10 regions.
  if (device_top_k) {
    // cand_a <= (n / tile + 1) k; cand_b <= (cand_a / tile + 1) k; best, indices and scores: 2 k.
    per_row = Add(per_row, CeilDiv(Mul(Mul(Mul(q, 8), k), tile + k), tile * tile));
    fixed = Add(fixed, Mul(Mul(q, 8), 4 * k));
    fixed = Add(fixed, CeilDiv(Mul(Mul(q, 8), k * k), tile));
  }
  const uint64_t own = Mul(dim, sizeof(float));
  DeviceMemoryModel model;
  model.fixed_bytes = fixed;
  model.bytes_per_row_extra = per_row > own ? per_row - own : 0;
  return model;
}

}  // namespace simile::kernels
