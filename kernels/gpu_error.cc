#include "kernels/gpu_error.h"

namespace simile::kernels {

const char* GpuErrorKindName(GpuErrorKind kind) {
  switch (kind) {
    case GpuErrorKind::kOk:
      return "ok";
    case GpuErrorKind::kInvalidArgument:
      return "invalid_argument";
    case GpuErrorKind::kInternal:
      return "internal";
    case GpuErrorKind::kOutOfMemory:
      return "out_of_memory";
    case GpuErrorKind::kDeviceLost:
      return "device_lost";
  }
  return "unknown";
}

GpuErrorKind ClassifyCudaError(int code) {
  namespace c = cuda_codes;
  switch (code) {
    case c::kSuccess:
      return GpuErrorKind::kOk;
    case c::kMemoryAllocation:
      return GpuErrorKind::kOutOfMemory;
    // Sticky: the context is corrupt; every later call returns the same error.
    case c::kEccUncorrectable:
    case c::kNvlinkUncorrectable:
    case c::kContained:
    case c::kIllegalAddress:
    case c::kLaunchTimeout:
    case c::kContextIsDestroyed:
    case c::kAssert:
    case c::kHardwareStackError:
    case c::kIllegalInstruction:
    case c::kMisalignedAddress:
    case c::kInvalidAddressSpace:
    case c::kInvalidPc:
    case c::kLaunchFailure:
    case c::kTensorMemoryLeak:
    case c::kMpsClientTerminated:
    case c::kExternalDevice:
    // The device or the driver is gone or unusable.
    case c::kInitializationError:
    case c::kCudartUnloading:
    case c::kInsufficientDriver:
    case c::kDevicesUnavailable:
    case c::kNoDevice:
    case c::kSystemNotReady:
    case c::kSystemDriverMismatch:
    case c::kUnknown:
      return GpuErrorKind::kDeviceLost;
    default:
      return GpuErrorKind::kInternal;
  }
}

GpuErrorKind ClassifyCublasStatus(int status) {
  switch (status) {
    case cublas_codes::kSuccess:
      return GpuErrorKind::kOk;
    case cublas_codes::kAllocFailed:
      return GpuErrorKind::kOutOfMemory;
    default:
      return GpuErrorKind::kInternal;
  }
}

GpuError Combine(GpuError first, GpuError later) {
  if (first.ok()) return later;
  if (later.kind == GpuErrorKind::kDeviceLost && first.kind != GpuErrorKind::kDeviceLost) {
    later.message += " (after: " + first.message + ")";
    return later;
  }
  return first;
}

}  // namespace simile::kernels
