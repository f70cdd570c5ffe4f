#include "core/cpu_cosine_operands_internal.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/cpu_cosine_exact_internal.h"
#include "core/cpu_cosine_kernels_internal.h"
#include "core/matrix_view.h"

namespace simile::cpu_cosine_internal {
namespace {

// 64-byte aligned scratch of the calling thread, grown on demand and kept for its next call, so the
// blocked path allocates nothing per block (and nothing at all once a pool thread has warmed up).
enum ScratchSlot { kBlockSlot, kQueryTileSlot, kPartialSlot, kNumScratchSlots };
float* ThreadScratch(ScratchSlot slot, size_t floats) {
  thread_local std::vector<float> buffers[kNumScratchSlots];
  std::vector<float>& buffer = buffers[slot];
  if (buffer.size() < floats + 16) buffer.resize(floats + 16);
  const uintptr_t address = reinterpret_cast<uintptr_t>(buffer.data());
  return buffer.data() + ((64 - address % 64) % 64) / sizeof(float);
}

}  // namespace

void PrepareQueries(const KernelSet& kernels, MatrixView queries, PreparedQueries* p) {
  const size_t nq = queries.rows;
  const size_t dim = queries.dim;
  p->rows.resize(nq);
  p->scale.resize(nq);
  p->norm.resize(nq);
  kernels.squared_norms(queries.data, nq, dim, p->scale.data());  // Squared norms, for now.
  size_t unsafe = 0;
  for (size_t i = 0; i < nq; ++i) unsafe += IsSafeSquaredNorm(p->scale[i]) ? 0 : 1;
  if (unsafe > 0) p->rescaled.resize(unsafe * dim);
  size_t next_copy = 0;
  for (size_t i = 0; i < nq; ++i) {
    const float* row = queries.Row(i);
    float sq = p->scale[i];
    if (!IsSafeSquaredNorm(sq)) {
      const float max_abs = MaxAbs(row, dim);
      if (max_abs == 0.0f) {  // A zero vector: every score is 0.
        p->rows[i] = row;
        p->scale[i] = 0.0f;
        p->norm[i] = 0.0;
        continue;
      }
      float* copy = p->rescaled.data() + next_copy++ * dim;
      RescaleRow(row, dim, max_abs, copy);
      kernels.squared_norms(copy, 1, dim, &sq);
      row = copy;
    }
    const double norm = std::sqrt(static_cast<double>(sq));
    p->rows[i] = row;
    p->scale[i] = static_cast<float>(1.0 / norm);
    p->norm[i] = norm;
  }
}

void PrepareBlock(const KernelSet& kernels, const float* first, size_t n, size_t dim, size_t stride,
                  TargetBlock* b, std::atomic<bool>* non_finite) {
  float sq[kMaxBlockRows];
  b->rows = ThreadScratch(kBlockSlot, n * stride);
  b->n = n;
  kernels.pack_rows(first, n, dim, b->rows, stride, sq);
  for (size_t j = 0; j < n; ++j) {
    float* row = b->rows + j * stride;
    float s = sq[j];
    if (!IsSafeSquaredNorm(s)) {
      // Only here can a row hold a NaN or an infinity (its squared norm is then NaN or +Inf):
      // checking these rows alone checks the block.
      if (non_finite != nullptr && !RowIsFinite(row, dim)) {
        non_finite->store(true, std::memory_order_relaxed);
        std::fill(row, row + dim, 0.0f);
        b->scale[j] = 0.0f;
        continue;
      }
      const float max_abs = MaxAbs(row, dim);
      if (max_abs == 0.0f) {
        b->scale[j] = 0.0f;
        continue;
      }
      RescaleRow(row, dim, max_abs, row);
      kernels.squared_norms(row, 1, dim, &s);
    }
    b->scale[j] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(s)));
  }
  for (size_t j = 0; j < (n + 3) / 4 * 4; ++j) {
    for (size_t copy = 0; copy < 4; ++copy) {
      b->scale_x4[j / 4 * 16 + copy * 4 + j % 4] = j < n ? b->scale[j] : 0.0f;
    }
  }
}

TileArgs MakeTileArgs(const PreparedQueries& q, size_t q0, size_t nq, const TargetBlock& block,
                      size_t dim, float* out, size_t ld, const float* prefetch,
                      size_t prefetch_bytes) {
  const size_t stride = PaddedDim(dim);
  return TileArgs{q.rows.data() + q0,
                  q.scale.data() + q0,
                  nq,
                  block.rows,
                  block.scale_x4,
                  block.n,
                  dim,
                  stride,
                  ThreadScratch(kQueryTileSlot, kMaxTileQueries * stride),
                  stride > kDimChunk
                      ? ThreadScratch(kPartialSlot, (block.n + 3) / 4 * kPartialFloatsPerTile)
                      : nullptr,
                  out,
                  ld,
                  prefetch,
                  prefetch_bytes};
}

}  // namespace simile::cpu_cosine_internal
