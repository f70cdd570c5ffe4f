// Internal to kernels/: device helpers shared by cosine_kernels.cu and top_k_kernels.cu (include
// only from .cu files): the score clamp, the safe-norm range, the double-precision recomputation,
// the row-group reduction of the streaming kernels, and the shared-memory bitonic sort.
#ifndef SIMILE_KERNELS_DEVICE_FUNCTIONS_CUH_
#define SIMILE_KERNELS_DEVICE_FUNCTIONS_CUH_

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cosine_kernels_internal.h"

namespace simile::kernels::device {

inline constexpr unsigned kFullMask = 0xffffffffu;

// The CPU kernel's safe range for a float squared norm (core/cpu_cosine_exact_internal.h): inside
// it, float dot products of a unit query with the row neither overflow nor lose precision.
inline constexpr float kMinSafeSquaredNorm = 0x1p-100f;
inline constexpr float kMaxSafeSquaredNorm = 0x1p100f;

__device__ __forceinline__ bool IsSafeSquaredNorm(float sq) {
  return sq >= kMinSafeSquaredNorm && sq <= kMaxSafeSquaredNorm;
}

// Clamps to [-1, 1] and turns -0 into +0 (so that equal scores have equal bits).
__device__ __forceinline__ float ClampScore(float s) {
  return fminf(1.0f, fmaxf(-1.0f, s)) + 0.0f;
}

// cosine(q, t) in double, for targets whose float squared norm is unsafe; 0 if either is zero.
__device__ __noinline__ inline float SlowCosine(const float* q, const float* t, uint32_t dim) {
  double dot = 0.0;
  double qq = 0.0;
  double tt = 0.0;
  for (uint32_t i = 0; i < dim; ++i) {
    const double a = q[i];
    const double b = t[i];
    dot += a * b;
    qq += a * a;
    tt += b * b;
  }
  if (qq == 0.0 || tt == 0.0) return 0.0f;
  return ClampScore(static_cast<float>(dot / (sqrt(qq) * sqrt(tt))));
}

// The score of (query j, target t) from a ScoreSource (see cosine_kernels_internal.h).
__device__ __forceinline__ float LoadScore(const internal::ScoreSource& s, uint32_t j,
                                           uint32_t t) {
  const float v = s.scores[static_cast<uint64_t>(j) * s.ld + t];
  if (s.norms == nullptr) return v;
  const float norm = s.norms[t];
  if (norm > 0.0f) return ClampScore(v / norm);
  return SlowCosine(s.queries + static_cast<uint64_t>(j) * s.padded_dim,
                    s.targets + static_cast<uint64_t>(t) * s.padded_dim, s.padded_dim);
}

// Sum over the `group` (a power of two <= 32) consecutive lanes of the warp that hold one row;
// every lane of the warp must call it. The result is in every lane of the group.
__device__ __forceinline__ float GroupSum(float v, uint32_t group) {
  for (uint32_t offset = group >> 1; offset > 0; offset >>= 1) {
    v += __shfl_xor_sync(kFullMask, v, offset);
  }
  return v;
}

// Sorts keys[0, n) in descending order; n is a power of two; every thread of the block calls it
// with its thread index and the block size, after the keys are written and a __syncthreads().
// Ends with a __syncthreads(), so the caller may read the keys directly after.
__device__ inline void BitonicSortDescending(unsigned long long* keys, uint32_t n, uint32_t tid,
                                             uint32_t threads) {
  for (uint32_t k = 2; k <= n; k <<= 1) {
    for (uint32_t j = k >> 1; j > 0; j >>= 1) {
      for (uint32_t p = tid; p < n / 2; p += threads) {
        const uint32_t i = (p / j) * 2 * j + (p % j);  // Bit j of i is 0.
        const uint32_t l = i + j;
        const unsigned long long a = keys[i];
        const unsigned long long b = keys[l];
        // Blocks of size k alternate direction; the last stage (k == n) sorts all descending.
        const bool descending = (i & k) == 0;
        if (descending ? a < b : a > b) {
          keys[i] = b;
          keys[l] = a;
        }
      }
      __syncthreads();
    }
  }
}

// Smallest power of two >= x (x >= 1, x <= 2^31).
__device__ __forceinline__ uint32_t NextPow2(uint32_t x) {
  return x <= 1 ? 1u : 1u << (32 - __clz(x - 1));
}

}  // namespace simile::kernels::device

#endif  // SIMILE_KERNELS_DEVICE_FUNCTIONS_CUH_
