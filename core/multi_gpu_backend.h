// MultiGpuBackend: several GPU backends (one per device) behind the one Backend the executor
// drives, so that requests spread across the devices.
//
// Each Cosine call goes to the available device with the fewest calls in flight (ties: the next
// one after the device the previous call took, so that idle devices take turns). A device that
// fails with UNAVAILABLE (device lost) is skipped from then on and the chunk is retried on another
// available device; UNAVAILABLE comes back only when no device is left. Every other outcome
// (including RESOURCE_EXHAUSTED, which the executor's chunker splits and retries) is returned as
// the device gave it.
//
// Memory: the chunk planner sizes chunks from one memory query and one memory model, and any
// device may run any chunk, so the query reports the smallest free memory among the available
// devices (with that device's total) and the model is the largest of the devices' models.
//
// Example:
//   absl::StatusOr<std::unique_ptr<MultiGpuBackend>> gpu = MultiGpuBackend::Create({&gpu0, &gpu1});
//   executor components.gpu = gpu->get();
//
// Thread safety: every method may be called concurrently from any thread, as Backend requires; the
// devices must allow the same.
#ifndef SIMILE_CORE_MULTI_GPU_BACKEND_H_
#define SIMILE_CORE_MULTI_GPU_BACKEND_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/backend.h"
#include "core/vram_monitor.h"

namespace simile {

class MultiGpuBackend final : public Backend {
 public:
  // `devices` (not owned; they must outlive this object) must be non-empty, non-null and of kind
  // kGpu; InvalidArgument otherwise.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<MultiGpuBackend>> Create(
      std::vector<Backend*> devices);

  MultiGpuBackend(const MultiGpuBackend&) = delete;
  MultiGpuBackend& operator=(const MultiGpuBackend&) = delete;

  [[nodiscard]] BackendKind kind() const override { return BackendKind::kGpu; }
  // "2 GPUs: <description 0>; <description 1>".
  [[nodiscard]] std::string description() const override { return description_; }
  // True while at least one device is available.
  [[nodiscard]] bool Available() const override;
  [[nodiscard]] DeviceMemoryModel MemoryModel(uint32_t q, uint32_t dim,
                                              uint32_t top_k) const override;
  [[nodiscard]] DeviceMemoryQuery* memory_query() override { return &query_; }
  // Target sets are replicated on every available device (all or nothing); a chunk reading one runs on a
  // device holding a copy.
  [[nodiscard]] absl::StatusOr<std::shared_ptr<const ResidentTargets>> MakeResident(
      const MatrixView& targets, absl::Span<const float> norms) override;
  [[nodiscard]] absl::StatusOr<uint64_t> Cosine(const ChunkArgs& args) override;

  // Calls in flight on device i (for tests and metrics).
  [[nodiscard]] int InFlight(size_t i) const {
    return in_flight_[i].load(std::memory_order_relaxed);
  }

 private:
  // The smallest free memory among the available devices that answer.
  class MinFreeQuery final : public DeviceMemoryQuery {
   public:
    explicit MinFreeQuery(const std::vector<Backend*>* devices) : devices_(devices) {}
    [[nodiscard]] absl::StatusOr<DeviceMemoryInfo> Query() override;

   private:
    const std::vector<Backend*>* const devices_;
  };

  explicit MultiGpuBackend(std::vector<Backend*> devices);

  // The available device (not in `tried`) with the fewest calls in flight; -1 if none.
  [[nodiscard]] int Pick(const std::vector<bool>& tried);

  const std::vector<Backend*> devices_;
  const std::string description_;
  MinFreeQuery query_;
  // Relaxed: load-balancing hints only; nothing is published through them.
  std::unique_ptr<std::atomic<int>[]> in_flight_;
  std::atomic<size_t> next_{0};
};

}  // namespace simile

#endif  // SIMILE_CORE_MULTI_GPU_BACKEND_H_
