// The per-ISA instantiations of the CPU cosine kernels and their dispatch table (see
// core/cpu_cosine_kernels_internal.h).
//
// Vector code is written once, over GCC/Clang generic vectors of W floats, in always-inline
// templates without a target (core/cpu_cosine_simd_internal.h, core/cpu_cosine_rows_internal.h,
// core/cpu_cosine_tiles_internal.h). Thin wrappers here, compiled with target("avx2,fma") or
// target("avx512..."), instantiate them, so the same source becomes 128-, 256- or 512-bit code;
// BestCpuIsa() picks one set per process with __builtin_cpu_supports. This is the only file
// compiled with target attributes: the templates must be visible (included) here so that they
// inline into the wrappers.
#include "core/cpu_cosine_kernels_internal.h"

#include <cstddef>

#include "core/cpu_cosine_rows_internal.h"
#include "core/cpu_cosine_simd_internal.h"
#include "core/cpu_cosine_tiles_internal.h"

namespace simile::cpu_cosine_internal {
namespace {

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

}  // namespace

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

}  // namespace simile::cpu_cosine_internal
