// The CPU cosine kernel's entry points and work splitting (see core/cpu_cosine.h). The pieces:
//   core/cpu_cosine_kernels_internal.{h,cc}   the per-ISA kernel table (the only target-attribute
//                                             code), instantiating
//   core/cpu_cosine_simd_internal.h           generic vectors and the shuffle-tree lane sums,
//   core/cpu_cosine_rows_internal.h           norms, the fused 1 x N pass, packing,
//   core/cpu_cosine_tiles_internal.h          the register-tiled Q x N kernel;
//   core/cpu_cosine_operands_internal.{h,cc}  prepared queries and packed target blocks;
//   core/cpu_cosine_exact_internal.{h,cc}     the safe range and the rescaling/double slow paths.
#include "core/cpu_cosine.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/types/span.h"
#include "core/cpu_cosine_exact_internal.h"
#include "core/cpu_cosine_kernels_internal.h"
#include "core/cpu_cosine_operands_internal.h"
#include "core/top_k.h"

namespace simile {
namespace cpu_cosine_internal {
namespace {

// ---------------------------------------------------------------------------------------------
// Tuning constants.

// Below this many multiply-adds (Q * N * dim) a call stays on the calling thread.
constexpr uint64_t kMinParallelWork = kCpuCosineMinParallelMacs;
// Single query: targets per ParallelFor chunk are about this many floats (4 MiB), at least
// kMinChunkRows rows.
constexpr size_t kChunkFloats = size_t{1} << 20;
constexpr size_t kMinChunkRows = 64;
// Single query: rows scored per kernel call (stack buffers).
constexpr size_t kSubRows = 256;
// Several queries: a block of targets is at least about this many bytes (it stays in L2 while every
// query passes over it); see MakePlan.
constexpr size_t kBlockBytes = 256 * 1024;
// Blocks of long rows still have this many (so that copying a query tile is amortized) unless that
// exceeds kMaxBlockBytes.
constexpr size_t kMinBlockRows = 16;
constexpr size_t kMaxBlockBytes = 1024 * 1024;
// Several queries, top-k: queries scored per step into a stack buffer of kTopKQueryStep x block
// rows.
constexpr size_t kTopKQueryStep = 16;

// The best instruction set this CPU supports (BestCpuIsa caches it).
CpuIsa SelectIsa() {
  for (CpuIsa isa : {CpuIsa::kAvx512, CpuIsa::kAvx2}) {
    if (Supports(isa)) return isa;
  }
  return CpuIsa::kBaseline;
}

// ---------------------------------------------------------------------------------------------
// The single-query pass.

// Single-query pass over targets [begin, end): calls emit(first_row, count, scores) per sub-range.
// `non_finite` null: the targets are known finite; else see PrepareBlock (a bad row scores 0).
template <typename Emit>
void ScoreOneQuery(const KernelSet& kernels, const PreparedQueries& q, MatrixView targets,
                   size_t begin, size_t end, std::atomic<bool>* non_finite, Emit emit) {
  const size_t dim = targets.dim;
  float dots[kSubRows];
  float sqs[kSubRows];
  for (size_t s = begin; s < end; s += kSubRows) {
    const size_t n = std::min(kSubRows, end - s);
    kernels.dots_and_squared_norms(q.rows[0], targets.Row(s), n, dim, dots, sqs);
    for (size_t j = 0; j < n; ++j) {
      if (IsSafeSquaredNorm(sqs[j])) {
        dots[j] = ClampScore(dots[j] * q.scale[0] / std::sqrt(sqs[j]));
      } else if (non_finite != nullptr && !RowIsFinite(targets.Row(s + j), dim)) {
        // A NaN or an infinity makes the squared norm NaN or +Inf, so only these rows need the
        // scan.
        non_finite->store(true, std::memory_order_relaxed);
        dots[j] = 0.0f;
      } else {
        dots[j] = SlowCosine(q.rows[0], q.norm[0], targets.Row(s + j), dim);
      }
    }
    emit(s, n, dots);
  }
}

// ---------------------------------------------------------------------------------------------
// Work splitting.

struct Plan {
  int parallelism = 1;  // Threads (the caller included) that may work on this call.
  size_t block_rows = 0;
  size_t num_blocks = 0;
};

Plan MakePlan(MatrixView queries, MatrixView targets, ThreadPool* pool) {
  Plan plan;
  const uint64_t work = uint64_t{queries.rows} * targets.rows * targets.dim;
  if (pool != nullptr && work >= kMinParallelWork)
    plan.parallelism = std::max(1, pool->num_threads());
  const size_t row_bytes = PaddedDim(targets.dim) * sizeof(float);
  // Every query passes over every block: when the queries outgrow L2, bigger blocks amortize
  // reading them again.
  const size_t block_bytes =
      std::clamp<size_t>(queries.rows * row_bytes / 4, kBlockBytes, kMaxBlockBytes);
  size_t rows = std::clamp<size_t>(block_bytes / row_bytes, kMinBlockRows, kMaxBlockRows);
  rows = std::max<size_t>(4, std::min(rows, kMaxBlockBytes / row_bytes));
  plan.block_rows = rows / 4 * 4;
  plan.num_blocks = (targets.rows + plan.block_rows - 1) / plan.block_rows;
  return plan;
}

// Runs fn(item) for item < n, on the pool when plan.parallelism > 1.
void RunItems(ThreadPool* pool, const Plan& plan, size_t n, absl::FunctionRef<void(size_t)> fn) {
  const auto range = [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) fn(i);
  };
  if (plan.parallelism > 1 && n > 1) {
    pool->ParallelFor(n, 1, range, plan.parallelism);
  } else {
    range(0, n);
  }
}

// Rows per chunk of the single-query pass: about kChunkFloats, but at least 4 chunks per thread.
size_t SingleQueryGrain(const Plan& plan, size_t n, size_t dim) {
  size_t grain = std::max(kMinChunkRows, kChunkFloats / dim);
  const size_t per_thread = (n + 4 * plan.parallelism - 1) / (4 * plan.parallelism);
  return std::max(kMinChunkRows, std::min(grain, per_thread));
}

// Query groups for the blocked path: enough (block, group) items to keep 2 items per thread when
// blocks are few.
size_t QueryGroupRows(const Plan& plan, size_t nq, size_t num_ranges) {
  const size_t want = plan.parallelism > 1 ? 2 * static_cast<size_t>(plan.parallelism) : 1;
  size_t groups = num_ranges >= want ? 1 : (want + num_ranges - 1) / num_ranges;
  groups = std::min(groups, (nq + 3) / 4);
  const size_t rows = (nq + groups - 1) / groups;
  return (rows + 3) / 4 * 4;
}

// Target ranges of whole units (blocks, or single-query chunks): about `per_thread` ranges per
// thread when parallel, one range otherwise.
struct BlockRanges {
  size_t count = 0;  // Ranges; the last may be short or even empty.
  size_t rows = 0;   // Target rows per range (a multiple of the unit).
};

BlockRanges MakeBlockRanges(const Plan& plan, size_t n, size_t per_thread, size_t unit = 0) {
  if (unit == 0) unit = plan.block_rows;
  const size_t units = (n + unit - 1) / unit;
  const size_t wanted = plan.parallelism > 1 ? per_thread * plan.parallelism : 1;
  const size_t units_per_range = (units + std::min(units, wanted) - 1) / std::min(units, wanted);
  BlockRanges ranges;
  ranges.rows = units_per_range * unit;
  ranges.count = (n + ranges.rows - 1) / ranges.rows;
  return ranges;
}

// Packs each block of range `range` in turn and calls fn(block, first_row, next, next_bytes),
// where [next, next + next_bytes) is the following block of the range (to prefetch), if any.
template <typename Fn>
void ForEachBlock(const KernelSet& kernels, const Plan& plan, MatrixView targets,
                  const BlockRanges& ranges, size_t range, std::atomic<bool>* non_finite, Fn fn) {
  const size_t end = std::min<size_t>(targets.rows, (range + 1) * ranges.rows);
  TargetBlock block;
  for (size_t t0 = range * ranges.rows; t0 < end; t0 += plan.block_rows) {
    PrepareBlock(kernels, targets.Row(t0), std::min(plan.block_rows, end - t0), targets.dim,
                 PaddedDim(targets.dim), &block, non_finite);
    const size_t next = t0 + plan.block_rows;
    const size_t next_rows = next < end ? std::min(plan.block_rows, end - next) : 0;
    fn(static_cast<const TargetBlock&>(block), t0, next < end ? targets.Row(next) : nullptr,
       next_rows * targets.dim * sizeof(float));
  }
}

// ---------------------------------------------------------------------------------------------
// The two entry points. `non_finite` null: the targets are known finite; else the check rides on
// the pass (see CpuCosineScoresCheckingTargets).

void Scores(const KernelSet& kernels, MatrixView queries, MatrixView targets, float* scores,
            size_t ld, ThreadPool* pool, std::atomic<bool>* non_finite) {
  const Plan plan = MakePlan(queries, targets, pool);
  PreparedQueries q;
  PrepareQueries(kernels, queries, &q);
  const size_t n = targets.rows;
  const size_t dim = targets.dim;

  if (queries.rows == 1) {  // Memory bound: one fused pass over the targets.
    const size_t grain = SingleQueryGrain(plan, n, dim);
    const size_t chunks = (n + grain - 1) / grain;
    RunItems(pool, plan, chunks, [&](size_t item) {
      // Last chunk first: the targets were just copied in by protobuf, and their end is the part
      // most likely to be still in cache.
      const size_t begin = (chunks - 1 - item) * grain;
      ScoreOneQuery(kernels, q, targets, begin, std::min(n, begin + grain), non_finite,
                    [&](size_t first, size_t count, const float* s) {
                      std::memcpy(scores + first, s, count * sizeof(float));
                    });
    });
    return;
  }

  // Compute bound: runs of target blocks (x query groups when blocks are few) per work item.
  const size_t nq = queries.rows;
  const BlockRanges ranges = MakeBlockRanges(plan, n, 4);
  const size_t group_rows = QueryGroupRows(plan, nq, ranges.count);
  const size_t groups = (nq + group_rows - 1) / group_rows;
  RunItems(pool, plan, ranges.count * groups, [&](size_t item) {
    const size_t q0 = item % groups * group_rows;
    const size_t rows = std::min(group_rows, nq - q0);
    ForEachBlock(kernels, plan, targets, ranges, item / groups, non_finite,
                 [&](const TargetBlock& block, size_t t0, const float* next, size_t next_bytes) {
                   kernels.score_tiles(MakeTileArgs(q, q0, rows, block, dim, scores + q0 * ld + t0,
                                                    ld, next, next_bytes));
                 });
  });
}

void TopK(const KernelSet& kernels, MatrixView queries, MatrixView targets, uint32_t k,
          uint32_t index_offset, uint32_t* top_indices, float* top_scores, ThreadPool* pool,
          std::atomic<bool>* non_finite) {
  const Plan plan = MakePlan(queries, targets, pool);
  PreparedQueries q;
  PrepareQueries(kernels, queries, &q);
  const size_t n = targets.rows;
  const size_t dim = targets.dim;
  const size_t nq = queries.rows;
  const size_t keep = std::min<size_t>(k, n);

  // Target ranges, each with its own accumulator per query; a range is a run of blocks (or rows for
  // one query).
  const bool single = nq == 1;
  const size_t unit = single ? SingleQueryGrain(plan, n, dim) : plan.block_rows;
  const BlockRanges ranges = MakeBlockRanges(plan, n, 2, unit);
  const size_t num_ranges = ranges.count;
  const size_t group_rows = single ? 1 : QueryGroupRows(plan, nq, num_ranges);
  const size_t groups = (nq + group_rows - 1) / group_rows;

  std::vector<ScoredIndex> storage(num_ranges * nq * keep);
  std::vector<TopKAccumulator> acc;
  acc.reserve(num_ranges * nq);
  for (size_t a = 0; a < num_ranges * nq; ++a) {
    acc.emplace_back(absl::MakeSpan(storage.data() + a * keep, keep));
  }

  RunItems(pool, plan, num_ranges * groups, [&](size_t item) {
    const size_t range = item / groups;
    const size_t t_begin = std::min(n, range * ranges.rows);
    const size_t t_end = std::min(n, t_begin + ranges.rows);
    TopKAccumulator* range_acc = acc.data() + range * nq;
    if (single) {
      ScoreOneQuery(kernels, q, targets, t_begin, t_end, non_finite,
                    [&](size_t first, size_t count, const float* s) {
                      for (size_t j = 0; j < count; ++j)
                        range_acc[0].Push(s[j], static_cast<uint32_t>(first + j) + index_offset);
                    });
      return;
    }
    const size_t q_begin = item % groups * group_rows;
    const size_t q_end = std::min(nq, q_begin + group_rows);
    float buffer[kTopKQueryStep * kMaxBlockRows];
    ForEachBlock(
        kernels, plan, targets, ranges, range, non_finite,
        [&](const TargetBlock& block, size_t t0, const float* next, size_t next_bytes) {
          // The next block's prefetch is shared out over the query steps.
          const size_t steps = (q_end - q_begin + kTopKQueryStep - 1) / kTopKQueryStep;
          const size_t slice = (next_bytes / steps + 63) / 64 * 64;
          for (size_t q0 = q_begin; q0 < q_end; q0 += kTopKQueryStep) {
            const size_t rows = std::min(kTopKQueryStep, q_end - q0);
            const size_t done = (q0 - q_begin) / kTopKQueryStep * slice;
            const bool more = done < next_bytes;
            kernels.score_tiles(MakeTileArgs(q, q0, rows, block, dim, buffer, block.n,
                                             more ? next + done / sizeof(float) : nullptr,
                                             more ? std::min(slice, next_bytes - done) : 0));
            for (size_t r = 0; r < rows; ++r) {
              TopKAccumulator& top = range_acc[q0 + r];
              const float* s = buffer + r * block.n;
              for (size_t j = 0; j < block.n; ++j)
                top.Push(s[j], static_cast<uint32_t>(t0 + j) + index_offset);
            }
          }
        });
  });

  // Merge the ranges' candidates per query.
  const Plan merge_plan{nq >= 64 ? plan.parallelism : 1, 0, 0};
  RunItems(pool, merge_plan, nq, [&](size_t i) {
    std::array<absl::Span<const ScoredIndex>, 64> lists_storage;
    std::vector<absl::Span<const ScoredIndex>> lists_heap;
    absl::Span<absl::Span<const ScoredIndex>> lists;
    if (num_ranges <= lists_storage.size()) {
      lists = absl::MakeSpan(lists_storage.data(), num_ranges);
    } else {
      lists_heap.resize(num_ranges);
      lists = absl::MakeSpan(lists_heap);
    }
    for (size_t r = 0; r < num_ranges; ++r) lists[r] = acc[r * nq + i].SortBestFirst();
    MergeTopK(lists, keep, top_indices + i * k, top_scores + i * k);
  });
}

const KernelSet& CheckedKernels(CpuIsa isa) {
  return Supports(isa) ? KernelsFor(isa) : KernelsFor(CpuIsa::kBaseline);
}

}  // namespace
}  // namespace cpu_cosine_internal

CpuIsa BestCpuIsa() {
  static const CpuIsa kBest = cpu_cosine_internal::SelectIsa();
  return kBest;
}

bool CpuSupportsIsa(CpuIsa isa) { return cpu_cosine_internal::Supports(isa); }

const char* CpuIsaName(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kAvx2:
      return "avx2";
    case CpuIsa::kAvx512:
      return "avx512";
    default:
      return "baseline";
  }
}

void CpuCosineScores(MatrixView queries, MatrixView targets, float* scores, size_t ld,
                     ThreadPool* pool) {
  cpu_cosine_internal::Scores(cpu_cosine_internal::KernelsFor(BestCpuIsa()), queries, targets,
                              scores, ld, pool, nullptr);
}

void CpuCosineTopK(MatrixView queries, MatrixView targets, uint32_t k, uint32_t index_offset,
                   uint32_t* top_indices, float* top_scores, ThreadPool* pool) {
  cpu_cosine_internal::TopK(cpu_cosine_internal::KernelsFor(BestCpuIsa()), queries, targets, k,
                            index_offset, top_indices, top_scores, pool, nullptr);
}

bool CpuCosineScoresCheckingTargets(MatrixView queries, MatrixView targets, float* scores,
                                    size_t ld, ThreadPool* pool) {
  return CpuCosineScoresCheckingTargetsWithIsa(BestCpuIsa(), queries, targets, scores, ld, pool);
}

bool CpuCosineTopKCheckingTargets(MatrixView queries, MatrixView targets, uint32_t k,
                                  uint32_t index_offset, uint32_t* top_indices, float* top_scores,
                                  ThreadPool* pool) {
  return CpuCosineTopKCheckingTargetsWithIsa(BestCpuIsa(), queries, targets, k, index_offset,
                                             top_indices, top_scores, pool);
}

void CpuCosineScoresWithIsa(CpuIsa isa, MatrixView queries, MatrixView targets, float* scores,
                            size_t ld, ThreadPool* pool) {
  cpu_cosine_internal::Scores(cpu_cosine_internal::CheckedKernels(isa), queries, targets, scores,
                              ld, pool, nullptr);
}

void CpuCosineTopKWithIsa(CpuIsa isa, MatrixView queries, MatrixView targets, uint32_t k,
                          uint32_t index_offset, uint32_t* top_indices, float* top_scores,
                          ThreadPool* pool) {
  cpu_cosine_internal::TopK(cpu_cosine_internal::CheckedKernels(isa), queries, targets, k,
                            index_offset, top_indices, top_scores, pool, nullptr);
}

// The flag is written by whichever work items meet a bad row; ParallelFor's return orders those
// writes before the load.
bool CpuCosineScoresCheckingTargetsWithIsa(CpuIsa isa, MatrixView queries, MatrixView targets,
                                           float* scores, size_t ld, ThreadPool* pool) {
  std::atomic<bool> non_finite{false};
  cpu_cosine_internal::Scores(cpu_cosine_internal::CheckedKernels(isa), queries, targets, scores,
                              ld, pool, &non_finite);
  return !non_finite.load(std::memory_order_relaxed);
}

bool CpuCosineTopKCheckingTargetsWithIsa(CpuIsa isa, MatrixView queries, MatrixView targets,
                                         uint32_t k, uint32_t index_offset, uint32_t* top_indices,
                                         float* top_scores, ThreadPool* pool) {
  std::atomic<bool> non_finite{false};
  cpu_cosine_internal::TopK(cpu_cosine_internal::CheckedKernels(isa), queries, targets, k,
                            index_offset, top_indices, top_scores, pool, &non_finite);
  return !non_finite.load(std::memory_order_relaxed);
}

}  // namespace simile
