// Target sets resident in GPU memory (kernels/resident_targets.cc): chunks read the device copy in place
// (the host rows passed beside it are poisoned with NaN, so reading them would show), at any offset, for
// full scores and top-k, on the fused and the SGEMM paths, with odd dims (padded copies); results equal the
// CPU's within 1e-5. The copy's memory is returned when its last holder lets go.
//
// Tagged [gpu]; each skips visibly without a usable GPU.
#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include "core/backend.h"
#include "core/vram_monitor.h"
#include "tests/kernels/gpu_test_support.h"

namespace simile::testing {
namespace {

TEST_CASE("GPU chunks on a resident set equal the CPU's and never read the host rows", "[gpu][residency]") {
  SIMILE_GPU_OR_SKIP(gpu);
  std::mt19937_64 rng(31);
  for (const uint32_t dim : {3u, 17u, 768u, 1023u}) {
    const uint32_t n = QuickMode() ? 3000 : 40000;
    const std::vector<float> set = FastRandom(n, dim, rng());
    absl::StatusOr<std::shared_ptr<const ResidentTargets>> resident =
        gpu->MakeResident(MatrixView{set.data(), n, dim}, {});
    INFO("dim " << dim << ": " << resident.status().ToString());
    REQUIRE(resident.ok());
    CHECK((*resident)->rows() == n);
    CHECK((*resident)->bytes() >= uint64_t{n} * dim * sizeof(float));
    for (const uint32_t q : {1u, 4u, 9u}) {
      for (const uint32_t top_k : {0u, 10u, 1025u}) {
        const uint32_t offset = static_cast<uint32_t>(rng() % (n / 2));
        const uint32_t rows = 1 + static_cast<uint32_t>(rng() % (n - offset));
        const std::vector<float> queries = FastRandom(q, dim, rng());
        const std::vector<float> slice(set.begin() + uint64_t{offset} * dim,
                                       set.begin() + uint64_t{offset + rows} * dim);
        const std::vector<float> poisoned(slice.size(), std::numeric_limits<float>::quiet_NaN());
        const ChunkResult on_gpu = RunChunk(*gpu, queries, poisoned, dim, top_k, offset, 0, resident->get());
        const ChunkResult on_cpu = RunChunk(CpuReference(), queries, slice, dim, top_k, offset);
        CheckSameResults(on_gpu, on_cpu, queries, slice, dim, top_k, offset, 0, 1e-5,
                         "resident dim " + std::to_string(dim) + " q " + std::to_string(q) + " k " +
                             std::to_string(top_k));
      }
    }
  }
}

TEST_CASE("A resident set's device memory is freed when its last holder lets go", "[gpu][residency]") {
  SIMILE_GPU_OR_SKIP(gpu);
  DeviceMemoryQuery* memory = gpu->memory_query();
  REQUIRE(memory != nullptr);
  const uint32_t n = 1 << 18, dim = 256;  // 256 MiB.
  const std::vector<float> set = FastRandom(n, dim, 7);
  const uint64_t before = memory->Query().value().free_bytes;
  absl::StatusOr<std::shared_ptr<const ResidentTargets>> resident =
      gpu->MakeResident(MatrixView{set.data(), n, dim}, {});
  REQUIRE(resident.ok());
  const uint64_t during = memory->Query().value().free_bytes;
  CHECK(during + (*resident)->bytes() <= before + (uint64_t{8} << 20));  // Allocator granularity slack.
  resident->reset();
  const uint64_t after = memory->Query().value().free_bytes;
  CHECK(after + (uint64_t{8} << 20) >= before);
}

TEST_CASE("A chunk may not read another backend's resident set", "[gpu][residency]") {
  SIMILE_GPU_OR_SKIP(gpu);
  const std::vector<float> set = FastRandom(100, 8, 9);
  absl::StatusOr<std::shared_ptr<const ResidentTargets>> resident =
      CpuReference().MakeResident(MatrixView{set.data(), 100, 8}, {});
  CHECK(resident.status().code() == absl::StatusCode::kUnimplemented);  // The CPU keeps nothing resident.
  absl::StatusOr<std::shared_ptr<const ResidentTargets>> mine = gpu->MakeResident(MatrixView{set.data(), 100, 8}, {});
  REQUIRE(mine.ok());
  // Rows beyond the set are refused, not read.
  const std::vector<float> queries = FastRandom(1, 8, 10);
  const ChunkResult out_of_range = RunChunk(*gpu, queries, set, 8, 0, 50, 0, mine->get());
  CHECK(out_of_range.status.code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace simile::testing
