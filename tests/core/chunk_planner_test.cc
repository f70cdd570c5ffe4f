#include "core/chunk_planner.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <vector>

namespace simile {
namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

// 1 query of dim 768 against rows of 768 floats; per row 768 * 4 + 8 (norm + score) = 3080 bytes.
ChunkPlanInput Input(uint64_t rows, uint64_t free_bytes) {
  ChunkPlanInput in;
  in.rows = rows;
  in.dim = 768;
  in.bytes_per_element = 4;
  in.fixed_bytes = 4096;
  in.bytes_per_row_extra = 8;
  in.free_bytes = free_bytes;
  in.headroom_bytes = 1000;
  in.min_chunk_rows = 1;
  return in;
}
constexpr uint64_t kRow = 768 * 4 + 8;
constexpr uint64_t kOverhead = 4096 + 1000;  // fixed + headroom

// Every row is covered exactly once, every chunk but the last is full, and each chunk fits.
void RequireCovers(const ChunkPlan& p, const ChunkPlanInput& in) {
  REQUIRE(p.rows_per_chunk > 0);
  REQUIRE(p.num_chunks == (in.rows + p.rows_per_chunk - 1) / p.rows_per_chunk);
  REQUIRE((p.num_chunks - 1) * p.rows_per_chunk < in.rows);
  REQUIRE(p.RowsInChunk(p.num_chunks - 1, in.rows) ==
          in.rows - (p.num_chunks - 1) * p.rows_per_chunk);
  REQUIRE(p.peak_bytes == in.fixed_bytes + p.rows_per_chunk * p.bytes_per_row);
  REQUIRE(p.peak_bytes + in.headroom_bytes <= in.free_bytes);
}

TEST_CASE("Exact fit: the memory holds exactly k rows", "[chunk]") {
  const ChunkPlanInput in = Input(1000, kOverhead + 100 * kRow);
  const auto plan = PlanChunks(in);
  REQUIRE(plan.ok());
  REQUIRE(plan->bytes_per_row == kRow);
  REQUIRE(plan->rows_per_chunk == 100);
  REQUIRE(plan->num_chunks == 10);
  REQUIRE(plan->peak_bytes == in.free_bytes - in.headroom_bytes);
  REQUIRE(plan->RowsInChunk(9, in.rows) == 100);
  RequireCovers(*plan, in);
}

TEST_CASE("One byte short of k rows gives k - 1 rows and a short last chunk", "[chunk]") {
  const ChunkPlanInput in = Input(1000, kOverhead + 100 * kRow - 1);
  const auto plan = PlanChunks(in);
  REQUIRE(plan.ok());
  REQUIRE(plan->rows_per_chunk == 99);
  REQUIRE(plan->num_chunks == 11);
  REQUIRE(plan->RowsInChunk(0, in.rows) == 99);
  REQUIRE(plan->RowsInChunk(10, in.rows) == 10);
  RequireCovers(*plan, in);
}

TEST_CASE("Everything fits: one chunk", "[chunk]") {
  const ChunkPlanInput in = Input(50, kOverhead + 100 * kRow);
  const auto plan = PlanChunks(in);
  REQUIRE(plan.ok());
  REQUIRE(plan->rows_per_chunk == 50);
  REQUIRE(plan->num_chunks == 1);
  RequireCovers(*plan, in);
}

TEST_CASE("Huge batches: a billion rows on an 80 GB GPU", "[chunk]") {
  const ChunkPlanInput in = Input(1'000'000'000, 80ull << 30);
  const auto plan = PlanChunks(in);
  REQUIRE(plan.ok());
  REQUIRE(plan->rows_per_chunk == ((80ull << 30) - kOverhead) / kRow);
  REQUIRE(plan->num_chunks == 36);  // 3.08 TB of rows / ~85.9 GB per chunk.
  RequireCovers(*plan, in);
}

TEST_CASE("No memory, or not even the minimum chunk: ResourceExhausted", "[chunk]") {
  REQUIRE(PlanChunks(Input(1000, 0)).status().code() == absl::StatusCode::kResourceExhausted);
  // Headroom alone exceeds free memory; fixed part alone; exactly the fixed part with no row.
  REQUIRE(PlanChunks(Input(1000, 999)).status().code() == absl::StatusCode::kResourceExhausted);
  REQUIRE(PlanChunks(Input(1000, kOverhead)).status().code() ==
          absl::StatusCode::kResourceExhausted);
  REQUIRE(PlanChunks(Input(1000, kOverhead + kRow - 1)).status().code() ==
          absl::StatusCode::kResourceExhausted);
  const auto one = PlanChunks(Input(1000, kOverhead + kRow));
  REQUIRE(one.ok());
  REQUIRE(one->rows_per_chunk == 1);
  REQUIRE(one->num_chunks == 1000);
}

TEST_CASE("min_chunk_rows: a smaller chunk is refused, a smaller request is not", "[chunk]") {
  ChunkPlanInput in = Input(1000, kOverhead + 63 * kRow);
  in.min_chunk_rows = 64;
  const auto refused = PlanChunks(in);
  REQUIRE(refused.status().code() == absl::StatusCode::kResourceExhausted);
  REQUIRE(refused.status().message().find("64 rows") != absl::string_view::npos);

  in.free_bytes = kOverhead + 64 * kRow;
  REQUIRE(PlanChunks(in)->rows_per_chunk == 64);

  in.rows = 10;  // Fewer rows than the minimum chunk: they only need to fit themselves.
  in.free_bytes = kOverhead + 10 * kRow;
  const auto small = PlanChunks(in);
  REQUIRE(small.ok());
  REQUIRE(small->rows_per_chunk == 10);
  REQUIRE(small->num_chunks == 1);
  REQUIRE(MinChunkBytes(in) == 4096 + 10 * kRow);
}

TEST_CASE("Overflow guards: nothing wraps round to a small number", "[chunk]") {
  ChunkPlanInput in = Input(1000, kMax);
  in.bytes_per_row_extra = kMax;  // bytes per row saturates: nothing fits.
  REQUIRE(PlanChunks(in).status().code() == absl::StatusCode::kResourceExhausted);
  REQUIRE(MinChunkBytes(in) == kMax);

  in = Input(1000, kMax);
  in.fixed_bytes = kMax;
  REQUIRE(PlanChunks(in).status().code() == absl::StatusCode::kResourceExhausted);

  in = Input(kMax, kMax);  // 2^64 - 1 rows of 1 byte, 2^64 - 1 bytes free.
  in.dim = 1;
  in.bytes_per_element = 1;
  in.bytes_per_row_extra = 0;
  in.fixed_bytes = 0;
  in.headroom_bytes = 0;
  auto plan = PlanChunks(in);
  REQUIRE(plan.ok());
  REQUIRE(plan->rows_per_chunk == kMax);
  REQUIRE(plan->num_chunks == 1);

  in.headroom_bytes = 1;
  plan = PlanChunks(in);
  REQUIRE(plan.ok());
  REQUIRE(plan->rows_per_chunk == kMax - 1);
  REQUIRE(plan->num_chunks == 2);
  REQUIRE(plan->RowsInChunk(1, in.rows) == 1);

  in = Input(kMax, 1ull << 40);
  in.dim = std::numeric_limits<uint32_t>::max();
  in.bytes_per_element = std::numeric_limits<uint32_t>::max();  // ~2^64 bytes per row, no overflow.
  REQUIRE(PlanChunks(in).status().code() == absl::StatusCode::kResourceExhausted);
  in.min_chunk_rows = kMax;
  REQUIRE(MinChunkBytes(in) == kMax);
}

TEST_CASE("Invalid input and empty requests", "[chunk]") {
  ChunkPlanInput in = Input(10, 1ull << 30);
  in.dim = 0;
  REQUIRE(PlanChunks(in).status().code() == absl::StatusCode::kInvalidArgument);
  in = Input(10, 1ull << 30);
  in.bytes_per_element = 0;
  REQUIRE(PlanChunks(in).status().code() == absl::StatusCode::kInvalidArgument);
  in = Input(10, 1ull << 30);
  in.min_chunk_rows = 0;
  REQUIRE(PlanChunks(in).status().code() == absl::StatusCode::kInvalidArgument);

  const auto empty = PlanChunks(Input(0, 0));
  REQUIRE(empty.ok());
  REQUIRE(empty->num_chunks == 0);
  REQUIRE(empty->rows_per_chunk == 0);
}

TEST_CASE("SplitForRetry halves down to the floor, then says stop", "[chunk]") {
  uint64_t rows = 1000;
  std::vector<uint64_t> sizes;
  for (;;) {
    const RetrySplit s = SplitForRetry(rows, 100);
    if (!s.split) {
      REQUIRE(s.floor_reached);
      REQUIRE(s.rows == rows);
      break;
    }
    REQUIRE(s.rows < rows);
    REQUIRE(s.rows >= 100);
    REQUIRE(s.floor_reached == (s.rows == 100));
    rows = s.rows;
    sizes.push_back(rows);
  }
  REQUIRE(sizes == std::vector<uint64_t>{500, 250, 125, 100});

  // Halving rounds up, so two halves always cover the chunk.
  REQUIRE(SplitForRetry(3, 1).rows == 2);
  REQUIRE(SplitForRetry(2, 1).rows == 1);
  REQUIRE(SplitForRetry(2, 1).floor_reached);
  REQUIRE_FALSE(SplitForRetry(1, 1).split);
  REQUIRE_FALSE(SplitForRetry(1, 0).split);  // Floor 0 means 1.
  REQUIRE(SplitForRetry(2, 0).split);
  REQUIRE_FALSE(SplitForRetry(50, 100).split);  // Already below the floor.
  REQUIRE(SplitForRetry(50, 100).rows == 50);
  REQUIRE(SplitForRetry(kMax, 1).rows == kMax / 2 + 1);
}

TEST_CASE("Resident rows cost only their extra bytes", "[chunk][residency]") {
  ChunkPlanInput in = Input(1000000, kOverhead + 100 * 8);
  CHECK(PlanChunks(in).status().code() == absl::StatusCode::kResourceExhausted);  // Not even one row.
  in.rows_resident = true;
  const absl::StatusOr<ChunkPlan> p = PlanChunks(in);
  REQUIRE(p.ok());
  CHECK(p->bytes_per_row == 8);
  CHECK(p->rows_per_chunk == 100);
  RequireCovers(*p, in);
  in.bytes_per_row_extra = 0;  // Still at least one byte per row: the division stays defined.
  CHECK(PlanChunks(in)->bytes_per_row == 1);
  CHECK(MinChunkBytes(in) == in.fixed_bytes + 1);
}

}  // namespace
}  // namespace simile
