// Internal to kernels/ (CUDA builds only): the launch functions of the cosine and top-k kernels,
// implemented in cosine_kernels.cu and top_k_kernels.cu. The narrow API between the host code
// (compiled by g++) and the device code (compiled by nvcc): plain pointers and sizes, a stream, and
// a GpuError back (the launch error, if any; execution errors surface at the next synchronization).
//
// Layouts: a matrix of rows of `padded_dim` floats (a multiple of 4, zero-padded; see
// kernels/gpu_plan.h), 16-byte aligned. Queries are normalized in place first
// (LaunchNormalizeQueries), so every kernel below takes normalized queries: a dot product of a
// normalized query with a raw target, divided by the target's norm, is the cosine.
//
// Numerics (the CPU kernel's contract, core/cpu_cosine.h): float accumulation on the fast path,
// scores clamped to [-1, 1] with -0 turned into +0, the cosine of a zero vector is 0. A target
// whose float squared norm lies outside [2^-100, 2^100] (or is 0) is recomputed in double, so
// every finite input gives a finite, correct score. Queries are normalized in double.
//
// Thread safety: the functions may be called from any thread; work on one stream runs in order.
#ifndef SIMILE_KERNELS_COSINE_KERNELS_INTERNAL_H_
#define SIMILE_KERNELS_COSINE_KERNELS_INTERNAL_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/gpu_error.h"

namespace simile::kernels::internal {

// Most queries the fused kernel handles in one pass.
inline constexpr uint32_t kMaxFusedQueries = 4;

// Scales each of q rows to unit norm (norm computed in double); zero rows stay zero.
GpuError LaunchNormalizeQueries(float* queries, uint32_t q, uint32_t padded_dim,
                                cudaStream_t stream);

// scores[j * ld + t] = cosine(query j, target t) for j < q (1 <= q <= kMaxFusedQueries), t < n:
// one pass over the targets, reading each row once with 16-byte loads.
GpuError LaunchFusedScores(const float* queries, uint32_t q, const float* targets, uint32_t n,
                           uint32_t padded_dim, float* scores, uint64_t ld, cudaStream_t stream);

// norms[t] = |target t| when its float squared norm is safe (see above), else -1 (the epilogue
// then recomputes that target's scores in double).
GpuError LaunchTargetNorms(const float* targets, uint32_t n, uint32_t padded_dim, float* norms,
                           cudaStream_t stream);

// In place: scores[j * ld + t] (a dot of normalized query j with raw target t, from SGEMM) becomes
// the cosine, for j < q, t < n.
GpuError LaunchFinishScores(float* scores, uint64_t ld, uint32_t q, uint32_t n, const float* norms,
                            const float* queries, const float* targets, uint32_t padded_dim,
                            cudaStream_t stream);

// Where the first top-k pass reads the score of (query j, target t): scores[j * ld + t], final
// when norms is null, else a raw SGEMM dot finished as LaunchFinishScores does (fused epilogue).
struct ScoreSource {
  const float* scores = nullptr;
  uint64_t ld = 0;
  const float* norms = nullptr;
  const float* queries = nullptr;  // Normalized queries (for the double-precision recomputation).
  const float* targets = nullptr;  // The sub-chunk's targets.
  uint32_t padded_dim = 0;
};

// First pass (kernels/gpu_plan.h): for each query j < q and group g < groups, the k_eff best keys
// of targets [g * span, min(n, (g + 1) * span)) (span = FirstPassSpan(FirstPassFor(k_eff))),
// best first, padded with 0 keys, at out[j * out_ld + g * k_eff + i]. Target t's key carries the
// index index_base + t.
GpuError LaunchTopKFirstPass(const ScoreSource& source, uint32_t q, uint32_t n,
                             uint32_t index_base, uint32_t k_eff, uint64_t groups, uint64_t* out,
                             uint64_t out_ld, cudaStream_t stream);

// Reduce or final-merge pass: for each query j < q and group g < groups, the k_eff largest of a
// tile made of `extra_count` keys extra[j * extra_ld + 0 ..) (the running best list; extra may be
// null when extra_count is 0) and up to kSortTile - extra_count keys
// in[j * in_ld + g * (kSortTile - extra_count) ..) (of m keys per query), best first, at
// out[j * out_ld + g * k_eff + i]. `out` may equal `extra` when groups == 1 (the final merge
// updates the best list in place); otherwise out must not overlap the inputs.
GpuError LaunchTopKMerge(const uint64_t* in, uint64_t in_ld, uint64_t m, uint32_t q,
                         uint64_t groups, uint32_t k_eff, uint64_t* out, uint64_t out_ld,
                         const uint64_t* extra, uint64_t extra_ld, uint32_t extra_count,
                         cudaStream_t stream);

// indices[i] and scores[i] from keys[i], i < count.
GpuError LaunchDecodeTopK(const uint64_t* keys, uint64_t count, uint32_t* indices, float* scores,
                          cudaStream_t stream);

// Fault injection (tests, and the service's fault drill): a kernel that writes to an unmapped
// address, so the context fails with the sticky cudaErrorIllegalAddress.
GpuError LaunchIllegalAddress(cudaStream_t stream);

// data[i] = a pseudo-random float in [-1, 1) from (seed, i), for benchmarks (no host data).
GpuError LaunchFillRandom(float* data, uint64_t count, uint64_t seed, cudaStream_t stream);

// OK when this binary has code the current device can run (an error such as
// cudaErrorNoKernelImageForDevice otherwise).
GpuError CheckKernelImage();

}  // namespace simile::kernels::internal

#endif  // SIMILE_KERNELS_COSINE_KERNELS_INTERNAL_H_
