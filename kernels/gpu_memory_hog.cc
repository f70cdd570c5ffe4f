// CUDA builds only: kernels/gpu_memory_hog.h (test-only).
#include "kernels/gpu_memory_hog.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/cuda_check_internal.h"

namespace simile::kernels {

absl::StatusOr<std::unique_ptr<GpuMemoryHog>> GpuMemoryHog::Grab(int device,
                                                                 uint64_t leave_free_bytes) {
  internal::DeviceScope scope(device);
  if (!scope.status().ok()) return absl::FailedPreconditionError(scope.status().message);
  std::unique_ptr<GpuMemoryHog> hog(new GpuMemoryHog(device));
  constexpr uint64_t kMinBlock = uint64_t{1} << 20;
  uint64_t block = uint64_t{1} << 30;
  while (true) {
    size_t free_now = 0;
    size_t total = 0;
    const cudaError_t info = cudaMemGetInfo(&free_now, &total);
    if (info != cudaSuccess) {
      return absl::FailedPreconditionError(
          internal::CudaError(info, "cudaMemGetInfo", __FILE__, __LINE__).message);
    }
    hog->free_after_ = free_now;
    if (free_now <= leave_free_bytes) break;
    const uint64_t want = std::min<uint64_t>(block, free_now - leave_free_bytes);
    void* ptr = nullptr;
    const cudaError_t code = cudaMalloc(&ptr, want);
    if (code == cudaSuccess) {
      hog->blocks_.push_back(ptr);
      hog->held_bytes_ += want;
      continue;
    }
    (void)cudaGetLastError();  // An expected out-of-memory: clear it.
    if (code != cudaErrorMemoryAllocation) {
      return absl::FailedPreconditionError(
          internal::CudaError(code, "cudaMalloc", __FILE__, __LINE__).message);
    }
    if (want <= kMinBlock) break;
    block = want / 2;
  }
  return hog;
}

GpuMemoryHog::~GpuMemoryHog() {
  internal::DeviceScope scope(device_);
  for (void* ptr : blocks_) {
    if (cudaFree(ptr) != cudaSuccess) (void)cudaGetLastError();
  }
}

}  // namespace simile::kernels
