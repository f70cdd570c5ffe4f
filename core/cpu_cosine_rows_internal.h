// Internal to the CPU cosine kernel (core/cpu_cosine.h); not a public API, include it only from
// core/cpu_cosine_kernels_internal.cc. The streaming passes over contiguous rows, generic over the
// vector width W: squared norms, the fused one-query pass (dots and target norms together, memory
// bound), and packing rows into aligned scratch for the tiled Q x N kernel.
//
// Always-inline templates without a target attribute (see core/cpu_cosine_simd_internal.h); the
// per-ISA wrappers in core/cpu_cosine_kernels_internal.cc instantiate them.
//
// Thread safety: pure functions of their arguments (they write only their output buffers); safe to
// call from any thread.
#ifndef SIMILE_CORE_CPU_COSINE_ROWS_INTERNAL_H_
#define SIMILE_CORE_CPU_COSINE_ROWS_INTERNAL_H_

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "core/cpu_cosine_simd_internal.h"

namespace simile::cpu_cosine_internal {
// Internal linkage on purpose: only core/cpu_cosine_kernels_internal.cc includes this header, and
// its per-target instantiations must never be merged with copies from another translation unit.
namespace {

// Software prefetch distance of the single-query pass.
constexpr size_t kPrefetchBytes = 4096;

// out[i] = float sum of squares of row i, for n contiguous rows.
template <int W>
SIMILE_INLINE void SquaredNormsImpl(const float* rows, size_t n, size_t dim, float* out) {
  using V = typename Simd<W>::V;
  for (size_t r = 0; r < n; ++r) {
    const float* x = rows + r * dim;
    V acc[4] = {};
    size_t d = 0;
    for (; d + 4 * W <= dim; d += 4 * W) {
#pragma GCC unroll 4
      for (int u = 0; u < 4; ++u) {
        V v;
        Load<W>(v, x + d + u * W);
        acc[u] += v * v;
      }
    }
    for (; d + W <= dim; d += W) {
      V v;
      Load<W>(v, x + d);
      acc[0] += v * v;
    }
    acc[0] = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    float sum;
    SumLanes<W, 1>(acc, &sum);
    for (; d < dim; ++d) sum += x[d] * x[d];
    out[r] = sum;
  }
}

// One fused pass for a single query: dots[i] = q . t_i and squared_norms[i] = |t_i|^2 (float) for n
// contiguous target rows. Four rows at a time share each query load; a prefetch sweep runs
// kPrefetchBytes ahead.
template <int W>
SIMILE_INLINE void DotsAndSquaredNormsImpl(const float* query, const float* targets, size_t n,
                                           size_t dim, float* dots, float* squared_norms) {
  using V = typename Simd<W>::V;
  constexpr int kRows = 4;
  constexpr int kLinesPerStep = kRows * W * 4 / 64;  // Cache lines the 4 rows advance per step.
  for (size_t r0 = 0; r0 < n; r0 += kRows) {
    const size_t rows = std::min<size_t>(kRows, n - r0);
    const float* t[kRows];
    for (int c = 0; c < kRows; ++c) t[c] = targets + (r0 + std::min<size_t>(c, rows - 1)) * dim;
    // A prefetch sweep over this group of rows, kPrefetchBytes ahead.
    const float* sweep = targets + r0 * dim;
    size_t sweep_bytes = kPrefetchBytes;
    V acc[2 * kRows] = {};  // Dots, then squared norms.
    size_t d = 0;
    for (; d + W <= dim; d += W) {
#pragma GCC unroll 4
      for (int l = 0; l < kLinesPerStep; ++l) PrefetchAt(sweep, sweep_bytes + 64 * l);
      sweep_bytes += 64 * kLinesPerStep;
      V q;
      Load<W>(q, query + d);
#pragma GCC unroll 4
      for (int c = 0; c < kRows; ++c) {
        V x;
        Load<W>(x, t[c] + d);
        acc[c] += q * x;
        acc[kRows + c] += x * x;
      }
    }
    float sums[2 * kRows];
    SumLanes<W, 2 * kRows>(acc, sums);
    for (; d < dim; ++d) {
      for (int c = 0; c < kRows; ++c) {
        sums[c] += query[d] * t[c][d];
        sums[kRows + c] += t[c][d] * t[c][d];
      }
    }
    for (size_t c = 0; c < rows; ++c) {
      dots[r0 + c] = sums[c];
      squared_norms[r0 + c] = sums[kRows + c];
    }
  }
}

// Copies n rows of `dim` floats into 64-byte aligned rows of `stride` floats (a multiple of 16),
// zero-filling the padding, and writes each row's float squared norm: one pass over the source.
template <int W>
SIMILE_INLINE void PackRowsImpl(const float* src, size_t n, size_t dim, float* dst, size_t stride,
                                float* squared_norms) {
  using V = typename Simd<W>::V;
  for (size_t r = 0; r < n; ++r) {
    const float* x = src + r * dim;
    float* y = dst + r * stride;
    V acc[2] = {};
    size_t d = 0;
    for (; d + 2 * W <= dim; d += 2 * W) {
#pragma GCC unroll 2
      for (int u = 0; u < 2; ++u) {
        V v;
        Load<W>(v, x + d + u * W);
        std::memcpy(y + d + u * W, &v, sizeof(v));
        acc[u] += v * v;
      }
    }
    acc[0] += acc[1];
    float sum;
    SumLanes<W, 1>(acc, &sum);
    for (; d < dim; ++d) {
      y[d] = x[d];
      sum += x[d] * x[d];
    }
    std::fill(y + dim, y + stride, 0.0f);
    squared_norms[r] = sum;
  }
}

}  // namespace
}  // namespace simile::cpu_cosine_internal

#endif  // SIMILE_CORE_CPU_COSINE_ROWS_INTERNAL_H_
