#include "core/chunk_planner.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"

namespace simile {
namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

uint64_t SaturatingAdd(uint64_t a, uint64_t b) { return a > kMax - b ? kMax : a + b; }

uint64_t SaturatingMul(uint64_t a, uint64_t b) {
  uint64_t product = 0;
  return __builtin_mul_overflow(a, b, &product) ? kMax : product;
}

uint64_t BytesPerRow(const ChunkPlanInput& in) {
  // Resident rows are in device memory already: a row costs only its extra bytes (at least 1, so
  // that the division below is defined).
  if (in.rows_resident) return std::max<uint64_t>(in.bytes_per_row_extra, 1);
  // dim and bytes_per_element are 32-bit, so their product always fits in 64 bits.
  return SaturatingAdd(uint64_t{in.dim} * in.bytes_per_element, in.bytes_per_row_extra);
}

}  // namespace

uint64_t MinChunkBytes(const ChunkPlanInput& input) {
  const uint64_t rows = std::min(input.rows, std::max<uint64_t>(input.min_chunk_rows, 1));
  return SaturatingAdd(input.fixed_bytes, SaturatingMul(rows, BytesPerRow(input)));
}

absl::StatusOr<ChunkPlan> PlanChunks(const ChunkPlanInput& input) {
  if (input.dim == 0) return absl::InvalidArgumentError("chunk plan: dim must be > 0");
  if (input.bytes_per_element == 0) {
    return absl::InvalidArgumentError("chunk plan: bytes_per_element must be > 0");
  }
  if (input.min_chunk_rows == 0)
    return absl::InvalidArgumentError("chunk plan: min_chunk_rows must be > 0");

  ChunkPlan plan;
  plan.bytes_per_row = BytesPerRow(input);  // >= 1 (see BytesPerRow).
  if (input.rows == 0) {
    plan.peak_bytes = input.fixed_bytes;
    return plan;
  }

  // Bytes left for rows once headroom and the fixed part are set aside (0 if they do not fit at
  // all).
  uint64_t available =
      input.free_bytes > input.headroom_bytes ? input.free_bytes - input.headroom_bytes : 0;
  available = available > input.fixed_bytes ? available - input.fixed_bytes : 0;
  const uint64_t max_rows = available / plan.bytes_per_row;

  const uint64_t needed_rows = std::min(input.rows, input.min_chunk_rows);
  if (max_rows < needed_rows) {
    return absl::ResourceExhaustedError(
        absl::StrCat("chunk plan: a chunk of ", needed_rows, " rows needs ", MinChunkBytes(input),
                     " bytes plus ", input.headroom_bytes, " headroom, but only ", input.free_bytes,
                     " bytes are free"));
  }
  plan.rows_per_chunk = std::min(input.rows, max_rows);
  plan.num_chunks = (input.rows - 1) / plan.rows_per_chunk + 1;
  // rows_per_chunk * bytes_per_row <= available, so neither operation can overflow.
  plan.peak_bytes = input.fixed_bytes + plan.rows_per_chunk * plan.bytes_per_row;
  return plan;
}

RetrySplit SplitForRetry(uint64_t rows, uint64_t floor_rows) {
  const uint64_t floor = std::max<uint64_t>(floor_rows, 1);
  RetrySplit r;
  if (rows <= floor) {
    r.rows = rows;
    r.split = false;
    r.floor_reached = true;
    return r;
  }
  r.rows = std::max(rows - rows / 2, floor);  // ceil(rows / 2), written so it cannot overflow.
  r.split = true;
  r.floor_reached = r.rows <= floor;
  return r;
}

}  // namespace simile
