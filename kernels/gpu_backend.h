// The CUDA backend: one Backend (core/backend.h) per GPU, created by CreateGpuBackends. This header
// has no CUDA types; builds without CUDA get a stand-in factory that reports why there is no GPU.
//
// Example (the server):
//   GpuBackendOptions options;
//   options.host_pool = &pool;
//   absl::StatusOr<GpuBackendSet> gpus = CreateGpuBackends(options);
//   if (!gpus.ok()) LOG once: gpus.status().message(), and serve on the CPU.
//   for (const std::string& why : gpus->skipped_devices) LOG it.
//   for (auto& backend : gpus->backends) ...executor...
//
// What a backend does with a chunk (kernels/gpu_plan.h has the details): queries normalized on the
// device; targets streamed through pinned staging in sub-chunks, the upload of one overlapping the
// kernels of the previous; one query (up to max_fused_queries) x N by a fused memory-bound kernel
// that reads each target once (dot products and norm in the same pass); Q x N by cuBLAS SGEMM plus
// a norms kernel and an epilogue; top-k (k <= 1024) selected on the GPU so that only Q * k results
// cross PCIe (larger k: selected on the host). Results equal the CPU kernel's (core/cpu_cosine.h)
// to within ~1e-6 in FP32: same clamp, zero-vector and tie rules, and targets with extreme norms
// recomputed in double. Device memory comes from a per-device caching pool reused across
// requests; the device memory a chunk needs is bounded by MemoryModel().
//
// Errors (the Backend contract): RESOURCE_EXHAUSTED when device memory (or the pool's cap, or
// pinned host memory) runs out; UNAVAILABLE after a sticky CUDA error (illegal address, launch
// failure, ECC, ...), after which Available() is false for good and every call fails fast;
// INTERNAL for any other CUDA or cuBLAS failure (message: the call, the CUDA error name and
// code); INVALID_ARGUMENT for malformed chunk arguments.
//
// Thread safety: Cosine may be called concurrently from any number of threads. Each call holds one
// of the device's `lanes_per_device` lanes (own streams, cuBLAS handle and events) for its
// duration; further calls wait for a free lane. Calls on different lanes run concurrently on the
// GPU and share the device's memory pools. Every other method may be called from any thread.
#ifndef SIMILE_KERNELS_GPU_BACKEND_H_
#define SIMILE_KERNELS_GPU_BACKEND_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/backend.h"
#include "core/thread_pool.h"
#include "kernels/gpu_plan.h"

namespace simile::kernels {

struct GpuBackendOptions {
  // CUDA device ordinals to use (after CUDA_VISIBLE_DEVICES); empty: every device.
  std::vector<int> devices;
  // Concurrent Cosine calls per device, each on its own streams and cuBLAS handle (>= 1). 2: one
  // call's host-side staging and copies overlap another's kernels.
  int lanes_per_device = 2;
  // Use TF32 tensor cores for SGEMM (the Q > max_fused_queries path). Off by default: TF32 rounds
  // the inputs to a 10-bit mantissa, so scores differ from FP32 by up to ~1e-3 (not the ~1e-6 of
  // FP32), for up to ~8x the SGEMM throughput on A100/H100.
  bool allow_tf32 = false;
  // Sub-chunk sizes and the fused/SGEMM switch (see kernels/gpu_plan.h).
  GpuPlanOptions plan;
  // Device memory the pool may hold per device (idle + in use); 0: no cap beyond the device's.
  uint64_t device_pool_limit_bytes = 0;
  // Pinned host memory the staging pool may hold per device. 512 MiB: two lanes' worst case
  // (4 x 32 MiB each) with room to spare.
  uint64_t pinned_pool_limit_bytes = uint64_t{512} << 20;
  // cuBLAS workspace per lane, allocated once at creation. 32 MiB: cuBLAS's advice for Hopper.
  uint64_t cublas_workspace_bytes = uint64_t{32} << 20;
  // Splits host-side copies (staging, results) across threads; not owned, may be null (the calling
  // thread copies alone). Must outlive the backends.
  ThreadPool* host_pool = nullptr;
  // Fault injection for tests and fault drills: the n-th Cosine call (1-based, counted per
  // backend) launches a kernel that writes to an unmapped address, a real sticky
  // cudaErrorIllegalAddress: that call returns UNAVAILABLE and the device is unusable for the rest
  // of the process. 0: never.
  uint64_t inject_illegal_address_on_call = 0;

  // InvalidArgument naming the bad field.
  [[nodiscard]] absl::Status Validate() const;
};

struct GpuBackendSet {
  // One per usable device, in ordinal order. Each backend's kind() is BackendKind::kGpu and its
  // description() "gpuN (<device name>, cc X.Y, <memory> GiB)".
  std::vector<std::unique_ptr<Backend>> backends;
  // Devices that exist but could not be used, each with the reason (e.g. no kernel image for its
  // compute capability, or a failed CUDA call while creating its resources).
  std::vector<std::string> skipped_devices;
};

// Creates a backend for every usable device. FAILED_PRECONDITION when there is none, with the
// reason: the CUDA error when the runtime finds no device (e.g. "cudaGetDeviceCount failed:
// cudaErrorInsufficientDriver (35): ..." on a machine without a driver), "built without CUDA" in a
// CPU-only build, the dlopen error when cuBLAS cannot be loaded, or every device's skip reason.
// INVALID_ARGUMENT for bad options.
[[nodiscard]] absl::StatusOr<GpuBackendSet> CreateGpuBackends(const GpuBackendOptions& options);

}  // namespace simile::kernels

#endif  // SIMILE_KERNELS_GPU_BACKEND_H_
