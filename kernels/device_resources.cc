// CUDA builds only: kernels/device_resources_internal.h.
#include <cublas_api.h>
#include <cuda_runtime_api.h>

#include <memory>
#include <string>
#include <utility>

#include "kernels/cosine_kernels_internal.h"
#include "kernels/cuda_check_internal.h"
#include "kernels/device_resources_internal.h"

namespace simile::kernels::internal {

GpuError CublasError(const CublasApi& api, cublasStatus_t status, const char* what) {
  if (status == CUBLAS_STATUS_SUCCESS) return GpuError::Ok();
  const char* name = api.status_name != nullptr ? api.status_name(status) : "cuBLAS error";
  return GpuError::Make(ClassifyCublasStatus(static_cast<int>(status)),
                        std::string(what) + ": " + name + " (" +
                            std::to_string(static_cast<int>(status)) + ")");
}

GpuError DeviceResources::Create(int ordinal, const CublasApi* cublas,
                                 const DeviceResourcesOptions& options,
                                 std::unique_ptr<DeviceResources>* out) {
  DeviceScope scope(ordinal);
  SIMILE_GPU_RETURN_IF_ERROR(scope.status());
  std::unique_ptr<DeviceResources> r(new DeviceResources(ordinal, cublas));
  SIMILE_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&r->properties_, ordinal));
  SIMILE_GPU_RETURN_IF_ERROR(CheckKernelImage());

  const std::string name = "gpu" + std::to_string(ordinal);
  CachingAllocator::Options device_options;
  device_options.name = name + " device pool";
  device_options.limit_bytes = options.device_pool_limit_bytes;
  r->device_pool_ = std::make_unique<CachingAllocator>(
      [ordinal](uint64_t bytes, void** ptr) -> GpuError {
        DeviceScope device(ordinal);
        SIMILE_GPU_RETURN_IF_ERROR(device.status());
        const cudaError_t code = cudaMalloc(ptr, bytes);
        if (code != cudaSuccess) {
          return CudaError(code, ("cudaMalloc(" + std::to_string(bytes) + " bytes)").c_str(),
                           __FILE__, __LINE__);
        }
        return GpuError::Ok();
      },
      [ordinal](void* ptr) {
        DeviceScope device(ordinal);
        if (cudaFree(ptr) != cudaSuccess) (void)cudaGetLastError();
      },
      device_options);

  CachingAllocator::Options pinned_options;
  pinned_options.name = name + " pinned staging pool";
  pinned_options.limit_bytes = options.pinned_pool_limit_bytes;
  r->pinned_pool_ = std::make_unique<CachingAllocator>(
      [ordinal](uint64_t bytes, void** ptr) -> GpuError {
        DeviceScope device(ordinal);
        SIMILE_GPU_RETURN_IF_ERROR(device.status());
        const cudaError_t code = cudaHostAlloc(ptr, bytes, cudaHostAllocPortable);
        if (code != cudaSuccess) {
          return CudaError(code, ("cudaHostAlloc(" + std::to_string(bytes) + " bytes)").c_str(),
                           __FILE__, __LINE__);
        }
        return GpuError::Ok();
      },
      [ordinal](void* ptr) {
        DeviceScope device(ordinal);
        if (cudaFreeHost(ptr) != cudaSuccess) (void)cudaGetLastError();
      },
      pinned_options);

  for (int i = 0; i < options.lanes; ++i) {
    auto lane = std::make_unique<Lane>();
    GpuError error = r->CreateLane(options, lane.get());
    r->lanes_.push_back(std::move(lane));  // Destroyed with r on error.
    SIMILE_GPU_RETURN_IF_ERROR(error);
  }
  {
    MutexLock lock(&r->mu_);
    for (const std::unique_ptr<Lane>& lane : r->lanes_) r->free_lanes_.push_back(lane.get());
  }
  *out = std::move(r);
  return GpuError::Ok();
}

GpuError DeviceResources::CreateLane(const DeviceResourcesOptions& options, Lane* lane) {
  SIMILE_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&lane->compute, cudaStreamNonBlocking));
  SIMILE_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&lane->copy, cudaStreamNonBlocking));
  const unsigned flags = cudaEventDisableTiming | cudaEventBlockingSync;
  for (int b = 0; b < 2; ++b) {
    SIMILE_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&lane->uploaded[b], flags));
    SIMILE_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&lane->computed[b], flags));
    SIMILE_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&lane->idle[b], flags));
  }
  SIMILE_GPU_RETURN_IF_ERROR(CublasError(*cublas_, cublas_->create(&lane->cublas), "cublasCreate"));
  // SetStream first: it resets the handle's workspace to cuBLAS's own.
  SIMILE_GPU_RETURN_IF_ERROR(
      CublasError(*cublas_, cublas_->set_stream(lane->cublas, lane->compute), "cublasSetStream"));
  if (options.cublas_workspace_bytes > 0) {
    SIMILE_CUDA_RETURN_IF_ERROR(cudaMalloc(&lane->cublas_workspace, options.cublas_workspace_bytes));
    SIMILE_GPU_RETURN_IF_ERROR(CublasError(
        *cublas_,
        cublas_->set_workspace(lane->cublas, lane->cublas_workspace, options.cublas_workspace_bytes),
        "cublasSetWorkspace"));
  }
  // Default math is full FP32; TF32 tensor cores only when asked for (see GpuBackendOptions).
  SIMILE_GPU_RETURN_IF_ERROR(CublasError(
      *cublas_,
      cublas_->set_math_mode(lane->cublas,
                             options.allow_tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH),
      "cublasSetMathMode"));
  return GpuError::Ok();
}

void DeviceResources::DestroyLane(Lane* lane) {
  // Errors are ignored: after a sticky error every call fails, and nothing can be done about it.
  if (lane->compute != nullptr) (void)cudaStreamSynchronize(lane->compute);
  if (lane->copy != nullptr) (void)cudaStreamSynchronize(lane->copy);
  if (lane->cublas != nullptr) (void)cublas_->destroy(lane->cublas);
  if (lane->cublas_workspace != nullptr) (void)cudaFree(lane->cublas_workspace);
  for (int b = 0; b < 2; ++b) {
    if (lane->uploaded[b] != nullptr) (void)cudaEventDestroy(lane->uploaded[b]);
    if (lane->computed[b] != nullptr) (void)cudaEventDestroy(lane->computed[b]);
    if (lane->idle[b] != nullptr) (void)cudaEventDestroy(lane->idle[b]);
  }
  if (lane->compute != nullptr) (void)cudaStreamDestroy(lane->compute);
  if (lane->copy != nullptr) (void)cudaStreamDestroy(lane->copy);
  (void)cudaGetLastError();
}

DeviceResources::~DeviceResources() {
  DeviceScope scope(ordinal_);
  for (const std::unique_ptr<Lane>& lane : lanes_) DestroyLane(lane.get());
  // The pools free their blocks in their destructors (every lease has ended by now).
  device_pool_.reset();
  pinned_pool_.reset();
}

std::unique_ptr<DeviceResources::LaneLease> DeviceResources::AcquireLane() {
  MutexLock lock(&mu_);
  lane_freed_.Wait(&mu_, [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return !free_lanes_.empty(); });
  Lane* lane = free_lanes_.back();
  free_lanes_.pop_back();
  return std::make_unique<LaneLease>(this, lane);
}

GpuError DeviceResources::MemoryInfo(uint64_t* free_bytes, uint64_t* total_bytes) const {
  DeviceScope scope(ordinal_);
  SIMILE_GPU_RETURN_IF_ERROR(scope.status());
  size_t free_now = 0;
  size_t total = 0;
  SIMILE_CUDA_RETURN_IF_ERROR(cudaMemGetInfo(&free_now, &total));
  *free_bytes = free_now;
  *total_bytes = total;
  return GpuError::Ok();
}

void DeviceResources::ReleaseLane(Lane* lane) {
  {
    MutexLock lock(&mu_);
    free_lanes_.push_back(lane);
  }
  lane_freed_.Signal();
}

}  // namespace simile::kernels::internal
