// RunChunked: runs one task's targets chunk by chunk on the backend the dispatcher chose, and
// recovers from that backend's failures without ever losing or misplacing a completed result:
// - a chunk that fails with out-of-memory is halved and retried, down to a floor; at the floor it
// runs on the
//   CPU, and later chunks try the GPU again;
// - a chunk that fails with any other error runs on the CPU, and so does every chunk after it;
// - every chunk's result count is checked: a short result is a failure, never a result;
// - completed chunks stay where they were written (full score matrix) or merged (top-k): nothing is
// redone;
// - the deadline and cancellation are checked before every chunk;
// - a failure of the CPU path itself is INTERNAL: never a partial result dressed as a full one.
// With fallback disallowed (PLACEMENT_GPU), the first unrecoverable GPU failure fails the request
// instead: RESOURCE_EXHAUSTED for out-of-memory at the floor, UNAVAILABLE for other GPU errors.
//
// Thread safety: a function over the caller's data; backends must be safe for concurrent use.
#ifndef SIMILE_CORE_CHUNKED_RUN_H_
#define SIMILE_CORE_CHUNKED_RUN_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "core/backend.h"
#include "core/clock.h"
#include "core/cosine_task.h"
#include "core/dispatcher_counters.h"
#include "core/execution_report.h"
#include "core/request_context.h"

namespace simile {

struct ChunkedRunParams {
  const CosineTask* task = nullptr;
  ResultBuffers out;
  const RequestContext* context = nullptr;
  const Clock* clock = nullptr;
  Backend* primary = nullptr;  // The backend the dispatcher chose.
  Backend* cpu =
      nullptr;  // The CPU backend: the fallback, and the primary when the CPU was chosen.
  bool allow_fallback = true;           // False for PLACEMENT_GPU.
  uint64_t primary_rows_per_chunk = 1;  // From the chunk plan (GPU) or the CPU chunk size.
  uint64_t primary_min_rows = 1;        // Out-of-memory split floor.
  uint64_t cpu_rows_per_chunk = 1;      // Chunk size of work that runs on the CPU.
  DispatcherCounters* counters = nullptr;
  // The task's targets as resident in the primary backend's memory (a target set), or null. Passed to the
  // primary's chunks only; chunks that fall back to the CPU read the host rows.
  const ResidentTargets* resident = nullptr;
  // The targets are not checked finite yet: the CPU backend checks each chunk during its pass
  // (ChunkArgs::check_targets_finite). Only with the CPU as primary and a CPU that
  // ChecksTargetsFinite(); otherwise RunChunked fails with INTERNAL before running anything, so no
  // other backend sees unchecked data.
  bool check_targets_finite = false;
};

// What happened to the primary backend (the circuit breaker and tracker need it).
struct ChunkedRunResult {
  absl::Status status;          // The request's status.
  bool primary_failed = false;  // A primary chunk failed with an error other than out-of-memory.
  bool primary_out_of_memory = false;
  uint32_t primary_chunks_ok = 0;
  std::string primary_error;  // The first primary failure's message.
  // With check_targets_finite: a chunk's targets hold a NaN or an infinity. status is then
  // INVALID_ARGUMENT without the position; the caller finds the first bad value (CheckFinite).
  bool targets_non_finite = false;
};

// Fills report->{chunks, gpu_chunks, cpu_chunks, chunk_retries, fallback, fallback_detail}.
[[nodiscard]] ChunkedRunResult RunChunked(const ChunkedRunParams& params, ExecutionReport* report);

// The context's status now: CANCELLED, DEADLINE_EXCEEDED or OK.
[[nodiscard]] absl::Status CheckRequestContext(const RequestContext& context, const Clock& clock);

}  // namespace simile

#endif  // SIMILE_CORE_CHUNKED_RUN_H_
