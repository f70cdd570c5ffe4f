// Out of device memory on purpose (FAISS's TestGpuMemoryException): with most of the GPU's memory
// taken by a test hog, a chunk whose workspace does not fit fails with RESOURCE_EXHAUSTED (the
// status the executor's chunker splits and retries on), a chunk small enough for what is left
// still runs correctly (what the retry does), and once the memory is given back the full chunk
// runs correctly: the device is not damaged by running out. Also the pool's own cap.
//
// Tagged [gpu][oom]; compute-sanitizer runs leave [oom] out (its out-of-memory API errors are
// intended here).
#include <catch2/catch.hpp>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "kernels/gpu_backend.h"
#include "kernels/gpu_memory_hog.h"
#include "kernels/gpu_plan.h"
#include "tests/kernels/gpu_test_support.h"

namespace simile::testing {
namespace {

TEST_CASE("Running out of device memory is RESOURCE_EXHAUSTED and the device recovers",
          "[gpu][oom]") {
  SIMILE_GPU_OR_SKIP(shared);
  std::string reason;
  // A backend of its own, so that no idle block of an earlier test's pool can serve the request.
  std::unique_ptr<kernels::GpuBackendSet> set = MakeGpus(kernels::GpuBackendOptions(), &reason);
  REQUIRE(set != nullptr);
  Backend& gpu = *set->backends.front();
  // Warm-up: the kernels (lazily loaded) and cuBLAS ready, a small block cached.
  CheckRandomCase(gpu, 16, 1000, 64, 0, 1);
  CheckRandomCase(gpu, 16, 1000, 64, 10, 1);

  const uint32_t q = 16;
  const uint32_t dim = 768;
  const uint64_t n = 200'000;
  absl::StatusOr<kernels::GpuCallPlan> plan = kernels::PlanGpuCall(q, dim, n, 0, {});
  REQUIRE(plan.ok());
  const uint64_t needed = plan->device.total_bytes;
  {
    absl::StatusOr<std::unique_ptr<kernels::GpuMemoryHog>> hog =
        kernels::GpuMemoryHog::Grab(OrdinalOf(gpu), needed / 2);
    INFO(hog.status().ToString());
    REQUIRE(hog.ok());
    const uint64_t left = (*hog)->free_bytes_after_grab();
    INFO("held " << (*hog)->held_bytes() << " bytes; left " << left << "; the chunk needs "
                 << needed);
    REQUIRE(left < needed);

    const std::vector<float> queries = FastRandom(q, dim, 2);
    const std::vector<float> targets = FastRandom(n, dim, 3);
    const ChunkResult r = RunChunk(gpu, queries, targets, dim, 0);
    INFO(r.status.ToString());
    CHECK(r.status.code() == absl::StatusCode::kResourceExhausted);
    CHECK(gpu.Available());

    // What the chunker does next: a smaller chunk, whose workspace fits what is left.
    uint64_t rows = n;
    while (rows > 1 && kernels::PlanGpuCall(q, dim, rows, 0, {})->device.total_bytes > left / 2) {
      rows /= 2;
    }
    INFO("retry with " << rows << " rows");
    CheckRandomCase(gpu, q, rows, dim, 0, 4);
    CheckRandomCase(gpu, q, rows, dim, 10, 5);
  }
  // Memory given back: the full chunk runs, on this backend and on the shared one.
  CheckRandomCase(gpu, q, n, dim, 0, 6);
  CheckRandomCase(*shared, q, 10'000, dim, 7, 7);
}

TEST_CASE("The device pool's cap is RESOURCE_EXHAUSTED", "[gpu][oom]") {
  SIMILE_GPU_OR_SKIP(shared);
  kernels::GpuBackendOptions options;
  options.device_pool_limit_bytes = uint64_t{8} << 20;
  std::string reason;
  std::unique_ptr<kernels::GpuBackendSet> set = MakeGpus(options, &reason);
  REQUIRE(set != nullptr);
  Backend& gpu = *set->backends.front();
  const std::vector<float> queries = FastRandom(16, 768, 1);
  const std::vector<float> targets = FastRandom(100'000, 768, 2);
  const ChunkResult r = RunChunk(gpu, queries, targets, 768, 0);
  CHECK(r.status.code() == absl::StatusCode::kResourceExhausted);
  CHECK_THAT(std::string(r.status.message()), Catch::Contains("cap"));
  CHECK(gpu.Available());
  CheckRandomCase(gpu, 16, 1000, 768, 0, 3);  // ~6 MiB: fits under the cap.
}

}  // namespace
}  // namespace simile::testing
