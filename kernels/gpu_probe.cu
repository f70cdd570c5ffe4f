// CUDA implementation of kernels/gpu_probe.h.
#include <cuda_runtime.h>

#include <string>

#include "kernels/gpu_probe.h"

namespace simile::kernels {

bool BuiltWithCuda() { return true; }

GpuProbeResult ProbeGpus() {
  GpuProbeResult result;
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    // With no driver (a CPU-only machine) this is cudaErrorInsufficientDriver (35) or cudaErrorNoDevice (100).
    result.unavailable_reason = std::string("cudaGetDeviceCount failed: ") + cudaGetErrorName(err) + " (" +
                                std::to_string(static_cast<int>(err)) + "): " + cudaGetErrorString(err);
    return result;
  }
  if (count == 0) {
    result.unavailable_reason = "the CUDA runtime reports no device";
    return result;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    result.devices.push_back(GpuDeviceInfo{i, prop.name, prop.major * 10 + prop.minor,
                                           static_cast<uint64_t>(prop.totalGlobalMem)});
  }
  if (result.devices.empty()) result.unavailable_reason = "cudaGetDeviceProperties failed on every device";
  return result;
}

}  // namespace simile::kernels
