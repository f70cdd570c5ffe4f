#include "core/backend_kind.h"

#include <catch2/catch.hpp>
#include <set>
#include <string>

namespace simile {
namespace {

TEST_CASE("Label names are the documented snake_case values and unique", "[dispatch][names]") {
  REQUIRE(Name(BackendKind::kCpu) == "cpu");
  REQUIRE(Name(BackendKind::kGpu) == "gpu");
  REQUIRE(Name(Operation::kOneQuery) == "one_query");
  REQUIRE(Name(Operation::kManyQueries) == "many_queries");
  REQUIRE(Name(FallbackReason::kNone) == "none");
  REQUIRE(Name(FallbackReason::kGpuOutOfMemory) == "gpu_out_of_memory");
  REQUIRE(Name(FallbackReason::kGpuError) == "gpu_error");

  const char* const expected[kNumDispatchRules] = {"placement_cpu",
                                                   "placement_gpu",
                                                   "gpu_unavailable",
                                                   "circuit_open",
                                                   "batch_too_small",
                                                   "gpu_slower_for_this_size",
                                                   "low_gpu_success_rate",
                                                   "insufficient_vram",
                                                   "explore",
                                                   "gpu_faster"};
  std::set<std::string> seen;
  for (size_t i = 0; i < kNumDispatchRules; ++i) {
    const absl::string_view name = Name(static_cast<DispatchRule>(i));
    REQUIRE(name == expected[i]);
    seen.emplace(name);
  }
  REQUIRE(seen.size() == kNumDispatchRules);
}

TEST_CASE("OperationFor splits one query from many", "[dispatch]") {
  REQUIRE(OperationFor(0) == Operation::kOneQuery);
  REQUIRE(OperationFor(1) == Operation::kOneQuery);
  REQUIRE(OperationFor(2) == Operation::kManyQueries);
  REQUIRE(Index(Operation::kManyQueries) == 1);
}

}  // namespace
}  // namespace simile
