// simile-bench: closed-loop load generator for simile.v1.Similarity (see client/bench/load_generator.h).
// Prints progress every second on stderr and a report at the end; --json prints the report as one JSON line.
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "client/bench/load_generator.h"

ABSL_FLAG(std::string, address, "127.0.0.1:50051", "Server address (host:port).");
ABSL_FLAG(int, concurrency, 1, "Closed-loop workers, each with one call outstanding.");
ABSL_FLAG(int, channels, 1, "gRPC connections shared by the workers.");
ABSL_FLAG(uint32_t, q, 1, "Query rows per request.");
ABSL_FLAG(uint32_t, n, 10000, "Target rows per request.");
ABSL_FLAG(uint32_t, dim, 768, "Vector dimension.");
ABSL_FLAG(uint32_t, top_k, 0, "0: full score matrix; k: each query's k best targets.");
ABSL_FLAG(std::string, encoding, "raw", "Request encoding: raw or values.");
ABSL_FLAG(std::string, placement, "auto", "auto, cpu or gpu.");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "How long to measure (after the warm-up).");
ABSL_FLAG(uint64_t, requests, 0, "Stop after this many measured requests (0: no limit; --duration still applies).");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(1), "Warm-up before measuring (calls not counted).");
ABSL_FLAG(absl::Duration, deadline, absl::Seconds(30), "Deadline of each call.");
ABSL_FLAG(std::string, target_set, "",
          "If set, upload the --n x --dim targets once as a target set of this name and query it by name "
          "(requests then carry only the queries); the set is deleted at the end.");
ABSL_FLAG(bool, json, false, "Print the report as one JSON object on stdout.");

namespace {

using simile::client::LoadConfig;
using simile::client::LoadReport;

int Usage(const std::string& message) {
  std::fprintf(stderr, "simile-bench: %s (see --help)\n", message.c_str());
  return 2;
}

void PrintReport(const LoadConfig& c, const LoadReport& r, bool json) {
  std::string errors;
  uint64_t error_total = 0;
  for (const auto& [code, count] : r.errors) {
    absl::StrAppendFormat(&errors, "%s\"%s\":%d", errors.empty() ? "" : ",", code, count);
    error_total += count;
  }
  if (json) {
    absl::PrintF(
        "{\"address\":\"%s\",\"concurrency\":%d,\"q\":%d,\"n\":%d,\"dim\":%d,\"top_k\":%d,\"request_bytes\":%d,"
        "\"seconds\":%.3f,\"ok\":%d,\"errors\":{%s},\"qps\":%.2f,\"targets_per_s\":%.0f,\"mean_us\":%.1f,"
        "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}\n",
        c.address, c.concurrency, c.q, c.n, c.dim, c.top_k, r.request_bytes, absl::ToDoubleSeconds(r.elapsed),
        r.ok, errors, r.qps, r.targets_per_s, r.mean_us, r.p50_us, r.p90_us, r.p99_us, r.max_us);
    return;
  }
  absl::PrintF("target       %s  (Q=%d N=%d D=%d top_k=%d, %d-byte requests, concurrency %d)\n", c.address,
               c.q, c.n, c.dim, c.top_k, r.request_bytes, c.concurrency);
  absl::PrintF("requests     %d ok, %d failed in %.2f s\n", r.ok, error_total, absl::ToDoubleSeconds(r.elapsed));
  absl::PrintF("throughput   %.1f req/s, %.3g targets/s\n", r.qps, r.targets_per_s);
  absl::PrintF("latency us   mean %.0f  p50 %.0f  p90 %.0f  p99 %.0f  max %.0f\n", r.mean_us, r.p50_us,
               r.p90_us, r.p99_us, r.max_us);
  if (!errors.empty()) absl::PrintF("errors       {%s}\n", errors);
}

}  // namespace

int main(int argc, char** argv) {
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = [](absl::string_view path) { return absl::StrContains(path, "bench/"); };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage(
      "closed-loop load generator for simile.v1.Similarity: sends one prebuilt request of the given shape\n"
      "from --concurrency workers for --duration (or --requests), after --warmup, and reports throughput,\n"
      "latency percentiles and errors by gRPC status.\n"
      "Usage: simile-bench --address=HOST:PORT [--concurrency=8] [--q=1 --n=10000 --dim=768] [--json]");
  absl::ParseCommandLine(argc, argv);
  LoadConfig c;
  c.target_set = absl::GetFlag(FLAGS_target_set);
  c.address = absl::GetFlag(FLAGS_address);
  c.concurrency = absl::GetFlag(FLAGS_concurrency);
  c.channels = absl::GetFlag(FLAGS_channels);
  c.q = absl::GetFlag(FLAGS_q);
  c.n = absl::GetFlag(FLAGS_n);
  c.dim = absl::GetFlag(FLAGS_dim);
  c.top_k = absl::GetFlag(FLAGS_top_k);
  c.duration = absl::GetFlag(FLAGS_duration);
  c.requests = absl::GetFlag(FLAGS_requests);
  c.warmup = absl::GetFlag(FLAGS_warmup);
  c.call_deadline = absl::GetFlag(FLAGS_deadline);
  absl::StatusOr<simile::client::Encoding> encoding =
      simile::client::ParseEncoding(absl::GetFlag(FLAGS_encoding));
  if (!encoding.ok()) return Usage(std::string(encoding.status().message()));
  c.encoding = *encoding;
  absl::StatusOr<simile::client::Placement> placement =
      simile::client::ParsePlacement(absl::GetFlag(FLAGS_placement));
  if (!placement.ok()) return Usage(std::string(placement.status().message()));
  c.placement = *placement;

  const bool json = absl::GetFlag(FLAGS_json);
  absl::StatusOr<LoadReport> report =
      simile::client::RunLoad(c, [](uint64_t ok, uint64_t errors, absl::Duration elapsed) {
        std::fprintf(stderr, "simile-bench: %.0f s: %llu ok, %llu failed\n", absl::ToDoubleSeconds(elapsed),
                     static_cast<unsigned long long>(ok), static_cast<unsigned long long>(errors));
      });
  if (!report.ok()) {
    std::fprintf(stderr, "simile-bench: %s\n", report.status().ToString().c_str());
    return 1;
  }
  PrintReport(c, *report, json);
  return report->errors.empty() ? 0 : 1;
}
