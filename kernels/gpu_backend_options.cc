// GpuBackendOptions::Validate, shared by the CUDA and the CPU-only builds.
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/gpu_backend.h"

namespace simile::kernels {

absl::Status GpuBackendOptions::Validate() const {
  if (lanes_per_device < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("gpu: lanes_per_device must be >= 1, got ", lanes_per_device));
  }
  for (int device : devices) {
    if (device < 0) {
      return absl::InvalidArgumentError(absl::StrCat("gpu: negative device ordinal ", device));
    }
  }
  return plan.Validate();
}

}  // namespace simile::kernels
