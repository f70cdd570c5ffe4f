// The memory-read floor of the CPU benchmarks: a sum of every float with eight independent 256-bit
// accumulators (AVX2 where the CPU has it), i.e. one plain pass over the bytes with nothing else to do. A
// kernel that reads the same bytes is read against it, in the same binary and run.
#ifndef SIMILE_BENCH_MEMORY_FLOOR_H_
#define SIMILE_BENCH_MEMORY_FLOOR_H_

#include <cstddef>
#include <cstring>

namespace simile::bench {
namespace floor_internal {

typedef float V8 __attribute__((vector_size(32)));

[[gnu::always_inline]] inline float SumImpl(const float* x, size_t n) {
  V8 acc[8] = {};
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
#pragma GCC unroll 8
    for (int u = 0; u < 8; ++u) {
      V8 v;
      std::memcpy(&v, x + i + 8 * u, sizeof(v));
      acc[u] += v;
    }
  }
  float total = 0.0f;
  for (int u = 0; u < 8; ++u) {
    for (int l = 0; l < 8; ++l) total += acc[u][l];
  }
  for (; i < n; ++i) total += x[i];
  return total;
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) inline float SumAvx2(const float* x, size_t n) { return SumImpl(x, n); }
#endif

}  // namespace floor_internal

// The sum of x[0..n): the floor's whole work.
inline float MemoryFloorSum(const float* x, size_t n) {
#if defined(__x86_64__)
  static const bool avx2 = __builtin_cpu_supports("avx2");
  return avx2 ? floor_internal::SumAvx2(x, n) : floor_internal::SumImpl(x, n);
#else
  return floor_internal::SumImpl(x, n);
#endif
}

}  // namespace simile::bench

#endif  // SIMILE_BENCH_MEMORY_FLOOR_H_
