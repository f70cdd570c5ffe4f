// The cosine kernels of kernels/cosine_kernels_internal.h: query normalization, the fused one-pass
// kernel for up to four queries, the target norms and the SGEMM epilogue, and the test/benchmark
// helpers.
//
// The streaming kernels (fused scores, target norms) give each target row a group of G lanes of a
// warp, G the power of two >= the row's float4 count, at most 32: a warp covers 32 / G rows at
// once, so short rows do not leave lanes idle. Each lane reads float4s i, i + G, ... of its row
// (consecutive lanes read consecutive 16-byte words: coalesced), four loads in flight per lane
// before their first use, with the streaming cache hint (the targets are read once).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "kernels/cosine_kernels_internal.h"
#include "kernels/cuda_check_internal.h"
#include "kernels/device_functions.cuh"

namespace simile::kernels {
namespace device {
namespace {

constexpr uint32_t kStreamThreads = 256;
constexpr uint64_t kMaxStreamBlocks = uint64_t{1} << 20;  // Grid-stride beyond this.

// log2 of the lanes per row: the smallest power of two >= vecs, at most 32.
uint32_t GroupLog2(uint32_t vecs) {
  uint32_t log2 = 0;
  while (log2 < 5 && (1u << log2) < vecs) ++log2;
  return log2;
}

uint32_t StreamBlocks(uint64_t n, uint32_t group_log2) {
  const uint64_t rows_per_block = (kStreamThreads / 32) * (32u >> group_log2);
  const uint64_t blocks = (n + rows_per_block - 1) / rows_per_block;
  return static_cast<uint32_t>(std::max<uint64_t>(1, std::min(blocks, kMaxStreamBlocks)));
}

__global__ void __launch_bounds__(kStreamThreads)
    NormalizeQueriesKernel(float* queries, uint32_t q, uint32_t padded_dim) {
  const uint32_t warp = (blockIdx.x * blockDim.x + threadIdx.x) / 32;
  const uint32_t lane = threadIdx.x & 31u;
  if (warp >= q) return;  // Whole warps leave together.
  float* row = queries + static_cast<uint64_t>(warp) * padded_dim;
  double sum = 0.0;
  for (uint32_t i = lane; i < padded_dim; i += 32) {
    const double v = row[i];
    sum += v * v;
  }
  for (uint32_t offset = 16; offset > 0; offset >>= 1) {
    sum += __shfl_xor_sync(kFullMask, sum, offset);
  }
  if (sum == 0.0) return;
  const double inv = 1.0 / sqrt(sum);
  for (uint32_t i = lane; i < padded_dim; i += 32) {
    row[i] = static_cast<float>(static_cast<double>(row[i]) * inv);
  }
}

// One float4 of a target row into the squared norm and up to NQ dot products.
template <int NQ>
__device__ __forceinline__ void Accumulate(const float4 a, const float4* __restrict__ q4,
                                           uint32_t q, uint32_t vecs, uint32_t i, float& tt,
                                           float (&dot)[NQ]) {
  tt = fmaf(a.x, a.x, tt);
  tt = fmaf(a.y, a.y, tt);
  tt = fmaf(a.z, a.z, tt);
  tt = fmaf(a.w, a.w, tt);
#pragma unroll
  for (int j = 0; j < NQ; ++j) {
    if (NQ == 1 || static_cast<uint32_t>(j) < q) {
      const float4 b = __ldg(q4 + static_cast<uint64_t>(j) * vecs + i);
      dot[j] = fmaf(a.x, b.x, dot[j]);
      dot[j] = fmaf(a.y, b.y, dot[j]);
      dot[j] = fmaf(a.z, b.z, dot[j]);
      dot[j] = fmaf(a.w, b.w, dot[j]);
    }
  }
}

// NQ == 0: norms only (norms[row]); NQ >= 1: scores of q <= NQ queries (scores[j * ld + row]).
template <int NQ>
__global__ void __launch_bounds__(kStreamThreads)
    StreamRowsKernel(const float* __restrict__ queries, uint32_t q,
                     const float* __restrict__ targets, uint32_t n, uint32_t padded_dim,
                     uint32_t group_log2, float* __restrict__ out, uint64_t ld) {
  constexpr int kDots = NQ == 0 ? 1 : NQ;
  const uint32_t group = 1u << group_log2;
  const uint32_t lane = threadIdx.x & 31u;
  const uint32_t sub = lane & (group - 1);
  const uint32_t rows_per_warp = 32u >> group_log2;
  const uint32_t vecs = padded_dim / 4;
  const float4* __restrict__ q4 = reinterpret_cast<const float4*>(queries);
  const uint64_t warp = (static_cast<uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const uint64_t warps = static_cast<uint64_t>(gridDim.x) * blockDim.x / 32;
  // The loop bound is the same for every lane of the warp, so the shuffles below see full warps.
  for (uint64_t base = warp * rows_per_warp; base < n; base += warps * rows_per_warp) {
    const uint64_t row = base + (lane >> group_log2);
    const bool valid = row < n;
    float tt = 0.0f;
    float dot[kDots];
#pragma unroll
    for (int j = 0; j < kDots; ++j) dot[j] = 0.0f;
    if (valid) {
      const float4* __restrict__ t4 = reinterpret_cast<const float4*>(targets + row * padded_dim);
      uint32_t i = sub;
      for (; i + 3 * group < vecs; i += 4 * group) {
        float4 a[4];
#pragma unroll
        for (int u = 0; u < 4; ++u) a[u] = __ldcs(t4 + i + u * group);
#pragma unroll
        for (int u = 0; u < 4; ++u) {
          if constexpr (NQ == 0) {
            tt = fmaf(a[u].x, a[u].x, tt);
            tt = fmaf(a[u].y, a[u].y, tt);
            tt = fmaf(a[u].z, a[u].z, tt);
            tt = fmaf(a[u].w, a[u].w, tt);
          } else {
            Accumulate<NQ>(a[u], q4, q, vecs, i + u * group, tt, dot);
          }
        }
      }
      for (; i < vecs; i += group) {
        const float4 a = __ldcs(t4 + i);
        if constexpr (NQ == 0) {
          tt = fmaf(a.x, a.x, tt);
          tt = fmaf(a.y, a.y, tt);
          tt = fmaf(a.z, a.z, tt);
          tt = fmaf(a.w, a.w, tt);
        } else {
          Accumulate<NQ>(a, q4, q, vecs, i, tt, dot);
        }
      }
    }
    tt = GroupSum(tt, group);
    if constexpr (NQ > 0) {
#pragma unroll
      for (int j = 0; j < kDots; ++j) dot[j] = GroupSum(dot[j], group);
    }
    if (valid && sub == 0) {
      const bool safe = IsSafeSquaredNorm(tt);
      if constexpr (NQ == 0) {
        out[row] = safe ? sqrtf(tt) : -1.0f;
      } else {
        const float norm = sqrtf(tt);
#pragma unroll
        for (int j = 0; j < kDots; ++j) {
          if (static_cast<uint32_t>(j) < q) {
            out[static_cast<uint64_t>(j) * ld + row] =
                safe ? ClampScore(dot[j] / norm)
                     : SlowCosine(queries + static_cast<uint64_t>(j) * padded_dim,
                                  targets + row * padded_dim, padded_dim);
          }
        }
      }
    }
  }
}

__global__ void __launch_bounds__(256)
    FinishScoresKernel(float* scores, uint64_t ld, uint32_t q, uint32_t n,
                       const float* __restrict__ norms, const float* __restrict__ queries,
                       const float* __restrict__ targets, uint32_t padded_dim) {
  const uint64_t t = static_cast<uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= n) return;
  const float norm = norms[t];
  for (uint32_t j = blockIdx.y; j < q; j += gridDim.y) {
    float& s = scores[static_cast<uint64_t>(j) * ld + t];
    s = norm > 0.0f ? ClampScore(s / norm)
                    : SlowCosine(queries + static_cast<uint64_t>(j) * padded_dim,
                                 targets + t * padded_dim, padded_dim);
  }
}

__global__ void IllegalAddressKernel(int* address) { *address = 1; }

__device__ __forceinline__ uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

__global__ void FillRandomKernel(float* data, uint64_t count, uint64_t seed) {
  const uint64_t stride = static_cast<uint64_t>(gridDim.x) * blockDim.x;
  for (uint64_t i = static_cast<uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += stride) {
    const uint32_t bits = static_cast<uint32_t>(SplitMix64(seed * 0x100000001b3ull + i) >> 40);
    data[i] = static_cast<float>(bits) * 0x1p-23f - 1.0f;  // 24 random bits -> [-1, 1).
  }
}

}  // namespace
}  // namespace device

namespace internal {

GpuError LaunchNormalizeQueries(float* queries, uint32_t q, uint32_t padded_dim,
                                cudaStream_t stream) {
  const uint32_t warps_per_block = device::kStreamThreads / 32;
  const uint32_t blocks = (q + warps_per_block - 1) / warps_per_block;
  device::NormalizeQueriesKernel<<<blocks, device::kStreamThreads, 0, stream>>>(queries, q,
                                                                                 padded_dim);
  SIMILE_CUDA_RETURN_IF_LAUNCH_FAILED("NormalizeQueriesKernel");
  return GpuError::Ok();
}

GpuError LaunchFusedScores(const float* queries, uint32_t q, const float* targets, uint32_t n,
                           uint32_t padded_dim, float* scores, uint64_t ld, cudaStream_t stream) {
  if (q == 0 || q > kMaxFusedQueries || padded_dim % 4 != 0) {
    return GpuError::Make(GpuErrorKind::kInvalidArgument, "LaunchFusedScores: bad shape");
  }
  const uint32_t group_log2 = device::GroupLog2(padded_dim / 4);
  const uint32_t blocks = device::StreamBlocks(n, group_log2);
  if (q == 1) {
    device::StreamRowsKernel<1><<<blocks, device::kStreamThreads, 0, stream>>>(
        queries, q, targets, n, padded_dim, group_log2, scores, ld);
  } else {
    device::StreamRowsKernel<4><<<blocks, device::kStreamThreads, 0, stream>>>(
        queries, q, targets, n, padded_dim, group_log2, scores, ld);
  }
  SIMILE_CUDA_RETURN_IF_LAUNCH_FAILED("StreamRowsKernel (fused scores)");
  return GpuError::Ok();
}

GpuError LaunchTargetNorms(const float* targets, uint32_t n, uint32_t padded_dim, float* norms,
                           cudaStream_t stream) {
  if (padded_dim % 4 != 0) {
    return GpuError::Make(GpuErrorKind::kInvalidArgument, "LaunchTargetNorms: bad shape");
  }
  const uint32_t group_log2 = device::GroupLog2(padded_dim / 4);
  const uint32_t blocks = device::StreamBlocks(n, group_log2);
  device::StreamRowsKernel<0><<<blocks, device::kStreamThreads, 0, stream>>>(
      nullptr, 0, targets, n, padded_dim, group_log2, norms, 0);
  SIMILE_CUDA_RETURN_IF_LAUNCH_FAILED("StreamRowsKernel (target norms)");
  return GpuError::Ok();
}

GpuError LaunchFinishScores(float* scores, uint64_t ld, uint32_t q, uint32_t n, const float* norms,
                            const float* queries, const float* targets, uint32_t padded_dim,
                            cudaStream_t stream) {
  const dim3 block(256);
  const dim3 grid((n + 255) / 256, std::min<uint32_t>(q, 65535));
  device::FinishScoresKernel<<<grid, block, 0, stream>>>(scores, ld, q, n, norms, queries,
                                                         targets, padded_dim);
  SIMILE_CUDA_RETURN_IF_LAUNCH_FAILED("FinishScoresKernel");
  return GpuError::Ok();
}

GpuError LaunchIllegalAddress(cudaStream_t stream) {
  // A low address: never mapped in a CUDA context.
  int* address = reinterpret_cast<int*>(static_cast<uintptr_t>(0x10));
  device::IllegalAddressKernel<<<1, 1, 0, stream>>>(address);
  SIMILE_CUDA_RETURN_IF_LAUNCH_FAILED("IllegalAddressKernel");
  return GpuError::Ok();
}

GpuError LaunchFillRandom(float* data, uint64_t count, uint64_t seed, cudaStream_t stream) {
  const uint64_t blocks = std::min<uint64_t>((count + 255) / 256, 65536);
  device::FillRandomKernel<<<static_cast<uint32_t>(std::max<uint64_t>(blocks, 1)), 256, 0,
                             stream>>>(data, count, seed);
  SIMILE_CUDA_RETURN_IF_LAUNCH_FAILED("FillRandomKernel");
  return GpuError::Ok();
}

GpuError CheckKernelImage() {
  cudaFuncAttributes attributes{};
  SIMILE_CUDA_RETURN_IF_ERROR(
      cudaFuncGetAttributes(&attributes, device::NormalizeQueriesKernel));
  return GpuError::Ok();
}

}  // namespace internal
}  // namespace simile::kernels
