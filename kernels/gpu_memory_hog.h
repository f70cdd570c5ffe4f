// TEST-ONLY: GpuMemoryHog takes most of a GPU's free memory with plain cudaMalloc, so that a test
// can make the device run out of memory on purpose (FAISS's TestGpuMemoryException does the same),
// then gives it back. Not for production code. CPU-only builds get a stand-in whose Grab fails.
//
// Thread safety: a GpuMemoryHog is not synchronized; use it from one thread.
#ifndef SIMILE_KERNELS_GPU_MEMORY_HOG_H_
#define SIMILE_KERNELS_GPU_MEMORY_HOG_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"

namespace simile::kernels {

class GpuMemoryHog {
 public:
  // Allocates memory on `device` until cudaMemGetInfo reports at most `leave_free_bytes` free (or
  // until no allocation of 1 MiB succeeds). FAILED_PRECONDITION without a usable device.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<GpuMemoryHog>> Grab(int device,
                                                                          uint64_t leave_free_bytes);
  // Frees everything it holds.
  ~GpuMemoryHog();

  GpuMemoryHog(const GpuMemoryHog&) = delete;
  GpuMemoryHog& operator=(const GpuMemoryHog&) = delete;

  [[nodiscard]] int device() const { return device_; }
  [[nodiscard]] uint64_t held_bytes() const { return held_bytes_; }
  // Free device memory right after the grab (cudaMemGetInfo).
  [[nodiscard]] uint64_t free_bytes_after_grab() const { return free_after_; }

 private:
  explicit GpuMemoryHog(int device) : device_(device) {}

  int device_;
  std::vector<void*> blocks_;
  uint64_t held_bytes_ = 0;
  uint64_t free_after_ = 0;
};

}  // namespace simile::kernels

#endif  // SIMILE_KERNELS_GPU_MEMORY_HOG_H_
