// The top-k kernels of kernels/cosine_kernels_internal.h (the passes are described in
// kernels/gpu_plan.h). Every kernel works on 64-bit keys (kernels/top_k_key.h): selecting the
// largest keys is selecting the best (score, index) pairs in the CPU's order, and keys are unique
// (indices are), so the result does not depend on the order in which threads see them.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

#include "kernels/cosine_kernels_internal.h"
#include "kernels/cuda_check_internal.h"
#include "kernels/device_functions.cuh"
#include "kernels/top_k_key.h"
#include "kernels/top_k_shape.h"

namespace simile::kernels {
namespace device {
namespace {

using Key = unsigned long long;

__device__ __forceinline__ uint64_t Min64(uint64_t a, uint64_t b) { return a < b ? a : b; }

// Inserts `key` into best[0..KT), sorted descending, dropping the smallest; the caller has checked
// key > best[KT - 1]. Fully unrolled with constant indices, so `best` stays in registers.
template <int KT>
__device__ __forceinline__ void InsertSorted(Key (&best)[KT], Key key) {
#pragma unroll
  for (int i = KT - 1; i > 0; --i) {
    best[i] = key > best[i - 1] ? best[i - 1] : (key > best[i] ? key : best[i]);
  }
  best[0] = key > best[0] ? key : best[0];
}

// First pass for k_eff <= KT: each thread keeps its KT best keys of the block's span in registers;
// then only keys >= the largest per-thread k_eff-th key can be among the block's k_eff best (the
// thread holding that key has k_eff keys at least as large), so only those are sorted.
template <int KT>
__global__ void __launch_bounds__(kRegisterPassThreads)
    TopKRegisterPassKernel(internal::ScoreSource source, uint32_t n, uint32_t index_base,
                           uint32_t k_eff, uint32_t groups, Key* out, uint64_t out_ld) {
  __shared__ Key candidates[kRegisterPassThreads * KT];
  __shared__ Key threshold;
  __shared__ uint32_t count;
  const uint32_t tid = threadIdx.x;
  const uint32_t j = blockIdx.x / groups;
  const uint32_t g = blockIdx.x % groups;
  const uint64_t begin = static_cast<uint64_t>(g) * kRegisterSpan;
  const uint64_t end = Min64(n, begin + kRegisterSpan);

  Key best[KT];
#pragma unroll
  for (int i = 0; i < KT; ++i) best[i] = 0;
  for (uint64_t t = begin + tid; t < end; t += kRegisterPassThreads) {
    const uint32_t column = static_cast<uint32_t>(t);
    const Key key = MakeTopKKey(LoadScore(source, j, column), index_base + column);
    if (key > best[KT - 1]) InsertSorted<KT>(best, key);
  }

  if (tid == 0) {
    threshold = 0;
    count = 0;
  }
  __syncthreads();
  Key kth = 0;
#pragma unroll
  for (int i = 0; i < KT; ++i) {
    if (static_cast<uint32_t>(i) + 1 == k_eff) kth = best[i];
  }
  if (kth != 0) atomicMax(&threshold, kth);
  __syncthreads();
  const Key floor_key = threshold;
#pragma unroll
  for (int i = 0; i < KT; ++i) {
    if (best[i] != 0 && best[i] >= floor_key) candidates[atomicAdd(&count, 1u)] = best[i];
  }
  __syncthreads();
  const uint32_t total = count;
  const uint32_t size = NextPow2(total);
  for (uint32_t i = total + tid; i < size; i += kRegisterPassThreads) candidates[i] = 0;
  __syncthreads();
  BitonicSortDescending(candidates, size, tid, kRegisterPassThreads);
  Key* dst = out + static_cast<uint64_t>(j) * out_ld + static_cast<uint64_t>(g) * k_eff;
  for (uint32_t i = tid; i < k_eff; i += kRegisterPassThreads) {
    dst[i] = i < total ? candidates[i] : 0;
  }
}

// First pass for larger k_eff: each block sorts a tile of kSortTile scores.
__global__ void __launch_bounds__(kSortThreads)
    TopKSortScoresKernel(internal::ScoreSource source, uint32_t n, uint32_t index_base,
                         uint32_t k_eff, uint32_t groups, Key* out, uint64_t out_ld) {
  __shared__ Key tile[kSortTile];
  const uint32_t tid = threadIdx.x;
  const uint32_t j = blockIdx.x / groups;
  const uint32_t g = blockIdx.x % groups;
  const uint64_t begin = static_cast<uint64_t>(g) * kSortTile;
  const uint32_t count = static_cast<uint32_t>(Min64(n - begin, kSortTile));
  const uint32_t size = NextPow2(count);
  for (uint32_t i = tid; i < size; i += kSortThreads) {
    Key key = 0;
    if (i < count) {
      const uint32_t column = static_cast<uint32_t>(begin) + i;
      key = MakeTopKKey(LoadScore(source, j, column), index_base + column);
    }
    tile[i] = key;
  }
  __syncthreads();
  BitonicSortDescending(tile, size, tid, kSortThreads);
  Key* dst = out + static_cast<uint64_t>(j) * out_ld + static_cast<uint64_t>(g) * k_eff;
  for (uint32_t i = tid; i < k_eff; i += kSortThreads) dst[i] = i < size ? tile[i] : 0;
}

// Reduce / final merge: a tile of extra_count keys of `extra` and up to kSortTile - extra_count
// keys of `in`. Not __restrict__: the final merge writes `out` == `extra` (one block per query
// reads all of it before the first barrier and writes after the last).
__global__ void __launch_bounds__(kSortThreads)
    TopKMergeKernel(const Key* in, uint64_t in_ld, uint64_t m, uint32_t groups, uint32_t k_eff,
                    Key* out, uint64_t out_ld, const Key* extra, uint64_t extra_ld,
                    uint32_t extra_count) {
  __shared__ Key tile[kSortTile];
  const uint32_t tid = threadIdx.x;
  const uint32_t j = blockIdx.x / groups;
  const uint32_t g = blockIdx.x % groups;
  const uint64_t span = kSortTile - extra_count;
  const uint64_t begin = static_cast<uint64_t>(g) * span;
  const uint32_t count = begin < m ? static_cast<uint32_t>(Min64(m - begin, span)) : 0;
  const uint32_t size = NextPow2(extra_count + count);
  for (uint32_t i = tid; i < size; i += kSortThreads) {
    Key key = 0;
    if (i < extra_count) {
      key = extra[static_cast<uint64_t>(j) * extra_ld + i];
    } else if (i - extra_count < count) {
      key = in[static_cast<uint64_t>(j) * in_ld + begin + (i - extra_count)];
    }
    tile[i] = key;
  }
  __syncthreads();
  BitonicSortDescending(tile, size, tid, kSortThreads);
  Key* dst = out + static_cast<uint64_t>(j) * out_ld + static_cast<uint64_t>(g) * k_eff;
  for (uint32_t i = tid; i < k_eff; i += kSortThreads) dst[i] = i < size ? tile[i] : 0;
}

__global__ void DecodeTopKKernel(const Key* __restrict__ keys, uint64_t count,
                                 uint32_t* __restrict__ indices, float* __restrict__ scores) {
  const uint64_t stride = static_cast<uint64_t>(gridDim.x) * blockDim.x;
  for (uint64_t i = static_cast<uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += stride) {
    const Key key = keys[i];
    indices[i] = TopKKeyIndex(key);
    scores[i] = TopKKeyScore(key);
  }
}

GpuError CheckGrid(uint64_t q, uint64_t groups, const char* kernel) {
  const uint64_t blocks = q * groups;
  if (groups == 0 || blocks == 0 || blocks > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
    return GpuError::Make(GpuErrorKind::kInternal,
                          std::string(kernel) + ": grid of " + std::to_string(blocks) +
                              " blocks is empty or too large");
  }
  return GpuError::Ok();
}

}  // namespace
}  // namespace device

namespace internal {

GpuError LaunchTopKFirstPass(const ScoreSource& source, uint32_t q, uint32_t n,
                             uint32_t index_base, uint32_t k_eff, uint64_t groups, uint64_t* out,
                             uint64_t out_ld, cudaStream_t stream) {
  if (k_eff == 0 || k_eff > kMaxDeviceTopK || n == 0) {
    return GpuError::Make(GpuErrorKind::kInvalidArgument, "LaunchTopKFirstPass: bad shape");
  }
  SIMILE_GPU_RETURN_IF_ERROR(device::CheckGrid(q, groups, "TopKFirstPass"));
  auto* keys = reinterpret_cast<device::Key*>(out);
  const uint32_t blocks = static_cast<uint32_t>(q * groups);
  const uint32_t g = static_cast<uint32_t>(groups);
  if (k_eff <= 8) {
    device::TopKRegisterPassKernel<8><<<blocks, kRegisterPassThreads, 0, stream>>>(
        source, n, index_base, k_eff, g, keys, out_ld);
  } else if (k_eff <= 32) {
    device::TopKRegisterPassKernel<32><<<blocks, kRegisterPassThreads, 0, stream>>>(
        source, n, index_base, k_eff, g, keys, out_ld);
  } else {
    device::TopKSortScoresKernel<<<blocks, kSortThreads, 0, stream>>>(source, n, index_base,
                                                                      k_eff, g, keys, out_ld);
  }
  SIMILE_CUDA_RETURN_IF_LAUNCH_FAILED("TopK first pass");
  return GpuError::Ok();
}

GpuError LaunchTopKMerge(const uint64_t* in, uint64_t in_ld, uint64_t m, uint32_t q,
                         uint64_t groups, uint32_t k_eff, uint64_t* out, uint64_t out_ld,
                         const uint64_t* extra, uint64_t extra_ld, uint32_t extra_count,
                         cudaStream_t stream) {
  if (k_eff == 0 || k_eff > kMaxDeviceTopK || extra_count >= kSortTile ||
      (extra_count > 0 && extra == nullptr) || (extra != nullptr && out == extra && groups != 1) ||
      m > groups * (kSortTile - extra_count)) {
    return GpuError::Make(GpuErrorKind::kInvalidArgument, "LaunchTopKMerge: bad shape");
  }
  SIMILE_GPU_RETURN_IF_ERROR(device::CheckGrid(q, groups, "TopKMerge"));
  device::TopKMergeKernel<<<static_cast<uint32_t>(q * groups), kSortThreads, 0, stream>>>(
      reinterpret_cast<const device::Key*>(in), in_ld, m, static_cast<uint32_t>(groups), k_eff,
      reinterpret_cast<device::Key*>(out), out_ld, reinterpret_cast<const device::Key*>(extra),
      extra_ld, extra_count);
  SIMILE_CUDA_RETURN_IF_LAUNCH_FAILED("TopKMergeKernel");
  return GpuError::Ok();
}

GpuError LaunchDecodeTopK(const uint64_t* keys, uint64_t count, uint32_t* indices, float* scores,
                          cudaStream_t stream) {
  if (count == 0) return GpuError::Ok();
  const uint64_t blocks = std::min<uint64_t>((count + 255) / 256, 65536);
  device::DecodeTopKKernel<<<static_cast<uint32_t>(blocks), 256, 0, stream>>>(
      reinterpret_cast<const device::Key*>(keys), count, indices, scores);
  SIMILE_CUDA_RETURN_IF_LAUNCH_FAILED("DecodeTopKKernel");
  return GpuError::Ok();
}

}  // namespace internal
}  // namespace simile::kernels
