// CUDA builds only: kernels/cuda_check_internal.h.
#include <cuda_runtime_api.h>

#include <string>

#include "kernels/cuda_check_internal.h"
#include "kernels/gpu_error.h"

namespace simile::kernels::internal {

// The classification names CUDA error codes by value; check them against this toolkit's enum.
static_assert(cudaErrorMemoryAllocation == cuda_codes::kMemoryAllocation);
static_assert(cudaErrorInitializationError == cuda_codes::kInitializationError);
static_assert(cudaErrorCudartUnloading == cuda_codes::kCudartUnloading);
static_assert(cudaErrorInsufficientDriver == cuda_codes::kInsufficientDriver);
static_assert(cudaErrorDevicesUnavailable == cuda_codes::kDevicesUnavailable);
static_assert(cudaErrorInvalidDeviceFunction == cuda_codes::kInvalidDeviceFunction);
static_assert(cudaErrorNoDevice == cuda_codes::kNoDevice);
static_assert(cudaErrorNoKernelImageForDevice == cuda_codes::kNoKernelImageForDevice);
static_assert(cudaErrorECCUncorrectable == cuda_codes::kEccUncorrectable);
static_assert(cudaErrorNvlinkUncorrectable == cuda_codes::kNvlinkUncorrectable);
static_assert(cudaErrorContained == cuda_codes::kContained);
static_assert(cudaErrorIllegalAddress == cuda_codes::kIllegalAddress);
static_assert(cudaErrorLaunchOutOfResources == cuda_codes::kLaunchOutOfResources);
static_assert(cudaErrorLaunchTimeout == cuda_codes::kLaunchTimeout);
static_assert(cudaErrorContextIsDestroyed == cuda_codes::kContextIsDestroyed);
static_assert(cudaErrorAssert == cuda_codes::kAssert);
static_assert(cudaErrorHardwareStackError == cuda_codes::kHardwareStackError);
static_assert(cudaErrorIllegalInstruction == cuda_codes::kIllegalInstruction);
static_assert(cudaErrorMisalignedAddress == cuda_codes::kMisalignedAddress);
static_assert(cudaErrorInvalidAddressSpace == cuda_codes::kInvalidAddressSpace);
static_assert(cudaErrorInvalidPc == cuda_codes::kInvalidPc);
static_assert(cudaErrorLaunchFailure == cuda_codes::kLaunchFailure);
static_assert(cudaErrorTensorMemoryLeak == cuda_codes::kTensorMemoryLeak);
static_assert(cudaErrorSystemNotReady == cuda_codes::kSystemNotReady);
static_assert(cudaErrorSystemDriverMismatch == cuda_codes::kSystemDriverMismatch);
static_assert(cudaErrorMpsClientTerminated == cuda_codes::kMpsClientTerminated);
static_assert(cudaErrorExternalDevice == cuda_codes::kExternalDevice);
static_assert(cudaErrorUnknown == cuda_codes::kUnknown);

GpuError CudaError(cudaError_t code, const char* what, const char* file, int line) {
  (void)cudaGetLastError();  // Clear it (a no-op for sticky errors).
  std::string message = std::string(what) + ": " + cudaGetErrorName(code) + " (" +
                        std::to_string(static_cast<int>(code)) + "): " + cudaGetErrorString(code) +
                        " [" + file + ":" + std::to_string(line) + "]";
  return GpuError::Make(ClassifyCudaError(static_cast<int>(code)), std::move(message));
}

GpuError LaunchError(const char* kernel, const char* file, int line) {
  const cudaError_t code = cudaGetLastError();
  if (code == cudaSuccess) return GpuError::Ok();
  return CudaError(code, (std::string("launch of ") + kernel).c_str(), file, line);
}

DeviceScope::DeviceScope(int ordinal) {
  if (cudaGetDevice(&previous_) != cudaSuccess) {
    (void)cudaGetLastError();
    previous_ = -1;
  }
  const cudaError_t code = cudaSetDevice(ordinal);
  if (code != cudaSuccess) {
    status_ = CudaError(code, ("cudaSetDevice(" + std::to_string(ordinal) + ")").c_str(), __FILE__,
                        __LINE__);
  }
}

DeviceScope::~DeviceScope() {
  if (previous_ >= 0 && cudaSetDevice(previous_) != cudaSuccess) (void)cudaGetLastError();
}

}  // namespace simile::kernels::internal
