// GPU discovery: which CUDA devices this process can use, or why it can use none. The public header
// of kernels/ has no CUDA types, so that everything outside kernels/ compiles without the CUDA
// toolkit.
//
// Thread safety: ProbeGpus may be called from any thread; it queries the CUDA runtime each time.
#ifndef SIMILE_KERNELS_GPU_PROBE_H_
#define SIMILE_KERNELS_GPU_PROBE_H_

#include <cstdint>
#include <string>
#include <vector>

namespace simile::kernels {

struct GpuDeviceInfo {
  int ordinal = 0;
  std::string name;            // e.g. "NVIDIA H100 80GB HBM3".
  int compute_capability = 0;  // major * 10 + minor, e.g. 90.
  uint64_t total_memory_bytes = 0;
};

struct GpuProbeResult {
  std::vector<GpuDeviceInfo> devices;  // Empty when no GPU is usable.
  std::string
      unavailable_reason;  // Why `devices` is empty, for the log and for FAILED_PRECONDITION.
};

// True when this build contains the CUDA backend.
[[nodiscard]] bool BuiltWithCuda();

// Lists the usable CUDA devices (the CUDA runtime's view, after CUDA_VISIBLE_DEVICES).
[[nodiscard]] GpuProbeResult ProbeGpus();

}  // namespace simile::kernels

#endif  // SIMILE_KERNELS_GPU_PROBE_H_
