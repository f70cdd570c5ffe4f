#include "core/serving_config.h"

#include "absl/strings/str_cat.h"

namespace simile {
namespace {

// A protobuf message cannot exceed 2 GiB, so neither can a response: 2^29 scores of 4 bytes.
constexpr uint64_t kMaxResultElementsCeiling = uint64_t{1} << 29;

}  // namespace

absl::Status ChunkingOptions::Validate() const {
  if (min_gpu_chunk_rows == 0)
    return absl::InvalidArgumentError("chunking.min_gpu_chunk_rows must be >= 1");
  if (cpu_chunk_macs == 0)
    return absl::InvalidArgumentError("chunking.cpu_chunk_macs must be >= 1");
  return absl::OkStatus();
}

uint64_t ResidencyOptions::CapFor(uint64_t total_bytes) const {
  const auto by_fraction = static_cast<uint64_t>(static_cast<double>(total_bytes) * max_fraction_of_device);
  return max_bytes > 0 && max_bytes < by_fraction ? max_bytes : by_fraction;
}

absl::Status ResidencyOptions::Validate() const {
  if (!(max_fraction_of_device >= 0 && max_fraction_of_device <= 0.9)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "target_set_residency.max_fraction_of_device must be in [0, 0.9], got ", max_fraction_of_device));
  }
  return absl::OkStatus();
}

absl::Status ServingConfig::Validate() const {
  if (limits.max_dim == 0) return absl::InvalidArgumentError("limits.max_dim must be >= 1");
  if (limits.max_queries == 0) return absl::InvalidArgumentError("limits.max_queries must be >= 1");
  if (limits.max_targets == 0) return absl::InvalidArgumentError("limits.max_targets must be >= 1");
  if (limits.max_result_elements == 0 || limits.max_result_elements > kMaxResultElementsCeiling) {
    return absl::InvalidArgumentError(absl::StrCat("limits.max_result_elements must be in [1, ",
                                                   kMaxResultElementsCeiling,
                                                   "] (a response cannot exceed 2 GiB)"));
  }
  if (admission.max_in_flight_requests == 0) {
    return absl::InvalidArgumentError("admission.max_in_flight_requests must be >= 1");
  }
  if (admission.max_in_flight_bytes == 0) {
    return absl::InvalidArgumentError("admission.max_in_flight_bytes must be >= 1");
  }
  // Each component names its fields as the configuration file's sections do (dispatch_policy.*,
  // circuit_breaker.*, vram_monitor.*, chunking.*, tracker.*).
  if (absl::Status s = policy.Validate(); !s.ok()) return s;
  if (absl::Status s = breaker.Validate(); !s.ok()) return s;
  if (absl::Status s = vram.Validate(); !s.ok()) return s;
  if (absl::Status s = chunking.Validate(); !s.ok()) return s;
  if (absl::Status s = residency.Validate(); !s.ok()) return s;
  if (absl::Status s = fault_injection.Validate(); !s.ok()) return s;
  PerformanceTracker::Options tracker;
  tracker.window_size = tracker_window;
  return tracker.Validate();
}

}  // namespace simile
