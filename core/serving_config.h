// ServingConfig: everything about how requests are served that an operator may change at run time:
// request limits, the dispatch policy's thresholds, the circuit breaker, the VRAM safety margin,
// chunking and (for tests) fault injection. Loaded from the configuration file at start-up and
// again on SIGHUP.
//
// Thread safety: a plain value; shared between threads only as `std::shared_ptr<const
// ServingConfig>` through ConfigStore, so it is never written once published.
#ifndef SIMILE_CORE_SERVING_CONFIG_H_
#define SIMILE_CORE_SERVING_CONFIG_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "core/circuit_breaker.h"
#include "core/dispatch_policy.h"
#include "core/fault_injector.h"
#include "core/limits.h"
#include "core/performance_tracker.h"
#include "core/vram_monitor.h"

namespace simile {

struct ChunkingOptions {
  // Device memory kept free on top of a request's planned use, in bytes (on top of the VRAM
  // monitor's safety margin, which scales with free memory; this covers fixed costs such as kernel
  // launch state). 64 MiB.
  uint64_t gpu_headroom_bytes = 64ull << 20;
  // Smallest GPU chunk in target rows: a chunk that runs out of GPU memory is halved down to this
  // size, then runs on the CPU. Also the smallest chunk the planner makes. 1024 rows.
  uint64_t min_gpu_chunk_rows = 1024;
  // CPU work per chunk, in multiply-adds (Q * rows * dim): the deadline and cancellation are
  // checked between chunks, so this bounds how long an abandoned request keeps a core busy. 2^30
  // (~0.1 s on one core).
  uint64_t cpu_chunk_macs = uint64_t{1} << 30;

  [[nodiscard]] absl::Status Validate() const;
};

// Target sets resident in GPU memory (core/residency_cache.h).
struct ResidencyOptions {
  // The per-device cap as a fraction of the device's total memory, in [0, 0.9]; 0 disables residency. 0.5:
  // leaves half of the device to the requests' own buffers and to inline targets.
  double max_fraction_of_device = 0.5;
  // An absolute cap in bytes, applied when > 0 and smaller than the fraction's.
  uint64_t max_bytes = 0;

  // The cap on a device of `total_bytes`.
  [[nodiscard]] uint64_t CapFor(uint64_t total_bytes) const;
  [[nodiscard]] absl::Status Validate() const;
};

struct ServingConfig {
  // Where this configuration came from (a file path, or "defaults"), and its sequence number in
  // this process (1 for the start-up configuration, +1 per accepted reload). Set by the loader and
  // ConfigStore.
  std::string source = "defaults";
  uint64_t version = 0;

  Limits limits;
  AdmissionLimits admission;
  PolicyOptions policy;
  CircuitBreaker::Options breaker;
  VramMonitor::Options vram;
  ChunkingOptions chunking;
  ResidencyOptions residency;
  // Calls per performance-tracker window. Read at start-up only: a reload that changes it is
  // rejected.
  int tracker_window = PerformanceTracker::kDefaultWindowSize;
  // Injected faults, for testing and chaos drills only (core/fault_injector.h); off by default.
  FaultInjectionOptions fault_injection;

  // InvalidArgument naming the first bad field.
  [[nodiscard]] absl::Status Validate() const;
};

}  // namespace simile

#endif  // SIMILE_CORE_SERVING_CONFIG_H_
