// GpuError: how the CUDA side of kernels/ reports a failure to its host side, and the one
// classification of CUDA runtime error codes and cuBLAS statuses into the kinds the Backend error
// contract (core/backend.h) distinguishes. Plain C++17 with no CUDA and no Abseil types, so that the
// .cu files (compiled by nvcc) and the host .cc files share it; kernels/gpu_error_status.h turns a
// GpuError into an absl::Status.
//
// Classification (ClassifyCudaError):
// - kOutOfMemory: cudaErrorMemoryAllocation (2) only, as RMM does: the chunker splits and retries.
// - kDeviceLost: errors after which the CUDA context (or the device) cannot run work again. The
//   CUDA headers document these as "leaves the process in an inconsistent state ... the process
//   must be terminated": illegal address (700), launch timeout (702), assert (710), hardware stack
//   error (714), illegal instruction (715), misaligned address (716), invalid address space (717),
//   invalid PC (718), launch failure (719), tensor memory leak (721), ECC uncorrectable (214),
//   NVLink uncorrectable (220), contained (226), external device (911), MPS client terminated
//   (810), context destroyed (709); plus the ones that say the device or driver is gone:
//   initialization error (3), cudart unloading (4), insufficient driver (35), devices unavailable
//   (46), no device (100), system not ready (802), system driver mismatch (803), and unknown (999),
//   which is treated as fatal because nothing says it is not.
// - kInternal: everything else (a bad launch configuration, an invalid value, no kernel image):
//   this chunk failed, the device may still work.
// cuBLAS: CUBLAS_STATUS_ALLOC_FAILED is kOutOfMemory, every other failure kInternal (a cuBLAS
// failure caused by a dead context shows up as a sticky CUDA error at the next synchronization,
// which the pipeline always performs).
//
// Thread safety: plain values and pure functions.
#ifndef SIMILE_KERNELS_GPU_ERROR_H_
#define SIMILE_KERNELS_GPU_ERROR_H_

#include <cstdint>
#include <string>
#include <utility>

namespace simile::kernels {

enum class GpuErrorKind : uint8_t {
  kOk,
  kInvalidArgument,  // The caller's arguments were wrong (no CUDA call failed).
  kInternal,         // This call failed; the device may still work.
  kOutOfMemory,      // Device memory (or the pool's cap, or pinned host memory) ran out.
  kDeviceLost,       // Sticky error: the device cannot be used again by this process.
};

// "ok", "invalid_argument", "internal", "out_of_memory", "device_lost".
[[nodiscard]] const char* GpuErrorKindName(GpuErrorKind kind);

struct GpuError {
  GpuErrorKind kind = GpuErrorKind::kOk;
  // What failed and why, e.g. "cudaMalloc(2097152 bytes): cudaErrorMemoryAllocation (2): out of
  // memory". Empty when ok.
  std::string message;

  [[nodiscard]] bool ok() const { return kind == GpuErrorKind::kOk; }
  [[nodiscard]] static GpuError Ok() { return GpuError{}; }
  [[nodiscard]] static GpuError Make(GpuErrorKind kind, std::string message) {
    return GpuError{kind, std::move(message)};
  }
};

// The CUDA runtime error codes the classification names (the values of cudaError_t; the .cu files
// static_assert that they match the toolkit's headers).
namespace cuda_codes {
inline constexpr int kSuccess = 0;
inline constexpr int kInvalidValue = 1;
inline constexpr int kMemoryAllocation = 2;
inline constexpr int kInitializationError = 3;
inline constexpr int kCudartUnloading = 4;
inline constexpr int kInsufficientDriver = 35;
inline constexpr int kDevicesUnavailable = 46;
inline constexpr int kInvalidDeviceFunction = 98;
inline constexpr int kNoDevice = 100;
inline constexpr int kNoKernelImageForDevice = 209;
inline constexpr int kEccUncorrectable = 214;
inline constexpr int kNvlinkUncorrectable = 220;
inline constexpr int kContained = 226;
inline constexpr int kIllegalAddress = 700;
inline constexpr int kLaunchOutOfResources = 701;
inline constexpr int kLaunchTimeout = 702;
inline constexpr int kContextIsDestroyed = 709;
inline constexpr int kAssert = 710;
inline constexpr int kHardwareStackError = 714;
inline constexpr int kIllegalInstruction = 715;
inline constexpr int kMisalignedAddress = 716;
inline constexpr int kInvalidAddressSpace = 717;
inline constexpr int kInvalidPc = 718;
inline constexpr int kLaunchFailure = 719;
inline constexpr int kTensorMemoryLeak = 721;
inline constexpr int kSystemNotReady = 802;
inline constexpr int kSystemDriverMismatch = 803;
inline constexpr int kMpsClientTerminated = 810;
inline constexpr int kExternalDevice = 911;
inline constexpr int kUnknown = 999;
}  // namespace cuda_codes

// cublasStatus_t values the classification names.
namespace cublas_codes {
inline constexpr int kSuccess = 0;
inline constexpr int kNotInitialized = 1;
inline constexpr int kAllocFailed = 3;
inline constexpr int kExecutionFailed = 13;
}  // namespace cublas_codes

// The kind of a cudaError_t value (see the table at the top). kOk for 0.
[[nodiscard]] GpuErrorKind ClassifyCudaError(int code);
// The kind of a cublasStatus_t value. kOk for 0.
[[nodiscard]] GpuErrorKind ClassifyCublasStatus(int status);

// The error to report when `first` happened and `later` was found while cleaning up (e.g. at the
// synchronization that follows a failed launch): a device-lost error wins over anything else,
// otherwise the first error stands.
[[nodiscard]] GpuError Combine(GpuError first, GpuError later);

}  // namespace simile::kernels

#endif  // SIMILE_KERNELS_GPU_ERROR_H_
