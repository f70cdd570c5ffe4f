// SimulatedGpuBackend: FOR TESTING ONLY. A Backend that reports itself as a GPU (BackendKind::kGpu)
// with a fixed, fake amount of device memory, and computes every chunk with the CPU backend it is
// given. Installed by the server only when the configuration asks for it
// (fault_injection.simulate_gpu) and no real GPU backend exists, so that on a machine without a GPU
// the dispatcher, the chunk planner, out-of-memory retry, CPU fallback and the circuit breaker all
// run for real inside the real server, with faults injected on top
// (core/fault_injecting_backend.h). Results are exact (the CPU kernel's), so a chaos test can check
// every one.
//
// Memory: the device reports `memory_bytes` total, and free what resident target sets leave of it; a chunk
// whose modelled footprint (MemoryModel plus the chunk's targets, unless they are resident) exceeds the free
// memory fails with kResourceExhausted, as a real device would. Resident target sets are host copies
// (core/host_resident_targets.h) that chunks really read.
//
// Thread safety: Cosine, MemoryModel and the memory query may be called concurrently.
#ifndef SIMILE_CORE_SIMULATED_GPU_BACKEND_H_
#define SIMILE_CORE_SIMULATED_GPU_BACKEND_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "core/backend.h"
#include "core/vram_monitor.h"

namespace simile {

class SimulatedGpuBackend final : public Backend {
 public:
  // `cpu` (not owned) computes the results and must outlive this backend.
  SimulatedGpuBackend(Backend* cpu, uint64_t memory_bytes);
  SimulatedGpuBackend(const SimulatedGpuBackend&) = delete;
  SimulatedGpuBackend& operator=(const SimulatedGpuBackend&) = delete;

  [[nodiscard]] BackendKind kind() const override { return BackendKind::kGpu; }
  [[nodiscard]] std::string description() const override;
  [[nodiscard]] bool Available() const override { return true; }
  // Queries and their norms and top-k buffers per request; per target row its norm and its Q
  // scores (what a GPU kernel computing the full block before selecting would hold).
  [[nodiscard]] DeviceMemoryModel MemoryModel(uint32_t q, uint32_t dim,
                                              uint32_t top_k) const override;
  [[nodiscard]] DeviceMemoryQuery* memory_query() override { return &memory_; }
  [[nodiscard]] absl::StatusOr<std::shared_ptr<const ResidentTargets>> MakeResident(
      const MatrixView& targets, absl::Span<const float> norms) override;
  [[nodiscard]] absl::StatusOr<uint64_t> Cosine(const ChunkArgs& args) override;

 private:
  class FixedMemory final : public DeviceMemoryQuery {
   public:
    FixedMemory(uint64_t bytes, const std::atomic<uint64_t>* resident) : bytes_(bytes), resident_(resident) {}
    [[nodiscard]] absl::StatusOr<DeviceMemoryInfo> Query() override;

   private:
    const uint64_t bytes_;
    const std::atomic<uint64_t>* const resident_;
  };

  [[nodiscard]] uint64_t FreeBytes() const;

  Backend* const cpu_;
  const uint64_t memory_bytes_;
  std::atomic<uint64_t> resident_bytes_{0};  // Held by resident target sets (relaxed: a count read alone).
  FixedMemory memory_;
};

}  // namespace simile

#endif  // SIMILE_CORE_SIMULATED_GPU_BACKEND_H_
