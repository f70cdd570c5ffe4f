// kernels/gpu_probe.h for builds without CUDA (-DSIMILE_WITH_CUDA=OFF or no nvcc).
#include "kernels/gpu_probe.h"

namespace simile::kernels {

bool BuiltWithCuda() { return false; }

GpuProbeResult ProbeGpus() {
  return GpuProbeResult{{}, "this server was built without CUDA (SIMILE_WITH_CUDA=OFF or no nvcc)"};
}

}  // namespace simile::kernels
