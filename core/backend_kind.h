// Small enums shared by the dispatcher's parts (tracker, policy, executor, metrics): which backend,
// which kind of operation, which dispatch rule decided, and why a request fell back to the CPU.
// Name() gives each value's snake_case label, used verbatim as a Prometheus label value and in
// logs, so labels never change silently: renaming one is a breaking change for dashboards.
//
// Thread safety: constants and pure functions only.
#ifndef SIMILE_CORE_BACKEND_KIND_H_
#define SIMILE_CORE_BACKEND_KIND_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/strings/string_view.h"

namespace simile {

enum class BackendKind : uint8_t { kCpu, kGpu };
inline constexpr size_t kNumBackendKinds = 2;

// The operations have different cost curves, so they are modelled separately:
// kOneQuery (Q == 1) reads every target once per score: memory bound.
// kManyQueries (Q > 1) reuses each target for Q scores: compute bound (a GEMM).
// The *Resident variants: the same on a target set that is (or will be made) resident in GPU memory, so the
// GPU reads its targets without a PCIe transfer, and its latency and the CPU/GPU crossover differ.
enum class Operation : uint8_t { kOneQuery, kManyQueries, kOneQueryResident, kManyQueriesResident };
inline constexpr size_t kNumOperations = 4;
inline constexpr Operation kAllOperations[kNumOperations] = {
    Operation::kOneQuery, Operation::kManyQueries, Operation::kOneQueryResident,
    Operation::kManyQueriesResident};

// The operation a request with `num_queries` query rows performs (on a GPU-resident target set or not).
[[nodiscard]] constexpr Operation OperationFor(uint64_t num_queries, bool resident = false) {
  if (resident) {
    return num_queries <= 1 ? Operation::kOneQueryResident : Operation::kManyQueriesResident;
  }
  return num_queries <= 1 ? Operation::kOneQuery : Operation::kManyQueries;
}

// The rule of the dispatch policy that chose a backend (core/dispatch_policy.h documents each).
enum class DispatchRule : uint8_t {
  kPlacementCpu,
  kPlacementGpu,
  kGpuUnavailable,
  kCircuitOpen,
  kBatchTooSmall,
  kGpuSlowerForThisSize,
  kLowGpuSuccessRate,
  kInsufficientVram,
  kExplore,
  kGpuFaster,
};
inline constexpr size_t kNumDispatchRules = 10;

// Why a request that was dispatched to the GPU finished (partly) on the CPU.
enum class FallbackReason : uint8_t {
  kNone,            // No fallback.
  kGpuOutOfMemory,  // A chunk still ran out of GPU memory at the smallest chunk size.
  kGpuError,        // Any other GPU error (these count against the circuit breaker).
};
inline constexpr size_t kNumFallbackReasons = 3;

// Array index of an enum value (for per-backend / per-operation tables).
template <typename Enum>
[[nodiscard]] constexpr size_t Index(Enum e) {
  return static_cast<size_t>(e);
}

[[nodiscard]] constexpr absl::string_view Name(BackendKind kind) {
  switch (kind) {
    case BackendKind::kCpu:
      return "cpu";
    case BackendKind::kGpu:
      return "gpu";
  }
  return "unknown";
}

[[nodiscard]] constexpr absl::string_view Name(Operation operation) {
  switch (operation) {
    case Operation::kOneQuery:
      return "one_query";
    case Operation::kManyQueries:
      return "many_queries";
    case Operation::kOneQueryResident:
      return "one_query_resident";
    case Operation::kManyQueriesResident:
      return "many_queries_resident";
  }
  return "unknown";
}

[[nodiscard]] constexpr absl::string_view Name(DispatchRule rule) {
  switch (rule) {
    case DispatchRule::kPlacementCpu:
      return "placement_cpu";
    case DispatchRule::kPlacementGpu:
      return "placement_gpu";
    case DispatchRule::kGpuUnavailable:
      return "gpu_unavailable";
    case DispatchRule::kCircuitOpen:
      return "circuit_open";
    case DispatchRule::kBatchTooSmall:
      return "batch_too_small";
    case DispatchRule::kGpuSlowerForThisSize:
      return "gpu_slower_for_this_size";
    case DispatchRule::kLowGpuSuccessRate:
      return "low_gpu_success_rate";
    case DispatchRule::kInsufficientVram:
      return "insufficient_vram";
    case DispatchRule::kExplore:
      return "explore";
    case DispatchRule::kGpuFaster:
      return "gpu_faster";
  }
  return "unknown";
}

[[nodiscard]] constexpr absl::string_view Name(FallbackReason reason) {
  switch (reason) {
    case FallbackReason::kNone:
      return "none";
    case FallbackReason::kGpuOutOfMemory:
      return "gpu_out_of_memory";
    case FallbackReason::kGpuError:
      return "gpu_error";
  }
  return "unknown";
}

}  // namespace simile

#endif  // SIMILE_CORE_BACKEND_KIND_H_
