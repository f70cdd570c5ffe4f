#include "core/cpu_cosine.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/types/span.h"
#include "core/top_k.h"

// Vector code is written once, over GCC/Clang generic vectors of W floats, in always-inline
// templates without a target. Thin wrappers compiled with target("avx2,fma") or target("avx512...")
// instantiate them, so the same source becomes 128-, 256- or 512-bit code; BestCpuIsa() picks one
// set per process with __builtin_cpu_supports. Helpers pass vectors by reference only: by-value
// vector arguments would change the ABI between targets.

namespace simile {
namespace {

// ---------------------------------------------------------------------------------------------
// Tuning constants.

// A row whose float squared norm lies in this range has |x_i| <= 2^50, so its float dot products
// cannot overflow and their rounding errors stay far below 1e-6 of |q||t|. Other rows are rescaled
// or computed in double.
constexpr float kMinSafeSquaredNorm = 0x1p-100f;
constexpr float kMaxSafeSquaredNorm = 0x1p100f;

// Below this many multiply-adds (Q * N * dim) a call stays on the calling thread.
constexpr uint64_t kMinParallelWork = uint64_t{1} << 17;
// Single query: targets per ParallelFor chunk are about this many floats (4 MiB), at least
// kMinChunkRows rows.
constexpr size_t kChunkFloats = size_t{1} << 20;
constexpr size_t kMinChunkRows = 64;
// Single query: rows scored per kernel call (stack buffers).
constexpr size_t kSubRows = 256;
// Software prefetch distance of the single-query pass.
constexpr size_t kPrefetchBytes = 4096;
// Several queries: a block of targets is at least about this many bytes (it stays in L2 while every
// query passes over it); see MakePlan.
constexpr size_t kBlockBytes = 256 * 1024;
constexpr size_t kMaxBlockRows = 256;
// Blocks of long rows still have this many (so that copying a query tile is amortized) unless that
// exceeds kMaxBlockBytes.
constexpr size_t kMinBlockRows = 16;
constexpr size_t kMaxBlockBytes = 1024 * 1024;
// Several queries, top-k: queries scored per step into a stack buffer of kTopKQueryStep x block
// rows.
constexpr size_t kTopKQueryStep = 16;

bool IsSafeSquaredNorm(float sq) { return sq >= kMinSafeSquaredNorm && sq <= kMaxSafeSquaredNorm; }

// Clamps to [-1, 1] and turns -0 into +0.
float ClampScore(float s) { return std::min(1.0f, std::max(-1.0f, s)) + 0.0f; }

// ---------------------------------------------------------------------------------------------
// Generic vectors and the transposing lane-sum tree.

template <int W>
struct Simd;
template <>
struct Simd<4> {
  typedef float V __attribute__((vector_size(16)));
};
template <>
struct Simd<8> {
  typedef float V __attribute__((vector_size(32)));
};
template <>
struct Simd<16> {
  typedef float V __attribute__((vector_size(64)));
};

#define SIMILE_INLINE [[gnu::always_inline]] inline

template <int W>
SIMILE_INLINE void Load(typename Simd<W>::V& v, const float* p) {
  std::memcpy(&v, p, sizeof(v));
}

// ClampScore on every lane.
template <int W>
SIMILE_INLINE void ClampScores(typename Simd<W>::V& x) {
  using V = typename Simd<W>::V;
  const V lo = V{} - 1.0f;
  const V hi = V{} + 1.0f;
  x = x < lo ? lo : x;
  x = x > hi ? hi : x;
  x += 0.0f;
}

// Prefetches without forming an out-of-bounds pointer (the address may lie past the array; prefetch
// never faults).
SIMILE_INLINE void PrefetchAt(const float* base, size_t byte_offset, bool to_l2 = false) {
  const void* address =
      reinterpret_cast<const void*>(reinterpret_cast<uintptr_t>(base) + byte_offset);
  if (to_l2) {
    __builtin_prefetch(address, 0, 2);
  } else {
    __builtin_prefetch(address);
  }
}

// Lane indices for one level of the tree. Inputs a and b hold groups of `s` partial sums in
// adjacent lanes; the output is shuffle(a, b, lo) + shuffle(a, b, hi), holding groups of s/2 (first
// halves of a's groups and of b's groups in `lo`, second halves in `hi`). Groups wider than 4 lanes
// move as whole 128-bit units (vshuff32x4, vperm2f128); narrower ones move within each 128-bit unit
// (vshufps). Every level is one or two instructions.
template <int W>
constexpr std::array<int, W> TreeShuffle(int s, bool hi) {
  std::array<int, W> idx{};
  const bool whole_units = s > 4;
  // An element is a 128-bit unit or a lane; a row is the whole vector or one 128-bit unit.
  const int unit = whole_units ? 4 : 1;          // Lanes per element.
  const int elements = whole_units ? W / 4 : 4;  // Elements per row.
  const int group = s / unit;                    // Group size in elements.
  const int half = group / 2;
  for (int lane = 0; lane < W; ++lane) {
    const int element = whole_units ? lane / 4 : lane % 4;
    const int row_base = whole_units ? 0 : lane / 4 * 4;
    const int sub = whole_units ? lane % 4 : 0;
    const int k = element % (elements / 2);
    const int src = (k / half) * group + k % half + (hi ? half : 0);
    idx[lane] = (element >= elements / 2 ? W : 0) + row_base + src * unit + sub;
  }
  return idx;
}

template <int W, int S, bool kHi, size_t... I>
SIMILE_INLINE void TreeShuffleApply(typename Simd<W>::V& out, const typename Simd<W>::V& a,
                                    const typename Simd<W>::V& b, std::index_sequence<I...>) {
  constexpr std::array<int, W> kIdx = TreeShuffle<W>(S, kHi);
  out = __builtin_shufflevector(a, b, kIdx[I]...);
}

// Number of vectors left after the tree reduces `count` vectors of W lanes.
constexpr int TreeOutputs(int w, int count) {
  for (int s = w; s > 1; s /= 2) count = (count + 1) / 2;
  return count;
}

// Reduces v[0..Count) (each a group of S lanes) in place until every lane holds one complete sum.
template <int W, int S, int Count>
SIMILE_INLINE void ReduceTree(typename Simd<W>::V* v) {
  if constexpr (S > 1) {
    using V = typename Simd<W>::V;
    constexpr int kOut = (Count + 1) / 2;
#pragma GCC unroll 16
    for (int i = 0; i < kOut; ++i) {
      const int j = 2 * i + 1 < Count ? 2 * i + 1 : 2 * i;  // A lone last vector pairs with itself.
      V lo, hi;
      TreeShuffleApply<W, S, false>(lo, v[2 * i], v[j], std::make_index_sequence<W>());
      TreeShuffleApply<W, S, true>(hi, v[2 * i], v[j], std::make_index_sequence<W>());
      v[i] = lo + hi;
    }
    ReduceTree<W, S / 2, kOut>(v);
  }
}

// Where ReduceTree<W, W, M> leaves the sum of input vector m: position (vector * W + lane). Tracks
// which input each lane belongs to through the levels; fails to compile if a level would add lanes
// of different inputs.
template <int W, int M>
constexpr std::array<int, M> TreeSumPositions() {
  std::array<std::array<int, W>, M> label{};
  for (int m = 0; m < M; ++m) label[m].fill(m);
  int count = M;
  for (int s = W; s > 1; s /= 2) {
    const std::array<int, W> lo = TreeShuffle<W>(s, false);
    const std::array<int, W> hi = TreeShuffle<W>(s, true);
    const int out = (count + 1) / 2;
    for (int i = 0; i < out; ++i) {
      const int j = 2 * i + 1 < count ? 2 * i + 1 : 2 * i;
      const auto source = [&](int index) {
        return index < W ? label[2 * i][index] : label[j][index - W];
      };
      std::array<int, W> next{};
      for (int lane = 0; lane < W; ++lane) {
        next[lane] = source(lo[lane]);
        if (source(hi[lane]) != next[lane]) throw "the tree would mix the sums of two inputs";
      }
      label[i] = next;
    }
    count = out;
  }
  std::array<int, M> pos{};
  for (int m = M - 1; m >= 0; --m) {
    for (int p = count * W - 1; p >= 0; --p) {
      if (label[p / W][p % W] == m) pos[m] = p;
    }
  }
  return pos;
}

// Sums the lanes of v[0..M) into sums[0..M) (v is clobbered).
template <int W, int M>
SIMILE_INLINE void SumLanes(typename Simd<W>::V* v, float* sums) {
  ReduceTree<W, W, M>(v);
  constexpr int kOut = TreeOutputs(W, M);
  constexpr std::array<int, M> kPos = TreeSumPositions<W, M>();
  float lanes[kOut * W];
  std::memcpy(lanes, v, sizeof(lanes));
  for (int m = 0; m < M; ++m) sums[m] = lanes[kPos[m]];
}

template <int W, int M, int J, size_t... I>
SIMILE_INLINE void GatherSums(typename Simd<W>::V& out, const typename Simd<W>::V* v,
                              std::index_sequence<I...>) {
  constexpr std::array<int, M> kPos = TreeSumPositions<W, M>();
  out = __builtin_shufflevector(v[0], v[TreeOutputs(W, M) - 1], kPos[J * W + I]...);
}

// Sums the lanes of v[0..M) (M a multiple of W, at most 2W) into M / W vectors holding the sums in
// order: lane l of out[j] is the sum of v[j * W + l]. v is clobbered.
template <int W, int M>
SIMILE_INLINE void SumLanesInOrder(typename Simd<W>::V* v, typename Simd<W>::V* out) {
  static_assert(M % W == 0 && M / W <= 2);
  ReduceTree<W, W, M>(v);
  GatherSums<W, M, 0>(out[0], v, std::make_index_sequence<W>());
  if constexpr (M / W == 2) GatherSums<W, M, 1>(out[1], v, std::make_index_sequence<W>());
}

// ---------------------------------------------------------------------------------------------
// Kernels, generic over the vector width.

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

// Scores of nq queries (row pointers, any alignment) against nt packed targets (see PackRowsImpl):
// out[i * ld + j] = clamp(dot(q_i, t_j) * query_scale[i] * target_scale[j]).
struct TileArgs {
  const float* const* queries;
  const float* query_scale;
  size_t nq;
  const float* targets;          // nt packed rows of `stride` floats, 64-byte aligned, zero padded.
  const float* target_scale_x4;  // Per 4-target tile: its 4 scales (0 past nt), repeated 4 times.
  size_t nt;
  size_t dim;
  size_t stride;        // Padded row length: a multiple of 16 floats.
  float* query_buffer;  // 64-byte aligned scratch for kMaxTileQueries rows of `stride` floats.
  float* partial;       // When stride > kDimChunk: kPartialFloatsPerTile per 4-target tile.
  float* out;
  size_t ld;
  // Bytes to prefetch into L2 while computing (the caller's next block), spread one cache line
  // per step so that its memory reads overlap this block's arithmetic.
  const float* prefetch;
  size_t prefetch_bytes;
};

constexpr int kMaxTileQueries = 4;
// Long rows are processed in chunks of this many floats, so that a query tile (4 x 4 KiB) stays in
// L1; unreduced accumulators carry over between chunks in TileArgs::partial.
constexpr size_t kDimChunk = 1024;
constexpr size_t kPartialFloatsPerTile = kMaxTileQueries * 4 * 16;

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

// ---------------------------------------------------------------------------------------------
// Per-ISA instantiations and the dispatch table.

struct KernelSet {
  void (*squared_norms)(const float* rows, size_t n, size_t dim, float* out);
  void (*dots_and_squared_norms)(const float* query, const float* targets, size_t n, size_t dim,
                                 float* dots, float* squared_norms);
  void (*pack_rows)(const float* src, size_t n, size_t dim, float* dst, size_t stride,
                    float* squared_norms);
  void (*score_tiles)(const TileArgs& args);
};

// Defines namespace `ns` with the kernels for vectors of W floats and R x C tiles, compiled with
// `target_attr`, and their KernelSet `ns::kKernels`.
#define SIMILE_DEFINE_KERNELS(ns, target_attr, W, R, C)                                         \
  namespace ns {                                                                                \
  target_attr void SquaredNorms(const float* rows, size_t n, size_t dim, float* out) {          \
    SquaredNormsImpl<W>(rows, n, dim, out);                                                     \
  }                                                                                             \
  target_attr void DotsAndSquaredNorms(const float* q, const float* t, size_t n, size_t dim,    \
                                       float* dots, float* sq) {                                \
    DotsAndSquaredNormsImpl<W>(q, t, n, dim, dots, sq);                                         \
  }                                                                                             \
  target_attr void PackRows(const float* src, size_t n, size_t dim, float* dst, size_t stride,  \
                            float* sq) {                                                        \
    PackRowsImpl<W>(src, n, dim, dst, stride, sq);                                              \
  }                                                                                             \
  target_attr void ScoreTiles(const TileArgs& args) { ScoreTilesImpl<W, R, C>(args); }          \
  constexpr KernelSet kKernels = {&SquaredNorms, &DotsAndSquaredNorms, &PackRows, &ScoreTiles}; \
  }

// 128-bit vectors with 16 registers: 2 x 4 tiles (8 accumulators).
SIMILE_DEFINE_KERNELS(baseline, , 4, 2, 4)

#if defined(__x86_64__)
#define SIMILE_HAVE_X86_DISPATCH 1
// AVX2: 16 registers of 8 floats. 4 x 4 tiles spill two accumulators and take targets as memory
// operands, yet measured 1.2x faster than 2 x 4 tiles (fewer reductions and query loads per FMA).
SIMILE_DEFINE_KERNELS(avx2, __attribute__((target("avx2,fma"))), 8, 4, 4)
// AVX-512: 32 registers of 16 floats: 4 x 4 tiles (16 accumulators, 4 target vectors, 1 query).
SIMILE_DEFINE_KERNELS(avx512,
                      __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma"))), 16, 4,
                      4)
#endif  // defined(__x86_64__)

bool Supports(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kBaseline:
      return true;
#ifdef SIMILE_HAVE_X86_DISPATCH
    case CpuIsa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case CpuIsa::kAvx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    default:
      return false;
  }
}

const KernelSet& KernelsFor(CpuIsa isa) {
  switch (isa) {
#ifdef SIMILE_HAVE_X86_DISPATCH
    case CpuIsa::kAvx2:
      return avx2::kKernels;
    case CpuIsa::kAvx512:
      return avx512::kKernels;
#endif
    default:
      return baseline::kKernels;
  }
}

CpuIsa SelectIsa() {
  for (CpuIsa isa : {CpuIsa::kAvx512, CpuIsa::kAvx2}) {
    if (Supports(isa)) return isa;
  }
  return CpuIsa::kBaseline;
}

// ---------------------------------------------------------------------------------------------
// Numerics shared by both paths.

float MaxAbs(const float* x, size_t dim) {
  float m = 0.0f;
  for (size_t i = 0; i < dim; ++i) m = std::max(m, std::fabs(x[i]));
  return m;
}

// Writes x * 2^-e (e = exponent of max|x|) to `out`: max|out| is in [1, 2), so its squared norm is
// safe, and the cosine is unchanged (powers of two scale exactly; only parts below 2^-126 of the
// maximum can lose bits).
void RescaleRow(const float* x, size_t dim, float max_abs, float* out) {
  const int e = std::ilogb(max_abs);
  for (size_t i = 0; i < dim; ++i)
    out[i] = static_cast<float>(std::ldexp(static_cast<double>(x[i]), -e));
}

// The queries as the kernels use them: a row pointer (the input row, or a rescaled copy), the float
// scale 1/|q| (0 for a zero row) and |q| in double (0 for a zero row).
struct PreparedQueries {
  std::vector<const float*> rows;
  std::vector<float> scale;
  std::vector<double> norm;
  std::vector<float> rescaled;  // Storage for rescaled copies.
};

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

// cosine(q, t) in double, for targets whose float squared norm is unsafe. q is a prepared query
// row.
float SlowCosine(const float* q, double q_norm, const float* t, size_t dim) {
  double dot = 0.0;
  double sq = 0.0;
  for (size_t i = 0; i < dim; ++i) {
    const double x = t[i];
    dot += static_cast<double>(q[i]) * x;
    sq += x * x;
  }
  if (sq == 0.0 || q_norm == 0.0) return 0.0f;
  return ClampScore(static_cast<float>(dot / (std::sqrt(sq) * q_norm)));
}

// Rows handed to ScoreTiles are padded to a multiple of 16 floats (64 bytes).
size_t PaddedDim(size_t dim) { return (dim + 15) / 16 * 16; }

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

// A block of targets as ScoreTiles uses them: packed rows (unsafe rows rescaled in place) and
// their 1/|t| scales (0 for zero rows).
struct TargetBlock {
  float* rows = nullptr;  // n rows of `stride` floats in the thread's scratch.
  float scale[kMaxBlockRows];
  float scale_x4[kMaxBlockRows * 4];  // See TileArgs::target_scale_x4.
  size_t n = 0;
};

void PrepareBlock(const KernelSet& kernels, const float* first, size_t n, size_t dim, size_t stride,
                  TargetBlock* b) {
  float sq[kMaxBlockRows];
  b->rows = ThreadScratch(kBlockSlot, n * stride);
  b->n = n;
  kernels.pack_rows(first, n, dim, b->rows, stride, sq);
  for (size_t j = 0; j < n; ++j) {
    float* row = b->rows + j * stride;
    float s = sq[j];
    if (!IsSafeSquaredNorm(s)) {
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

// TileArgs for queries [q0, q0 + nq) of `q` against `block`, written to out (row stride ld).
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

// Single-query pass over targets [begin, end): calls emit(first_row, count, scores) per sub-range.
template <typename Emit>
void ScoreOneQuery(const KernelSet& kernels, const PreparedQueries& q, MatrixView targets,
                   size_t begin, size_t end, Emit emit) {
  const size_t dim = targets.dim;
  float dots[kSubRows];
  float sqs[kSubRows];
  for (size_t s = begin; s < end; s += kSubRows) {
    const size_t n = std::min(kSubRows, end - s);
    kernels.dots_and_squared_norms(q.rows[0], targets.Row(s), n, dim, dots, sqs);
    for (size_t j = 0; j < n; ++j) {
      dots[j] = IsSafeSquaredNorm(sqs[j])
                    ? ClampScore(dots[j] * q.scale[0] / std::sqrt(sqs[j]))
                    : SlowCosine(q.rows[0], q.norm[0], targets.Row(s + j), dim);
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
                  const BlockRanges& ranges, size_t range, Fn fn) {
  const size_t end = std::min<size_t>(targets.rows, (range + 1) * ranges.rows);
  TargetBlock block;
  for (size_t t0 = range * ranges.rows; t0 < end; t0 += plan.block_rows) {
    PrepareBlock(kernels, targets.Row(t0), std::min(plan.block_rows, end - t0), targets.dim,
                 PaddedDim(targets.dim), &block);
    const size_t next = t0 + plan.block_rows;
    const size_t next_rows = next < end ? std::min(plan.block_rows, end - next) : 0;
    fn(static_cast<const TargetBlock&>(block), t0, next < end ? targets.Row(next) : nullptr,
       next_rows * targets.dim * sizeof(float));
  }
}

// ---------------------------------------------------------------------------------------------
// The two entry points.

void Scores(const KernelSet& kernels, MatrixView queries, MatrixView targets, float* scores,
            size_t ld, ThreadPool* pool) {
  const Plan plan = MakePlan(queries, targets, pool);
  PreparedQueries q;
  PrepareQueries(kernels, queries, &q);
  const size_t n = targets.rows;
  const size_t dim = targets.dim;

  if (queries.rows == 1) {  // Memory bound: one fused pass over the targets.
    const size_t grain = SingleQueryGrain(plan, n, dim);
    RunItems(pool, plan, (n + grain - 1) / grain, [&](size_t chunk) {
      const size_t begin = chunk * grain;
      ScoreOneQuery(kernels, q, targets, begin, std::min(n, begin + grain),
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
    ForEachBlock(kernels, plan, targets, ranges, item / groups,
                 [&](const TargetBlock& block, size_t t0, const float* next, size_t next_bytes) {
                   kernels.score_tiles(MakeTileArgs(q, q0, rows, block, dim, scores + q0 * ld + t0,
                                                    ld, next, next_bytes));
                 });
  });
}

void TopK(const KernelSet& kernels, MatrixView queries, MatrixView targets, uint32_t k,
          uint32_t index_offset, uint32_t* top_indices, float* top_scores, ThreadPool* pool) {
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
      ScoreOneQuery(kernels, q, targets, t_begin, t_end,
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
        kernels, plan, targets, ranges, range,
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
  return Supports(isa) ? KernelsFor(isa) : baseline::kKernels;
}

}  // namespace

CpuIsa BestCpuIsa() {
  static const CpuIsa kBest = SelectIsa();
  return kBest;
}

bool CpuSupportsIsa(CpuIsa isa) { return Supports(isa); }

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
  Scores(KernelsFor(BestCpuIsa()), queries, targets, scores, ld, pool);
}

void CpuCosineTopK(MatrixView queries, MatrixView targets, uint32_t k, uint32_t index_offset,
                   uint32_t* top_indices, float* top_scores, ThreadPool* pool) {
  TopK(KernelsFor(BestCpuIsa()), queries, targets, k, index_offset, top_indices, top_scores, pool);
}

void CpuCosineScoresWithIsa(CpuIsa isa, MatrixView queries, MatrixView targets, float* scores,
                            size_t ld, ThreadPool* pool) {
  Scores(CheckedKernels(isa), queries, targets, scores, ld, pool);
}

void CpuCosineTopKWithIsa(CpuIsa isa, MatrixView queries, MatrixView targets, uint32_t k,
                          uint32_t index_offset, uint32_t* top_indices, float* top_scores,
                          ThreadPool* pool) {
  TopK(CheckedKernels(isa), queries, targets, k, index_offset, top_indices, top_scores, pool);
}

}  // namespace simile
