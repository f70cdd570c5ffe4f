// A real sticky CUDA error (a kernel writing to an unmapped address, through the backend's fault
// injection option): the call returns UNAVAILABLE naming cudaErrorIllegalAddress, Available()
// turns false for good, and every later call and memory query fails fast with UNAVAILABLE.
//
// Hidden ([.]): the error kills the process's CUDA context, so every other GPU test in the same
// process would fail after it. Run it alone: simile_kernels_tests "[gpu_fault]" (bench/gpu/run.sh
// does).
#include <catch2/catch.hpp>

#include <string>

#include "absl/status/status.h"
#include "core/vram_monitor.h"
#include "kernels/gpu_backend.h"
#include "tests/kernels/gpu_test_support.h"

namespace simile::testing {
namespace {

TEST_CASE("A sticky CUDA error makes the backend unavailable for good", "[.][gpu][gpu_fault]") {
  kernels::GpuBackendOptions options;
  options.inject_illegal_address_on_call = 2;
  std::string reason;
  std::unique_ptr<kernels::GpuBackendSet> set = MakeGpus(options, &reason);
  if (set == nullptr) {
    NoteGpuSkip(reason);
    WARN("skipped: " << reason);
    return;
  }
  Backend& gpu = *set->backends.front();
  CheckRandomCase(gpu, 2, 1000, 16, 0, 1);  // Call 1: fine.

  const std::vector<float> queries = FastRandom(2, 16, 2);
  const std::vector<float> targets = FastRandom(1000, 16, 3);
  const ChunkResult r = RunChunk(gpu, queries, targets, 16, 0);  // Call 2: the fault.
  INFO(r.status.ToString());
  CHECK(r.status.code() == absl::StatusCode::kUnavailable);
  CHECK_THAT(std::string(r.status.message()), Catch::Contains("cudaErrorIllegalAddress"));
  CHECK(!gpu.Available());

  const ChunkResult after = RunChunk(gpu, queries, targets, 16, 5);
  CHECK(after.status.code() == absl::StatusCode::kUnavailable);
  CHECK(gpu.memory_query()->Query().status().code() == absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace simile::testing
