// DispatcherCounters: monotonically increasing counts of what the executor did (decisions by
// backend and rule, fallbacks by reason, out-of-memory events, chunk retries, chunks by backend),
// for metrics and the status RPC.
//
// Thread safety: every counter is a std::atomic incremented with memory_order_relaxed: each is read
// on its own as a count, and no other data is published through it.
#ifndef SIMILE_CORE_DISPATCHER_COUNTERS_H_
#define SIMILE_CORE_DISPATCHER_COUNTERS_H_

#include <array>
#include <atomic>
#include <cstdint>

#include "core/backend_kind.h"

namespace simile {

struct DispatcherCountersSnapshot {
  std::array<std::array<uint64_t, kNumDispatchRules>, kNumBackendKinds> decisions{};
  std::array<uint64_t, kNumFallbackReasons> fallbacks{};  // Requests with a fallback, by reason.
  std::array<uint64_t, kNumBackendKinds> chunks{};
  uint64_t gpu_oom_events = 0;  // GPU chunks that failed with out-of-memory.
  uint64_t chunk_retries = 0;   // Chunk splits after out-of-memory.
  uint64_t gpu_errors = 0;      // GPU chunks that failed with any other error.
};

class DispatcherCounters {
 public:
  void CountDecision(BackendKind backend, DispatchRule rule) {
    decisions_[Index(backend)][Index(rule)].fetch_add(1, std::memory_order_relaxed);
  }
  void CountFallback(FallbackReason reason) {
    fallbacks_[Index(reason)].fetch_add(1, std::memory_order_relaxed);
  }
  void CountChunk(BackendKind backend) {
    chunks_[Index(backend)].fetch_add(1, std::memory_order_relaxed);
  }
  void CountGpuOom() { gpu_oom_events_.fetch_add(1, std::memory_order_relaxed); }
  void CountChunkRetry() { chunk_retries_.fetch_add(1, std::memory_order_relaxed); }
  void CountGpuError() { gpu_errors_.fetch_add(1, std::memory_order_relaxed); }

  // Each value is exact; values read at slightly different instants (they are independent counts).
  [[nodiscard]] DispatcherCountersSnapshot Snapshot() const {
    DispatcherCountersSnapshot s;
    for (size_t b = 0; b < kNumBackendKinds; ++b) {
      for (size_t r = 0; r < kNumDispatchRules; ++r) {
        s.decisions[b][r] = decisions_[b][r].load(std::memory_order_relaxed);
      }
      s.chunks[b] = chunks_[b].load(std::memory_order_relaxed);
    }
    for (size_t f = 0; f < kNumFallbackReasons; ++f)
      s.fallbacks[f] = fallbacks_[f].load(std::memory_order_relaxed);
    s.gpu_oom_events = gpu_oom_events_.load(std::memory_order_relaxed);
    s.chunk_retries = chunk_retries_.load(std::memory_order_relaxed);
    s.gpu_errors = gpu_errors_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  std::array<std::array<std::atomic<uint64_t>, kNumDispatchRules>, kNumBackendKinds> decisions_{};
  std::array<std::atomic<uint64_t>, kNumFallbackReasons> fallbacks_{};
  std::array<std::atomic<uint64_t>, kNumBackendKinds> chunks_{};
  std::atomic<uint64_t> gpu_oom_events_{0};
  std::atomic<uint64_t> chunk_retries_{0};
  std::atomic<uint64_t> gpu_errors_{0};
};

}  // namespace simile

#endif  // SIMILE_CORE_DISPATCHER_COUNTERS_H_
