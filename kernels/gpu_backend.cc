// CUDA builds only: kernels/gpu_backend.h. The Backend implementation and the factory; the CUDA
// work itself is behind the internal API of kernels/cosine_pipeline_internal.h.
#include "kernels/gpu_backend.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/mutex.h"
#include "core/vram_monitor.h"
#include "kernels/cosine_pipeline_internal.h"
#include "kernels/cublas_loader_internal.h"
#include "kernels/device_resources_internal.h"
#include "kernels/gpu_error_status.h"
#include "kernels/gpu_probe.h"
#include "kernels/resident_targets_internal.h"

namespace simile::kernels {
namespace {

using internal::DeviceResources;

class GpuBackend;

// cudaMemGetInfo's free memory plus what the pool holds idle (which a request can reuse).
class GpuMemoryQuery final : public DeviceMemoryQuery {
 public:
  explicit GpuMemoryQuery(GpuBackend* backend) : backend_(backend) {}
  absl::StatusOr<DeviceMemoryInfo> Query() override;

 private:
  GpuBackend* const backend_;
};

class GpuBackend final : public Backend {
 public:
  GpuBackend(std::unique_ptr<DeviceResources> resources, const GpuBackendOptions& options)
      : resources_(std::move(resources)),
        plan_options_(options.plan),
        host_pool_(options.host_pool),
        inject_on_call_(options.inject_illegal_address_on_call),
        name_(absl::StrCat("gpu", resources_->ordinal())),
        description_(Describe(*resources_, name_)),
        memory_query_(this) {}

  GpuBackend(const GpuBackend&) = delete;
  GpuBackend& operator=(const GpuBackend&) = delete;

  [[nodiscard]] BackendKind kind() const override { return BackendKind::kGpu; }
  [[nodiscard]] std::string description() const override { return description_; }
  [[nodiscard]] bool Available() const override {
    return !lost_.load(std::memory_order_acquire);
  }
  [[nodiscard]] DeviceMemoryModel MemoryModel(uint32_t q, uint32_t dim,
                                              uint32_t top_k) const override {
    return GpuMemoryModel(q, dim, top_k, plan_options_);
  }
  [[nodiscard]] DeviceMemoryQuery* memory_query() override { return &memory_query_; }
  [[nodiscard]] absl::StatusOr<std::shared_ptr<const ResidentTargets>> MakeResident(
      const MatrixView& targets, absl::Span<const float> norms) override;
  [[nodiscard]] absl::StatusOr<uint64_t> Cosine(const ChunkArgs& args) override;

  DeviceResources& resources() { return *resources_; }

  // Records a sticky error: Available() is false from now on. The first reason is kept.
  void MarkLost(const GpuError& error) {
    {
      MutexLock lock(&mu_);
      if (!lost_reason_.empty()) return;
      lost_reason_ = error.message;
    }
    lost_.store(true, std::memory_order_release);
    std::fprintf(stderr, "simile: %s is unusable after a fatal CUDA error: %s\n",
                 description_.c_str(), error.message.c_str());
  }

  absl::Status LostStatus() const {
    MutexLock lock(&mu_);
    return absl::UnavailableError(
        absl::StrCat(name_, " is unusable after a fatal CUDA error: ", lost_reason_));
  }

  // The status for `error`, marking the device lost when the error is sticky.
  absl::Status Fail(const GpuError& error) {
    if (error.kind == GpuErrorKind::kDeviceLost) {
      MarkLost(error);
      return LostStatus();
    }
    return ToStatus(error, name_);
  }

 private:
  static std::string Describe(const DeviceResources& r, const std::string& name) {
    const cudaDeviceProp& p = r.properties();
    char memory[32];
    std::snprintf(memory, sizeof memory, "%.1f",
                  static_cast<double>(p.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
    return absl::StrCat(name, " (", p.name, ", cc ", p.major, ".", p.minor, ", ", memory, " GiB)");
  }

  const std::unique_ptr<DeviceResources> resources_;
  const GpuPlanOptions plan_options_;
  ThreadPool* const host_pool_;
  const uint64_t inject_on_call_;
  const std::string name_;         // "gpu0"
  const std::string description_;  // "gpu0 (NVIDIA H100 80GB HBM3, cc 9.0, 79.1 GiB)"
  GpuMemoryQuery memory_query_;

  // Relaxed: a call counter for fault injection; it orders nothing.
  std::atomic<uint64_t> calls_{0};
  // Set once (release) after lost_reason_ is written; read with acquire.
  std::atomic<bool> lost_{false};
  mutable Mutex mu_;
  std::string lost_reason_ ABSL_GUARDED_BY(mu_);
};

absl::Status ValidateChunk(const ChunkArgs& args) {
  const MatrixView& q = args.queries;
  const MatrixView& t = args.targets;
  if (q.data == nullptr || t.data == nullptr || q.dim == 0 || q.dim != t.dim) {
    return absl::InvalidArgumentError("gpu: queries and targets must be non-null with one dim > 0");
  }
  if (uint64_t{args.target_offset} + t.rows > uint64_t{std::numeric_limits<uint32_t>::max()} + 1) {
    return absl::InvalidArgumentError("gpu: target_offset + rows exceeds 2^32");
  }
  if (args.top_k == 0) {
    if (args.out.scores == nullptr || args.out.ld < t.rows) {
      return absl::InvalidArgumentError("gpu: score output missing or ld < target rows");
    }
  } else if (args.out.top_indices == nullptr || args.out.top_scores == nullptr) {
    return absl::InvalidArgumentError("gpu: top-k outputs missing");
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> GpuBackend::Cosine(const ChunkArgs& args) {
  if (!Available()) return LostStatus();
  if (absl::Status s = ValidateChunk(args); !s.ok()) return s;
  const uint64_t expected = args.ExpectedResults();
  if (expected == 0) return expected;
  const uint64_t call = calls_.fetch_add(1, std::memory_order_relaxed) + 1;
  const internal::DeviceResidentTargets* resident = nullptr;
  if (args.resident != nullptr) {
    // Only this backend makes DeviceResidentTargets with itself as owner, so the check identifies the type.
    if (args.resident->owner() != this) {
      return absl::InvalidArgumentError("gpu: the chunk's resident targets belong to another backend");
    }
    resident = static_cast<const internal::DeviceResidentTargets*>(args.resident);
    if (resident->dim() != args.targets.dim ||
        uint64_t{args.target_offset} + args.targets.rows > resident->rows()) {
      return absl::InvalidArgumentError("gpu: the chunk's rows are outside its resident target set");
    }
  }
  absl::StatusOr<GpuCallPlan> plan =
      PlanGpuCall(args.queries.rows, args.queries.dim, args.targets.rows, args.top_k, plan_options_,
                  /*resident_targets=*/resident != nullptr);
  if (!plan.ok()) return plan.status();

  internal::ChunkJob job;
  job.queries = args.queries.data;
  job.targets = args.targets.data;
  if (resident != nullptr) job.resident_targets = resident->Row(args.target_offset);
  job.target_offset = args.target_offset;
  job.scores = args.out.scores;
  job.ld = args.out.ld;
  job.top_indices = args.out.top_indices;
  job.top_scores = args.out.top_scores;
  job.inject_illegal_address = inject_on_call_ != 0 && call == inject_on_call_;

  GpuError error;
  {
    std::unique_ptr<DeviceResources::LaneLease> lease = resources_->AcquireLane();
    error = internal::RunChunk(*resources_, lease->lane(), *plan, job, host_pool_);
  }
  if (!error.ok()) return Fail(error);
  return expected;
}

absl::StatusOr<std::shared_ptr<const ResidentTargets>> GpuBackend::MakeResident(
    const MatrixView& targets, absl::Span<const float> /*norms*/) {
  // The norms are not uploaded: the kernels compute each target's norm in the same pass as its dots (fused
  // path) or in a norms kernel that costs 1/Q of the SGEMM (many queries), and recomputing them keeps one code
  // path for resident and streamed targets.
  if (!Available()) return LostStatus();
  std::shared_ptr<const internal::DeviceResidentTargets> resident;
  GpuError error = internal::DeviceResidentTargets::Upload(this, resources_->ordinal(), targets, &resident);
  if (error.kind == GpuErrorKind::kOutOfMemory) {
    // The pool's idle blocks may hold the memory: give them back to the device and try once more.
    resources_->device_pool().ReleaseIdle();
    error = internal::DeviceResidentTargets::Upload(this, resources_->ordinal(), targets, &resident);
  }
  if (!error.ok()) return Fail(error);
  return std::shared_ptr<const ResidentTargets>(std::move(resident));
}

absl::StatusOr<DeviceMemoryInfo> GpuMemoryQuery::Query() {
  if (!backend_->Available()) return backend_->LostStatus();
  DeviceMemoryInfo info;
  const GpuError error = backend_->resources().MemoryInfo(&info.free_bytes, &info.total_bytes);
  if (!error.ok()) return backend_->Fail(error);
  info.free_bytes =
      std::min(info.total_bytes, info.free_bytes + backend_->resources().device_pool().idle_bytes());
  return info;
}

}  // namespace

absl::StatusOr<GpuBackendSet> CreateGpuBackends(const GpuBackendOptions& options) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  const GpuProbeResult probe = ProbeGpus();
  if (probe.devices.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("no usable GPU: ", probe.unavailable_reason));
  }
  std::string cublas_error;
  const internal::CublasApi* cublas = internal::LoadCublas(&cublas_error);
  if (cublas == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no usable GPU: cuBLAS could not be loaded (", cublas_error,
        "); the CUDA 13 libraries must be on the loader's path, e.g. LD_LIBRARY_PATH"));
  }

  internal::DeviceResourcesOptions resource_options;
  resource_options.lanes = options.lanes_per_device;
  resource_options.allow_tf32 = options.allow_tf32;
  resource_options.cublas_workspace_bytes = options.cublas_workspace_bytes;
  resource_options.device_pool_limit_bytes = options.device_pool_limit_bytes;
  resource_options.pinned_pool_limit_bytes = options.pinned_pool_limit_bytes;

  GpuBackendSet set;
  for (int wanted : options.devices) {
    const bool present = std::any_of(probe.devices.begin(), probe.devices.end(),
                                     [wanted](const GpuDeviceInfo& d) { return d.ordinal == wanted; });
    if (!present) set.skipped_devices.push_back(absl::StrCat("gpu", wanted, ": no such device"));
  }
  for (const GpuDeviceInfo& device : probe.devices) {
    if (!options.devices.empty() &&
        std::find(options.devices.begin(), options.devices.end(), device.ordinal) ==
            options.devices.end()) {
      continue;
    }
    std::unique_ptr<DeviceResources> resources;
    const GpuError error =
        DeviceResources::Create(device.ordinal, cublas, resource_options, &resources);
    if (!error.ok()) {
      set.skipped_devices.push_back(absl::StrCat("gpu", device.ordinal, " (", device.name,
                                                 ", cc ", device.compute_capability / 10, ".",
                                                 device.compute_capability % 10,
                                                 "): ", error.message));
      continue;
    }
    set.backends.push_back(std::make_unique<GpuBackend>(std::move(resources), options));
  }
  if (set.backends.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no usable GPU: ", absl::StrJoin(set.skipped_devices, "; ")));
  }
  return set;
}

}  // namespace simile::kernels
