// Internal to kernels/ (CUDA builds only): DeviceResources, everything one GPU's backend owns
// (FAISS's GpuResources, one per device): a few lanes, each with its own streams, events and
// cuBLAS handle (with a workspace of its own), a caching pool of device memory and one of pinned
// host memory shared by the lanes, and the device's properties.
//
// A lane runs one Backend::Cosine call at a time. Calls take a lane for their whole duration
// (AcquireLane blocks while all lanes are busy), so concurrent calls on one device run on separate
// streams and overlap (one's copies with another's kernels); with lanes == 1 they are serialized.
// cuBLAS handles are never shared between lanes (a handle is bound to its lane's compute stream).
//
// Thread safety: AcquireLane and the pools may be used from any thread; a Lane is used by the one
// thread that holds its lease. Everything else is constant after Create.
#ifndef SIMILE_KERNELS_DEVICE_RESOURCES_INTERNAL_H_
#define SIMILE_KERNELS_DEVICE_RESOURCES_INTERNAL_H_

#include <cublas_api.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "core/mutex.h"
#include "kernels/caching_allocator.h"
#include "kernels/cublas_loader_internal.h"
#include "kernels/gpu_error.h"

namespace simile::kernels::internal {

struct DeviceResourcesOptions {
  int lanes = 2;                                   // >= 1.
  bool allow_tf32 = false;                         // cuBLAS TF32 tensor-op math for SGEMM.
  uint64_t cublas_workspace_bytes = uint64_t{32} << 20;  // Per lane; cuBLAS's advice for Hopper.
  uint64_t device_pool_limit_bytes = 0;            // 0: no cap.
  uint64_t pinned_pool_limit_bytes = uint64_t{512} << 20;
};

// One stream set. `compute` runs the kernels, SGEMM and result copies; `copy` the target uploads.
// The events order them (see kernels/cosine_pipeline_internal.h); all are created with
// cudaEventDisableTiming | cudaEventBlockingSync, so a waiting host thread sleeps instead of
// spinning on a core.
struct Lane {
  cudaStream_t compute = nullptr;
  cudaStream_t copy = nullptr;
  cudaEvent_t uploaded[2] = {nullptr, nullptr};  // Target buffer b's upload finished.
  cudaEvent_t computed[2] = {nullptr, nullptr};  // Sub-chunk work on target buffer b finished.
  cudaEvent_t idle[2] = {nullptr, nullptr};      // Used to wait for each stream to drain.
  cublasHandle_t cublas = nullptr;
  void* cublas_workspace = nullptr;
};

class DeviceResources {
 public:
  // Creates the lanes and the pools on `ordinal`, after checking that this binary has code the
  // device can run. Errors are the failing CUDA or cuBLAS call's.
  static GpuError Create(int ordinal, const CublasApi* cublas,
                         const DeviceResourcesOptions& options,
                         std::unique_ptr<DeviceResources>* out);
  // Destroys the lanes and frees the pools (errors are ignored: the device may be lost).
  ~DeviceResources();

  DeviceResources(const DeviceResources&) = delete;
  DeviceResources& operator=(const DeviceResources&) = delete;

  // A lane held for the lease's lifetime.
  class LaneLease {
   public:
    LaneLease(DeviceResources* owner, Lane* lane) : owner_(owner), lane_(lane) {}
    ~LaneLease() { owner_->ReleaseLane(lane_); }
    LaneLease(const LaneLease&) = delete;
    LaneLease& operator=(const LaneLease&) = delete;
    [[nodiscard]] Lane& lane() const { return *lane_; }

   private:
    DeviceResources* const owner_;
    Lane* const lane_;
  };

  // Blocks until a lane is free.
  [[nodiscard]] std::unique_ptr<LaneLease> AcquireLane();

  // cudaMemGetInfo on this device.
  [[nodiscard]] GpuError MemoryInfo(uint64_t* free_bytes, uint64_t* total_bytes) const;

  [[nodiscard]] int ordinal() const { return ordinal_; }
  [[nodiscard]] const cudaDeviceProp& properties() const { return properties_; }
  [[nodiscard]] const CublasApi& cublas() const { return *cublas_; }
  [[nodiscard]] CachingAllocator& device_pool() { return *device_pool_; }
  [[nodiscard]] CachingAllocator& pinned_pool() { return *pinned_pool_; }
  [[nodiscard]] int lanes() const { return static_cast<int>(lanes_.size()); }

 private:
  DeviceResources(int ordinal, const CublasApi* cublas) : ordinal_(ordinal), cublas_(cublas) {}
  GpuError CreateLane(const DeviceResourcesOptions& options, Lane* lane);
  void DestroyLane(Lane* lane);
  void ReleaseLane(Lane* lane);

  const int ordinal_;
  const CublasApi* const cublas_;
  cudaDeviceProp properties_{};
  std::unique_ptr<CachingAllocator> device_pool_;
  std::unique_ptr<CachingAllocator> pinned_pool_;
  std::vector<std::unique_ptr<Lane>> lanes_;  // Constant after Create.

  Mutex mu_;
  CondVar lane_freed_;
  std::vector<Lane*> free_lanes_ ABSL_GUARDED_BY(mu_);
};

// Checks a cuBLAS status like SIMILE_CUDA_RETURN_IF_ERROR does a CUDA result.
GpuError CublasError(const CublasApi& api, cublasStatus_t status, const char* what);

}  // namespace simile::kernels::internal

#endif  // SIMILE_KERNELS_DEVICE_RESOURCES_INTERNAL_H_
