// ToStatus: the one place where a kernels/ GpuError becomes the absl::Status of the Backend error
// contract (core/backend.h):
//   kOutOfMemory     -> RESOURCE_EXHAUSTED  (the chunker splits the chunk and retries)
//   kDeviceLost      -> UNAVAILABLE         (the backend reports Available() == false from then on)
//   kInvalidArgument -> INVALID_ARGUMENT
//   kInternal        -> INTERNAL            (this chunk failed; counts against the breaker)
// The message is prefixed with the device's name, e.g. "gpu0: cudaMalloc(...): ...".
//
// Thread safety: pure function.
#ifndef SIMILE_KERNELS_GPU_ERROR_STATUS_H_
#define SIMILE_KERNELS_GPU_ERROR_STATUS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "kernels/gpu_error.h"

namespace simile::kernels {

// OK for an ok error.
[[nodiscard]] absl::Status ToStatus(const GpuError& error, absl::string_view device_name);

// The absl code for a kind (kOk for GpuErrorKind::kOk).
[[nodiscard]] absl::StatusCode StatusCodeFor(GpuErrorKind kind);

}  // namespace simile::kernels

#endif  // SIMILE_KERNELS_GPU_ERROR_STATUS_H_
