// Internal to kernels/ (CUDA builds only): turning CUDA runtime results into GpuError, the
// Triton-style RETURN_IF macro every CUDA call goes through, and an RAII device scope. Included by
// .cu files and by host .cc files of the CUDA build; plain C++17, no Abseil.
//
// Every failed call clears the runtime's per-thread "last error" (cudaGetLastError) so that a
// handled error, e.g. an out-of-memory the pool recovers from, is not reported again by the next
// launch check. Sticky errors cannot be cleared; every later call reports them.
//
// Thread safety: stateless; the CUDA runtime is thread-safe.
#ifndef SIMILE_KERNELS_CUDA_CHECK_INTERNAL_H_
#define SIMILE_KERNELS_CUDA_CHECK_INTERNAL_H_

#include <cuda_runtime_api.h>

#include <string>

#include "kernels/gpu_error.h"

namespace simile::kernels::internal {

// A GpuError for a failed CUDA call: kind from ClassifyCudaError, message
// "<what>: <cudaErrorName> (<code>): <description> [<file>:<line>]".
GpuError CudaError(cudaError_t code, const char* what, const char* file, int line);

// The error the last kernel launch on this thread reported, if any (cudaGetLastError).
GpuError LaunchError(const char* kernel, const char* file, int line);

// Makes `ordinal` the calling thread's current device for the scope, and restores the previous one.
class DeviceScope {
 public:
  explicit DeviceScope(int ordinal);
  ~DeviceScope();
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

  // The error of the cudaSetDevice call (ok when the device was set).
  [[nodiscard]] const GpuError& status() const { return status_; }

 private:
  int previous_ = -1;
  GpuError status_;
};

}  // namespace simile::kernels::internal

// Returns a GpuError from the enclosing function when the CUDA call fails.
#define SIMILE_CUDA_RETURN_IF_ERROR(expr)                                                 \
  do {                                                                                     \
    const cudaError_t simile_cuda_code_ = (expr);                                          \
    if (simile_cuda_code_ != cudaSuccess) {                                                \
      return ::simile::kernels::internal::CudaError(simile_cuda_code_, #expr, __FILE__,   \
                                                    __LINE__);                             \
    }                                                                                      \
  } while (0)

// Returns from the enclosing function when a function returning GpuError fails.
#define SIMILE_GPU_RETURN_IF_ERROR(expr)                             \
  do {                                                               \
    ::simile::kernels::GpuError simile_gpu_error_ = (expr);          \
    if (!simile_gpu_error_.ok()) return simile_gpu_error_;           \
  } while (0)

// After a <<<...>>> launch: returns the launch error, if any.
#define SIMILE_CUDA_RETURN_IF_LAUNCH_FAILED(kernel_name)                                        \
  do {                                                                                          \
    ::simile::kernels::GpuError simile_launch_error_ =                                          \
        ::simile::kernels::internal::LaunchError(kernel_name, __FILE__, __LINE__);              \
    if (!simile_launch_error_.ok()) return simile_launch_error_;                                \
  } while (0)

#endif  // SIMILE_KERNELS_CUDA_CHECK_INTERNAL_H_
