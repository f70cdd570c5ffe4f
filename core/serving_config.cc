#include "core/serving_config.h"

#include "absl/strings/str_cat.h"

namespace simile {
namespace {

// A protobuf message cannot exceed 2 GiB, so neither can a response: 2^29 scores of 4 bytes.
constexpr uint64_t kMaxResultElementsCeiling = uint64_t{1} << 29;

}  // namespace

absl::Status ServingConfig::Validate() const {
  if (limits.max_dim == 0) return absl::InvalidArgumentError("limits.max_dim must be >= 1");
  if (limits.max_queries == 0) return absl::InvalidArgumentError("limits.max_queries must be >= 1");
  if (limits.max_targets == 0) return absl::InvalidArgumentError("limits.max_targets must be >= 1");
  if (limits.max_result_elements == 0 || limits.max_result_elements > kMaxResultElementsCeiling) {
    return absl::InvalidArgumentError(absl::StrCat("limits.max_result_elements must be in [1, ",
                                                   kMaxResultElementsCeiling,
                                                   "] (a response cannot exceed 2 GiB)"));
  }
  return absl::OkStatus();
}

}  // namespace simile
