// Internal to the CPU cosine kernel (core/cpu_cosine.h); not a public API, include it only from
// core/cpu_cosine_kernels_internal.cc (directly or through the rows and tiles headers). GCC/Clang
// generic vectors of W floats (W = 4, 8, 16), loads, prefetch, a lane-wise score clamp, and the
// transposing shuffle tree that sums the lanes of several vectors at once.
//
// Everything here is an always-inline template (or constexpr) without a target attribute, so that
// a function compiled with target("avx2,fma") or target("avx512...") that includes this header
// inlines it as 256- or 512-bit code. Vectors are passed by reference only: by-value vector
// arguments would change the ABI between targets.
//
// Thread safety: pure functions of their arguments; safe to call from any thread.
#ifndef SIMILE_CORE_CPU_COSINE_SIMD_INTERNAL_H_
#define SIMILE_CORE_CPU_COSINE_SIMD_INTERNAL_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

namespace simile::cpu_cosine_internal {
// Internal linkage on purpose: only core/cpu_cosine_kernels_internal.cc includes this header, and
// its per-target instantiations must never be merged with copies from another translation unit.
namespace {

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

}  // namespace
}  // namespace simile::cpu_cosine_internal

#endif  // SIMILE_CORE_CPU_COSINE_SIMD_INTERNAL_H_
