// A closed-loop load generator for simile.v1.Similarity: `concurrency` threads each send the same prebuilt
// request, wait for the answer and send again, for a duration or a count, after a warm-up whose calls are not
// counted. Reports throughput and latency percentiles, and errors by gRPC status.
//
// Used by `simile-bench` (client/bench/main.cc) against simile and against the transport floor
// (bench/transport_floor_server.cc), so that the two are measured by the same code.
//
// Thread safety: RunLoad is called from one thread and runs its own worker threads.
#ifndef SIMILE_CLIENT_BENCH_LOAD_GENERATOR_H_
#define SIMILE_CLIENT_BENCH_LOAD_GENERATOR_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/cosine_types.h"

namespace simile::client {

struct LoadConfig {
  std::string address = "127.0.0.1:50051";
  int concurrency = 1;  // Closed-loop workers.
  int channels = 1;     // Connections the workers share (worker i uses channel i % channels).
  // Request shape.
  uint32_t q = 1;
  uint32_t n = 10000;
  uint32_t dim = 768;
  uint32_t top_k = 0;
  Encoding encoding = Encoding::kRaw;
  Placement placement = Placement::kAuto;
  // How long to measure, or how many requests (whichever ends first; 0 requests = no count limit).
  absl::Duration duration = absl::Seconds(10);
  uint64_t requests = 0;
  absl::Duration warmup = absl::Seconds(1);
  absl::Duration call_deadline = absl::Seconds(30);
  uint64_t seed = 1;
  // Non-empty: upload the n x dim targets once as a target set of this name (replacing one of the same name)
  // and send requests that name it instead of carrying targets; the set is deleted at the end.
  std::string target_set;
};

struct LoadReport {
  uint64_t ok = 0;
  std::map<std::string, uint64_t> errors;  // gRPC status code name -> count.
  absl::Duration elapsed;
  double qps = 0;          // Successful requests per second.
  double targets_per_s = 0;  // ok * n / elapsed.
  // Latency of successful calls, in microseconds.
  double p50_us = 0, p90_us = 0, p99_us = 0, max_us = 0, mean_us = 0;
  uint64_t request_bytes = 0;  // Serialized size of the request sent.
};

// Called about once a second while measuring, with the calls done so far and the time elapsed.
using ProgressFn = std::function<void(uint64_t ok, uint64_t errors, absl::Duration elapsed)>;

// Runs the load. Errors: INVALID_ARGUMENT for a bad configuration; UNAVAILABLE if no channel connects.
[[nodiscard]] absl::StatusOr<LoadReport> RunLoad(const LoadConfig& config, const ProgressFn& progress);

}  // namespace simile::client

#endif  // SIMILE_CLIENT_BENCH_LOAD_GENERATOR_H_
