// The 64-bit top-k key: one (score, index) pair packed so that comparing keys as unsigned integers
// is the CPU's ranking (core/top_k.h IsBetter): a higher score first, among equal scores the lower
// index first. The GPU selects the largest keys; the host tests check the order against IsBetter.
//
//   key = (OrderedBits(score) << 32) | ~index
// OrderedBits maps float bit patterns to unsigned integers in the order of the floats (negative
// floats reversed below the positive ones). Scores are finite and +0 is used for zero (the kernels
// add 0.0f after clamping, like the CPU), so equal scores have equal bits. The key 0 is below
// every real key (its upper half would be the bits of a NaN), which the kernels use for empty
// slots.
//
// Plain C++17 usable from host and device code (no CUDA headers needed on the host).
//
// Thread safety: pure functions.
#ifndef SIMILE_KERNELS_TOP_K_KEY_H_
#define SIMILE_KERNELS_TOP_K_KEY_H_

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define SIMILE_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define SIMILE_HOST_DEVICE inline
#endif

namespace simile::kernels {

SIMILE_HOST_DEVICE uint32_t FloatBits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}

SIMILE_HOST_DEVICE float BitsToFloat(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

SIMILE_HOST_DEVICE uint32_t OrderedBits(float score) {
  const uint32_t u = FloatBits(score);
  return (u & 0x80000000u) != 0 ? ~u : (u | 0x80000000u);
}

SIMILE_HOST_DEVICE unsigned long long MakeTopKKey(float score, uint32_t index) {
  return (static_cast<unsigned long long>(OrderedBits(score)) << 32) |
         static_cast<unsigned long long>(~index);
}

SIMILE_HOST_DEVICE uint32_t TopKKeyIndex(unsigned long long key) {
  return ~static_cast<uint32_t>(key & 0xffffffffull);
}

SIMILE_HOST_DEVICE float TopKKeyScore(unsigned long long key) {
  const uint32_t u = static_cast<uint32_t>(key >> 32);
  return BitsToFloat((u & 0x80000000u) != 0 ? (u & 0x7fffffffu) : ~u);
}

}  // namespace simile::kernels

#endif  // SIMILE_KERNELS_TOP_K_KEY_H_
