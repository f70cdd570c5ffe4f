// Internal to the CPU cosine kernel (core/cpu_cosine.h); not a public API, include it only from
// core/cpu_cosine_*. The per-ISA kernel table: what each vectorized kernel computes, the arguments
// of the tiled Q x N kernel, and KernelsFor(isa), which returns the set compiled for one
// instruction set. The kernels themselves are in core/cpu_cosine_rows_internal.h and
// core/cpu_cosine_tiles_internal.h, instantiated per ISA in core/cpu_cosine_kernels_internal.cc;
// this header has no vector code, so the work-splitting code can include it without a target.
//
// Thread safety: the tables are constant; the kernels are pure functions of their arguments (they
// write only their output and scratch buffers). Safe to call from any thread.
#ifndef SIMILE_CORE_CPU_COSINE_KERNELS_INTERNAL_H_
#define SIMILE_CORE_CPU_COSINE_KERNELS_INTERNAL_H_

#include <cstddef>

#include "core/cpu_cosine.h"

namespace simile::cpu_cosine_internal {

// Scores of nq queries (row pointers, any alignment) against nt packed targets (see PackRowsImpl in
// core/cpu_cosine_rows_internal.h): out[i * ld + j] = clamp(dot(q_i, t_j) * query_scale[i] *
// target_scale[j]).
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

inline constexpr int kMaxTileQueries = 4;
// Long rows are processed in chunks of this many floats, so that a query tile (4 x 4 KiB) stays in
// L1; unreduced accumulators carry over between chunks in TileArgs::partial.
inline constexpr size_t kDimChunk = 1024;
inline constexpr size_t kPartialFloatsPerTile = kMaxTileQueries * 4 * 16;

// One instruction set's kernels (see the *Impl templates they instantiate).
struct KernelSet {
  // SquaredNormsImpl: out[i] = float |row i|^2 for n contiguous rows.
  void (*squared_norms)(const float* rows, size_t n, size_t dim, float* out);
  // DotsAndSquaredNormsImpl: the fused one-query pass, dots[i] = query . t_i and
  // squared_norms[i] = |t_i|^2 for n contiguous target rows.
  void (*dots_and_squared_norms)(const float* query, const float* targets, size_t n, size_t dim,
                                 float* dots, float* squared_norms);
  // PackRowsImpl: copies n rows into 64-byte aligned, zero-padded rows of `stride` floats and
  // writes their squared norms.
  void (*pack_rows)(const float* src, size_t n, size_t dim, float* dst, size_t stride,
                    float* squared_norms);
  // ScoreTilesImpl: the register-tiled Q x N scores described by `args`.
  void (*score_tiles)(const TileArgs& args);
};

// Whether this CPU can run `isa`'s code (asks __builtin_cpu_supports on every call).
[[nodiscard]] bool Supports(CpuIsa isa);

// The kernels compiled for `isa` (the baseline set for an ISA this build has no code for). The
// caller checks Supports(isa) first.
[[nodiscard]] const KernelSet& KernelsFor(CpuIsa isa);

}  // namespace simile::cpu_cosine_internal

#endif  // SIMILE_CORE_CPU_COSINE_KERNELS_INTERNAL_H_
