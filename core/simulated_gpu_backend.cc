#include "core/simulated_gpu_backend.h"

#include "absl/strings/str_cat.h"

namespace simile {

SimulatedGpuBackend::SimulatedGpuBackend(Backend* cpu, uint64_t memory_bytes)
    : cpu_(cpu), memory_bytes_(memory_bytes), memory_(memory_bytes) {}

std::string SimulatedGpuBackend::description() const {
  return absl::StrCat("simulated GPU for testing (CPU kernel, ", memory_bytes_,
                      " bytes of fake device memory)");
}

DeviceMemoryModel SimulatedGpuBackend::MemoryModel(uint32_t q, uint32_t dim, uint32_t top_k) const {
  DeviceMemoryModel m;
  m.fixed_bytes = uint64_t{q} * (uint64_t{dim} + 1) * sizeof(float) +
                  uint64_t{q} * top_k * (sizeof(float) + sizeof(uint32_t));
  m.bytes_per_row_extra = sizeof(float) + uint64_t{q} * sizeof(float);
  return m;
}

absl::StatusOr<uint64_t> SimulatedGpuBackend::Cosine(const ChunkArgs& args) {
  const DeviceMemoryModel m = MemoryModel(args.queries.rows, args.queries.dim, args.top_k);
  const uint64_t need =
      m.fixed_bytes + uint64_t{args.targets.rows} *
                          (uint64_t{args.targets.dim} * sizeof(float) + m.bytes_per_row_extra);
  if (need > memory_bytes_) {
    return absl::ResourceExhaustedError(absl::StrCat("simulated GPU out of memory: a chunk of ",
                                                     args.targets.rows, " target rows needs ", need,
                                                     " bytes of ", memory_bytes_));
  }
  return cpu_->Cosine(args);
}

}  // namespace simile
