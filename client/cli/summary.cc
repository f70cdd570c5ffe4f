#include "client/cli/summary.h"

#include <algorithm>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace simile::cli {

namespace {

// "BACKEND_CPU" -> "CPU": the enum's own name without its prefix.
absl::string_view Short(const std::string& name, absl::string_view prefix) {
  absl::string_view view(name);
  if (absl::StartsWith(view, prefix)) {
    view.remove_prefix(prefix.size());
  }
  return view;
}

double Milliseconds(uint64_t nanoseconds) { return static_cast<double>(nanoseconds) / 1e6; }

}  // namespace

void PrintSummary(const client::CosineArgs& args, const client::CosineResult& result) {
  const v1::ExecutionReport& r = result.report;
  absl::PrintF("cosine: Q=%d N=%d dim=%d top_k=%d placement=%s encoding=%s\n", args.q, result.num_targets,
               args.dim, args.top_k, client::PlacementName(args.placement),
               client::EncodingName(args.encoding));
  absl::PrintF(
      "report: backend=%s rule=%s chunks=%d (gpu %d, cpu %d) chunk_retries=%d fallback=%s%s\n",
      Short(v1::Backend_Name(r.backend()), "BACKEND_"),
      Short(v1::DispatchRule_Name(r.rule()), "DISPATCH_RULE_"), r.chunks(), r.gpu_chunks(),
      r.cpu_chunks(), r.chunk_retries(),
      Short(v1::FallbackReason_Name(r.fallback()), "FALLBACK_REASON_"),
      r.fallback_detail().empty() ? "" : absl::StrFormat(" (%s)", r.fallback_detail()));
  if (!r.target_set().empty()) {
    absl::PrintF("target set: %s version %d, %s\n", r.target_set(), r.target_set_version(),
                 r.target_set_uploaded() ? "uploaded to the GPU by this request"
                 : r.targets_resident()  ? "already resident (no target bytes moved)"
                                         : "streamed to the GPU");
  }
  absl::PrintF(
      "time: server compute %.3f ms, server queue %.3f ms, client round trip %.3f ms (first call: "
      "includes connecting)\n",
      Milliseconds(r.compute_time_ns()), Milliseconds(r.queue_time_ns()),
      absl::ToDoubleMilliseconds(result.latency));
  if (result.top_k > 0) {
    absl::PrintF("query 0 best:");
    for (size_t j = 0; j < std::min<size_t>(result.top_k, 5); ++j) {
      absl::PrintF(" %d (%.6f)", result.top_indices[j], result.top_scores[j]);
    }
    absl::PrintF("%s\n", result.top_k > 5 ? " ..." : "");
  }
}

}  // namespace simile::cli
