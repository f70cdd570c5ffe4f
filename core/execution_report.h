// ExecutionReport: how one request was run (returned to the caller, logged and counted in metrics).
#ifndef SIMILE_CORE_EXECUTION_REPORT_H_
#define SIMILE_CORE_EXECUTION_REPORT_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "core/backend_kind.h"

namespace simile {

struct ExecutionReport {
  BackendKind backend = BackendKind::kCpu;            // The backend the dispatcher chose.
  DispatchRule rule = DispatchRule::kGpuUnavailable;  // The rule that chose it.
  uint32_t chunks = 0;                                // Chunks that produced results...
  uint32_t gpu_chunks = 0;                            // ...of which ran on the GPU
  uint32_t cpu_chunks = 0;                            // ...and on the CPU.
  uint32_t chunk_retries = 0;                         // Chunk splits after GPU out-of-memory.
  FallbackReason fallback = FallbackReason::kNone;
  std::string fallback_detail;  // The GPU error behind the fallback, for humans.
  absl::Duration compute_time;  // From the start of execution to the last result.
  absl::Duration decision_time;  // Reading the dispatcher's inputs and choosing the backend.
};

}  // namespace simile

#endif  // SIMILE_CORE_EXECUTION_REPORT_H_
