#include "kernels/gpu_error_status.h"

#include "absl/strings/str_cat.h"

namespace simile::kernels {

absl::StatusCode StatusCodeFor(GpuErrorKind kind) {
  switch (kind) {
    case GpuErrorKind::kOk:
      return absl::StatusCode::kOk;
    case GpuErrorKind::kInvalidArgument:
      return absl::StatusCode::kInvalidArgument;
    case GpuErrorKind::kInternal:
      return absl::StatusCode::kInternal;
    case GpuErrorKind::kOutOfMemory:
      return absl::StatusCode::kResourceExhausted;
    case GpuErrorKind::kDeviceLost:
      return absl::StatusCode::kUnavailable;
  }
  return absl::StatusCode::kInternal;
}

absl::Status ToStatus(const GpuError& error, absl::string_view device_name) {
  if (error.ok()) return absl::OkStatus();
  return absl::Status(StatusCodeFor(error.kind), absl::StrCat(device_name, ": ", error.message));
}

}  // namespace simile::kernels
