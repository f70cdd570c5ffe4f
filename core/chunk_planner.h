// Chunk planning: how many target rows one GPU chunk may hold so that it fits in the device memory
// a request may use, and how to shrink a chunk after an out-of-memory error. Pure functions of
// their arguments (no device, no clock), so every edge case is a unit test.
//
// Memory model of one chunk: fixed_bytes (the queries and per-request buffers, present whatever the
// chunk size) plus, per target row, dim * bytes_per_element (the row itself) + bytes_per_row_extra
// (its norm, its Q output scores, or its share of top-k candidates). A chunk fits when that total
// is <= free_bytes - headroom_bytes. All arithmetic is in uint64 with explicit overflow guards: a
// product that would overflow is treated as "does not fit", never wrapped round to a small number.
//
// Thread safety: pure functions; safe from any thread.
#ifndef SIMILE_CORE_CHUNK_PLANNER_H_
#define SIMILE_CORE_CHUNK_PLANNER_H_

#include <cstdint>

#include "absl/status/statusor.h"

namespace simile {

struct ChunkPlanInput {
  uint64_t rows = 0;                 // Target rows (N) to process.
  uint32_t dim = 0;                  // Vector dimension (> 0).
  uint32_t bytes_per_element = 4;    // float32 (> 0).
  uint64_t fixed_bytes = 0;          // Per request, independent of chunk size.
  uint64_t bytes_per_row_extra = 0;  // Per target row, beyond the row's own elements.
  uint64_t free_bytes = 0;      // Device memory the request may use (VramBudget::usable_bytes).
  uint64_t headroom_bytes = 0;  // Kept free on top of everything counted above.
  uint64_t min_chunk_rows = 1;  // Smaller chunks are not worth a GPU launch (> 0).
  // The rows are a target set already resident in device memory (ChunkArgs::resident): a row then
  // costs bytes_per_row_extra only (at least 1 byte).
  bool rows_resident = false;
};

struct ChunkPlan {
  // Every chunk has this many rows except the last, which has the remainder.
  uint64_t rows_per_chunk = 0;
  // ceil(rows / rows_per_chunk); 0 when rows == 0.
  uint64_t num_chunks = 0;
  // dim * bytes_per_element + bytes_per_row_extra (only the extra, at least 1, for resident rows).
  uint64_t bytes_per_row = 0;
  // fixed_bytes + rows_per_chunk * bytes_per_row: the device memory one chunk needs.
  uint64_t peak_bytes = 0;

  // Rows of chunk `i` (< num_chunks).
  [[nodiscard]] uint64_t RowsInChunk(uint64_t i, uint64_t total_rows) const {
    const uint64_t begin = i * rows_per_chunk;
    return total_rows - begin < rows_per_chunk ? total_rows - begin : rows_per_chunk;
  }
};

// The largest chunk size that fits, and how many chunks cover all rows.
// InvalidArgument: dim, bytes_per_element or min_chunk_rows is 0.
// ResourceExhausted: not even min(rows, min_chunk_rows) rows fit (the caller runs the request on
// the CPU). rows == 0 gives an empty plan (num_chunks == 0).
[[nodiscard]] absl::StatusOr<ChunkPlan> PlanChunks(const ChunkPlanInput& input);

// The bytes the smallest acceptable chunk needs: fixed_bytes + min(rows, min_chunk_rows) * bytes
// per row, saturating at UINT64_MAX (free_bytes and headroom_bytes are ignored). For the
// insufficient_vram rule, which compares it with VramBudget::usable_bytes - headroom.
[[nodiscard]] uint64_t MinChunkBytes(const ChunkPlanInput& input);

// What to do after a chunk of `rows` rows ran out of GPU memory: halve it (rounding up, so two
// halves cover it), but not below `floor_rows` (0 is taken as 1).
struct RetrySplit {
  // Rows per chunk for the retry; the input itself when split is false.
  uint64_t rows = 0;
  // true: retry on the GPU with `rows` (< the input). false: the input was already at or below the
  // floor; stop retrying on the GPU and run the chunk on the CPU.
  bool split = false;
  // rows <= floor: one more out-of-memory at this size ends the GPU retries.
  bool floor_reached = false;
};
[[nodiscard]] RetrySplit SplitForRetry(uint64_t rows, uint64_t floor_rows);

}  // namespace simile

#endif  // SIMILE_CORE_CHUNK_PLANNER_H_
