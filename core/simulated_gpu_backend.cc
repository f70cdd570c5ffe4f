#include "core/simulated_gpu_backend.h"

#include "absl/strings/str_cat.h"
#include "core/host_resident_targets.h"

namespace simile {

SimulatedGpuBackend::SimulatedGpuBackend(Backend* cpu, uint64_t memory_bytes)
    : cpu_(cpu), memory_bytes_(memory_bytes), memory_(memory_bytes, &resident_bytes_) {}

absl::StatusOr<DeviceMemoryInfo> SimulatedGpuBackend::FixedMemory::Query() {
  const uint64_t resident = resident_->load(std::memory_order_relaxed);
  return DeviceMemoryInfo{resident < bytes_ ? bytes_ - resident : 0, bytes_};
}

uint64_t SimulatedGpuBackend::FreeBytes() const {
  const uint64_t resident = resident_bytes_.load(std::memory_order_relaxed);
  return resident < memory_bytes_ ? memory_bytes_ - resident : 0;
}

absl::StatusOr<std::shared_ptr<const ResidentTargets>> SimulatedGpuBackend::MakeResident(
    const MatrixView& targets, absl::Span<const float> /*norms*/) {
  if (targets.bytes() > FreeBytes()) {
    return absl::ResourceExhaustedError(absl::StrCat("simulated GPU out of memory: a resident set of ",
                                                     targets.bytes(), " bytes, ", FreeBytes(), " free"));
  }
  return std::make_shared<const HostResidentTargets>(this, targets, &resident_bytes_);
}

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
  const uint64_t row_bytes = args.resident != nullptr ? 0 : uint64_t{args.targets.dim} * sizeof(float);
  const uint64_t need = m.fixed_bytes + uint64_t{args.targets.rows} * (row_bytes + m.bytes_per_row_extra);
  if (need > FreeBytes()) {
    return absl::ResourceExhaustedError(absl::StrCat("simulated GPU out of memory: a chunk of ",
                                                     args.targets.rows, " target rows needs ", need,
                                                     " bytes, ", FreeBytes(), " free"));
  }
  if (args.resident == nullptr) return cpu_->Cosine(args);
  absl::StatusOr<ChunkArgs> from_copy = HostResidentTargets::ReadFromCopy(args, this);
  if (!from_copy.ok()) return from_copy.status();
  return cpu_->Cosine(*from_copy);
}

}  // namespace simile
