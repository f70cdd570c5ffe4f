// FaultInjectingBackend: a Backend decorator that injects the faults a FaultInjector decides
// (core/fault_injector.h) in front of a GPU backend and of its device-memory query, and otherwise
// forwards every call unchanged. The server always wraps its GPU backend (real or simulated) in
// one, so that a configuration reload can turn faults on and off at run time; with faults off a
// call costs one relaxed atomic load more.
//
// Injected errors follow the Backend error contract (core/backend.h): kResourceExhausted for
// out-of-memory (the chunker retries smaller), kInternal for a device error (fallback to the CPU,
// counted by the breaker); an injected VRAM query failure is what a failing cudaMemGetInfo gives
// the VRAM monitor (core/vram_monitor.h), which then uses its cached or pessimistic budget.
//
// Thread safety: as the wrapped backend; the injector is thread-safe.
#ifndef SIMILE_CORE_FAULT_INJECTING_BACKEND_H_
#define SIMILE_CORE_FAULT_INJECTING_BACKEND_H_

#include <string>

#include "core/backend.h"
#include "core/fault_injector.h"
#include "core/vram_monitor.h"

namespace simile {

class FaultInjectingBackend final : public Backend {
 public:
  // Neither is owned; both must outlive this backend.
  FaultInjectingBackend(Backend* inner, FaultInjector* injector);
  FaultInjectingBackend(const FaultInjectingBackend&) = delete;
  FaultInjectingBackend& operator=(const FaultInjectingBackend&) = delete;

  [[nodiscard]] BackendKind kind() const override { return inner_->kind(); }
  [[nodiscard]] std::string description() const override { return inner_->description(); }
  [[nodiscard]] bool Available() const override { return inner_->Available(); }
  [[nodiscard]] DeviceMemoryModel MemoryModel(uint32_t q, uint32_t dim,
                                              uint32_t top_k) const override {
    return inner_->MemoryModel(q, dim, top_k);
  }
  // The inner backend's query behind the injector; null when the inner backend has none.
  [[nodiscard]] DeviceMemoryQuery* memory_query() override;
  // Uploads are not faulted: chunks reading a resident copy are (the copy is the inner backend's, and chunks
  // pass it through unchanged).
  [[nodiscard]] absl::StatusOr<std::shared_ptr<const ResidentTargets>> MakeResident(
      const MatrixView& targets, absl::Span<const float> norms) override {
    return inner_->MakeResident(targets, norms);
  }
  [[nodiscard]] absl::StatusOr<uint64_t> Cosine(const ChunkArgs& args) override;

 private:
  class InjectingMemoryQuery final : public DeviceMemoryQuery {
   public:
    InjectingMemoryQuery(DeviceMemoryQuery* inner, FaultInjector* injector)
        : inner_(inner), injector_(injector) {}
    [[nodiscard]] absl::StatusOr<DeviceMemoryInfo> Query() override;

   private:
    DeviceMemoryQuery* const inner_;
    FaultInjector* const injector_;
  };

  Backend* const inner_;
  FaultInjector* const injector_;
  InjectingMemoryQuery memory_query_;  // Used only when inner_->memory_query() is not null.
};

}  // namespace simile

#endif  // SIMILE_CORE_FAULT_INJECTING_BACKEND_H_
