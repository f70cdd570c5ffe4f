// CpuBackend: the Backend that runs the vectorized CPU kernel (core/cpu_cosine.h) on the service's
// ThreadPool. It is also the reference the GPU backend is tested against, and the fallback that
// never runs out of memory.
//
// Thread safety: stateless apart from the pool pointer; Cosine may be called concurrently.
#ifndef SIMILE_CORE_CPU_BACKEND_H_
#define SIMILE_CORE_CPU_BACKEND_H_

#include "core/backend.h"
#include "core/thread_pool.h"

namespace simile {

class CpuBackend final : public Backend {
 public:
  // `pool` (not owned, may be null for single-threaded use) must outlive the backend.
  explicit CpuBackend(ThreadPool* pool) : pool_(pool) {}

  [[nodiscard]] BackendKind kind() const override { return BackendKind::kCpu; }
  [[nodiscard]] std::string description() const override;
  [[nodiscard]] bool Available() const override { return true; }
  // The kernel checks unchecked targets in its own pass (core/cpu_cosine.h, *CheckingTargets).
  [[nodiscard]] bool ChecksTargetsFinite() const override { return true; }
  [[nodiscard]] absl::StatusOr<uint64_t> Cosine(const ChunkArgs& args) override;

 private:
  ThreadPool* const pool_;
};

}  // namespace simile

#endif  // SIMILE_CORE_CPU_BACKEND_H_
