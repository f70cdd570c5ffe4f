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
  Operation operation = Operation::kOneQuery;         // How the dispatcher classed the request.
  uint32_t chunks = 0;                                // Chunks that produced results...
  uint32_t gpu_chunks = 0;                            // ...of which ran on the GPU
  uint32_t cpu_chunks = 0;                            // ...and on the CPU.
  uint32_t chunk_retries = 0;                         // Chunk splits after GPU out-of-memory.
  FallbackReason fallback = FallbackReason::kNone;
  std::string fallback_detail;  // The GPU error behind the fallback, for humans.
  absl::Duration compute_time;  // From the start of execution to the last result.
  absl::Duration decision_time;  // Reading the dispatcher's inputs and choosing the backend.
  // Target sets only: the targets were already in the memory of every backend that read them, so no target
  // bytes were transferred for this request (host memory for CPU chunks, a resident copy for GPU chunks).
  bool targets_resident = false;
  // Target sets only: this request uploaded the set to the GPU, where it stays resident for later requests.
  bool target_set_uploaded = false;
};

}  // namespace simile

#endif  // SIMILE_CORE_EXECUTION_REPORT_H_
