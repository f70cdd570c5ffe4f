// Internal to the CPU cosine kernel (core/cpu_cosine.h); not a public API, include it only from
// core/cpu_cosine_*. The operands as the kernels consume them: prepared queries (1/|q|, rescaled
// copies of extreme rows), packed target blocks for the tiled Q x N kernel, and the TileArgs that
// join the two.
//
// Thread safety: PrepareQueries fills its own output. PrepareBlock and MakeTileArgs hand out
// 64-byte aligned scratch owned by the calling thread (grown on demand, kept for its next call, at
// most ~2 MiB per thread): a TargetBlock's rows and a TileArgs' scratch stay valid only until the
// same thread's next PrepareBlock / MakeTileArgs, and must not be used from another thread
// meanwhile. Different threads never share scratch.
#ifndef SIMILE_CORE_CPU_COSINE_OPERANDS_INTERNAL_H_
#define SIMILE_CORE_CPU_COSINE_OPERANDS_INTERNAL_H_

#include <atomic>
#include <cstddef>
#include <vector>

#include "core/cpu_cosine_kernels_internal.h"
#include "core/matrix_view.h"

namespace simile::cpu_cosine_internal {

// The most target rows in one block (the capacity of TargetBlock); MakePlan in core/cpu_cosine.cc
// sizes the blocks.
inline constexpr size_t kMaxBlockRows = 256;

// Rows handed to ScoreTiles are padded to a multiple of 16 floats (64 bytes).
inline size_t PaddedDim(size_t dim) { return (dim + 15) / 16 * 16; }

// The queries as the kernels use them: a row pointer (the input row, or a rescaled copy), the float
// scale 1/|q| (0 for a zero row) and |q| in double (0 for a zero row).
struct PreparedQueries {
  std::vector<const float*> rows;
  std::vector<float> scale;
  std::vector<double> norm;
  std::vector<float> rescaled;  // Storage for rescaled copies.
};

// Fills `p` for `queries`: squared norms with `kernels`, then rescaled copies and double norms for
// rows outside the safe range (zero rows get scale and norm 0).
void PrepareQueries(const KernelSet& kernels, MatrixView queries, PreparedQueries* p);

// A block of targets as ScoreTiles uses them: packed rows (unsafe rows rescaled in place) and
// their 1/|t| scales (0 for zero rows).
struct TargetBlock {
  float* rows = nullptr;  // n rows of `stride` floats in the thread's scratch.
  float scale[kMaxBlockRows];
  float scale_x4[kMaxBlockRows * 4];  // See TileArgs::target_scale_x4.
  size_t n = 0;
};

// Packs the n (<= kMaxBlockRows) rows starting at `first` into `b` with `kernels`, rows of
// `stride` (= PaddedDim(dim)) floats, rescaling unsafe rows in place.
// `non_finite` null: the rows are known finite. Else they are checked on the way (see
// CpuCosineScoresCheckingTargets): a row holding a NaN or an infinity sets *non_finite and is
// packed as a zero row (scale 0), so that the kernels still compute only finite values.
void PrepareBlock(const KernelSet& kernels, const float* first, size_t n, size_t dim, size_t stride,
                  TargetBlock* b, std::atomic<bool>* non_finite = nullptr);

// TileArgs for queries [q0, q0 + nq) of `q` against `block`, written to out (row stride ld), with
// [prefetch, prefetch + prefetch_bytes) to prefetch meanwhile.
TileArgs MakeTileArgs(const PreparedQueries& q, size_t q0, size_t nq, const TargetBlock& block,
                      size_t dim, float* out, size_t ld, const float* prefetch,
                      size_t prefetch_bytes);

}  // namespace simile::cpu_cosine_internal

#endif  // SIMILE_CORE_CPU_COSINE_OPERANDS_INTERNAL_H_
