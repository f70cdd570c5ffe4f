// kernels/gpu_memory_hog.h for builds without CUDA.
#include "absl/status/status.h"
#include "kernels/gpu_memory_hog.h"

namespace simile::kernels {

absl::StatusOr<std::unique_ptr<GpuMemoryHog>> GpuMemoryHog::Grab(int device,
                                                                 uint64_t leave_free_bytes) {
  return absl::FailedPreconditionError("this build has no CUDA");
}

GpuMemoryHog::~GpuMemoryHog() = default;

}  // namespace simile::kernels
