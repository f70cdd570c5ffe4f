#include "core/fault_injecting_backend.h"

namespace simile {

FaultInjectingBackend::FaultInjectingBackend(Backend* inner, FaultInjector* injector)
    : inner_(inner), injector_(injector), memory_query_(inner->memory_query(), injector) {}

DeviceMemoryQuery* FaultInjectingBackend::memory_query() {
  return inner_->memory_query() != nullptr ? &memory_query_ : nullptr;
}

absl::StatusOr<uint64_t> FaultInjectingBackend::Cosine(const ChunkArgs& args) {
  if (absl::Status s = injector_->BeforeGpuCall(); !s.ok()) return s;
  return inner_->Cosine(args);
}

absl::StatusOr<DeviceMemoryInfo> FaultInjectingBackend::InjectingMemoryQuery::Query() {
  if (absl::Status s = injector_->BeforeVramQuery(); !s.ok()) return s;
  return inner_->Query();
}

}  // namespace simile
