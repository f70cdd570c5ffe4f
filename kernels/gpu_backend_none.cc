// kernels/gpu_backend.h for builds without CUDA (-DSIMILE_WITH_CUDA=OFF or no nvcc).
#include "absl/status/status.h"
#include "kernels/gpu_backend.h"
#include "kernels/gpu_probe.h"

namespace simile::kernels {

absl::StatusOr<GpuBackendSet> CreateGpuBackends(const GpuBackendOptions& options) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  return absl::FailedPreconditionError("no usable GPU: " + ProbeGpus().unavailable_reason);
}

}  // namespace simile::kernels
