// Internal to the CPU cosine kernel (core/cpu_cosine.h); not a public API, include it only from
// core/cpu_cosine_kernels_internal.cc. The register-tiled Q x N kernel (compute bound): R queries
// x C targets of a packed block per tile, long rows in chunks of kDimChunk floats, the scores
// reduced with the shuffle tree, scaled, clamped and stored; TileArgs (in
// core/cpu_cosine_kernels_internal.h) describes one call.
//
// Always-inline templates without a target attribute (see core/cpu_cosine_simd_internal.h); the
// per-ISA wrappers in core/cpu_cosine_kernels_internal.cc instantiate them.
//
// Thread safety: each call writes only its TileArgs' out, query_buffer and partial buffers; calls
// with disjoint buffers may run concurrently.
#ifndef SIMILE_CORE_CPU_COSINE_TILES_INTERNAL_H_
#define SIMILE_CORE_CPU_COSINE_TILES_INTERNAL_H_

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "core/cpu_cosine_kernels_internal.h"
#include "core/cpu_cosine_simd_internal.h"

namespace simile::cpu_cosine_internal {
// Internal linkage on purpose: only core/cpu_cosine_kernels_internal.cc includes this header, and
// its per-target instantiations must never be merged with copies from another translation unit.
namespace {

// One R x C tile over dims [d0, d1): queries q[0..R) (aligned copies) against targets
// [j0, j0 + C) of the block. With more chunks to come the unreduced accumulators go to
// TileArgs::partial; after the last one the scores are scaled, clamped and stored (rows i0 .. i0 +
// nr - 1, columns j0 .. j0 + min(C, nt - j0) - 1). A partial tile repeats its last target.
template <int W, int R, int C, bool kChunked>
SIMILE_INLINE void ScoreTile(const TileArgs& a, const float* const* q,
                             const typename Simd<W>::V* query_scale, size_t i0, size_t nr,
                             size_t j0, size_t d0, size_t d1, size_t* prefetched) {
  using V = typename Simd<W>::V;
  constexpr int kOut = R * C / W;  // Vectors of finished scores.
  const size_t nc = std::min<size_t>(C, a.nt - j0);
  const float* t[C];
  for (int c = 0; c < C; ++c) t[c] = a.targets + (j0 + std::min<size_t>(c, nc - 1)) * a.stride;
  float* partial = kChunked ? a.partial + j0 / C * kPartialFloatsPerTile : nullptr;
  V acc[R * C] = {};
  if (kChunked && d0 > 0) {
    for (int m = 0; m < R * C; ++m) Load<W>(acc[m], partial + m * W);
  }
  for (size_t d = d0; d < d1; d += W) {
    if (*prefetched < a.prefetch_bytes) {
      PrefetchAt(a.prefetch, *prefetched, /*to_l2=*/true);
      *prefetched += 64;
    }
    V tv[C];
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) Load<W>(tv[c], t[c] + d);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      V qv;
      Load<W>(qv, q[r] + d);
#pragma GCC unroll 8
      for (int c = 0; c < C; ++c) acc[r * C + c] += qv * tv[c];
    }
  }
  if (kChunked && d1 < a.stride) {  // More chunks to come.
    for (int m = 0; m < R * C; ++m) std::memcpy(partial + m * W, &acc[m], sizeof(V));
    return;
  }
  // The epilogue in vectors: sums in (query, target) order, scaled, clamped, C floats per row.
  V sums[kOut];
  SumLanesInOrder<W, R * C>(acc, sums);
  V target_scale;
  Load<W>(target_scale, a.target_scale_x4 + j0 * 4);
  float scores[R * C];
  for (int f = 0; f < kOut; ++f) {
    V x = sums[f] * query_scale[f] * target_scale;
    ClampScores<W>(x);
    std::memcpy(scores + f * W, &x, sizeof(x));
  }
  for (size_t r = 0; r < nr; ++r) {
    float* out = a.out + (i0 + r) * a.ld + j0;
    if (nc == C) {
      std::memcpy(out, scores + r * C, C * sizeof(float));
    } else {
      std::memcpy(out, scores + r * C, nc * sizeof(float));
    }
  }
}

// Register tiling: R queries x C targets accumulate R * C vectors per step from R + C loads. Each
// query tile is copied into aligned, zero-padded rows (so that no load splits a cache line and no
// scalar tail is left), then stays in L1 while the target block (in L2) streams past it; rows
// longer than kDimChunk go chunk by chunk so that it still fits. A partial query tile repeats its
// last query.
template <int W, int R, int C, bool kChunked>
SIMILE_INLINE void ScoreTilesLoop(const TileArgs& a) {
  static_assert(R <= kMaxTileQueries && 16 % W == 0 && C == 4);
  static_assert(R * C * W <= kPartialFloatsPerTile);
  using V = typename Simd<W>::V;
  const size_t chunk = kChunked ? kDimChunk : a.stride;
  size_t prefetched = 0;
  for (size_t i0 = 0; i0 < a.nq; i0 += R) {
    const size_t nr = std::min<size_t>(R, a.nq - i0);
    const float* q[R];
    float scale[R * C];  // 1/|q| for each score of a tile, in (query, target) order.
    for (int r = 0; r < R; ++r) {
      const size_t i = i0 + std::min<size_t>(r, nr - 1);
      float* row = a.query_buffer + r * a.stride;
      std::memcpy(row, a.queries[i], a.dim * sizeof(float));
      std::fill(row + a.dim, row + a.stride, 0.0f);
      q[r] = row;
      std::fill_n(scale + r * C, C, a.query_scale[i]);
    }
    V query_scale[R * C / W];
    std::memcpy(query_scale, scale, sizeof(query_scale));
    for (size_t d0 = 0; d0 < a.stride; d0 += chunk) {
      const size_t d1 = std::min(a.stride, d0 + chunk);
      for (size_t j0 = 0; j0 < a.nt; j0 += C) {
        ScoreTile<W, R, C, kChunked>(a, q, query_scale, i0, nr, j0, d0, d1, &prefetched);
      }
    }
  }
}

template <int W, int R, int C>
SIMILE_INLINE void ScoreTilesImpl(const TileArgs& a) {
  if (a.stride > kDimChunk) {
    ScoreTilesLoop<W, R, C, true>(a);
  } else {
    ScoreTilesLoop<W, R, C, false>(a);
  }
}

}  // namespace
}  // namespace simile::cpu_cosine_internal

#endif  // SIMILE_CORE_CPU_COSINE_TILES_INTERNAL_H_
