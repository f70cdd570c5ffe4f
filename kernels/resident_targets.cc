// CUDA builds only: kernels/resident_targets_internal.h.
#include "kernels/resident_targets_internal.h"

#include <cuda_runtime.h>

#include <cstdio>

#include "kernels/cuda_check_internal.h"

namespace simile::kernels::internal {

GpuError DeviceResidentTargets::Upload(const Backend* owner, int ordinal, const MatrixView& targets,
                                       std::shared_ptr<const DeviceResidentTargets>* out) {
  if (targets.data == nullptr || targets.rows == 0 || targets.dim == 0 ||
      targets.dim > UINT32_MAX - 3) {
    return GpuError::Make(GpuErrorKind::kInvalidArgument, "resident targets: empty or malformed matrix");
  }
  DeviceScope scope(ordinal);
  SIMILE_GPU_RETURN_IF_ERROR(scope.status());
  const uint32_t padded = (targets.dim + 3) / 4 * 4;
  const uint64_t row_bytes = uint64_t{padded} * sizeof(float);
  float* data = nullptr;
  SIMILE_CUDA_RETURN_IF_ERROR(cudaMalloc(reinterpret_cast<void**>(&data), row_bytes * targets.rows));
  // Owned from here: an error below frees it.
  std::shared_ptr<const DeviceResidentTargets> resident(
      new DeviceResidentTargets(owner, ordinal, targets.rows, targets.dim, padded, data));
  if (padded != targets.dim) SIMILE_CUDA_RETURN_IF_ERROR(cudaMemset(data, 0, row_bytes * targets.rows));
  // From pageable host memory: the runtime stages it (a one-time cost per set).
  SIMILE_CUDA_RETURN_IF_ERROR(cudaMemcpy2D(data, row_bytes, targets.data, uint64_t{targets.dim} * sizeof(float),
                                           uint64_t{targets.dim} * sizeof(float), targets.rows,
                                           cudaMemcpyHostToDevice));
  *out = std::move(resident);
  return GpuError::Ok();
}

DeviceResidentTargets::~DeviceResidentTargets() {
  DeviceScope scope(ordinal_);
  const cudaError_t code = scope.status().ok() ? cudaFree(data_) : cudaErrorInvalidDevice;
  // A destructor cannot return the error; a device that is gone has freed the memory anyway.
  if (code != cudaSuccess) {
    std::fprintf(stderr, "simile: freeing a resident target set on gpu%d failed: %s\n", ordinal_,
                 cudaGetErrorName(code));
  }
}

}  // namespace simile::kernels::internal
