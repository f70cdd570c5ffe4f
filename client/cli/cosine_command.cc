#include "client/cli/cosine_command.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "client/cli/exit_codes.h"
#include "client/cli/flags.h"
#include "client/cli/inputs.h"
#include "client/cli/summary.h"
#include "client/npy.h"
#include "client/reference_check.h"
#include "client/simile_client.h"

namespace simile::cli {

namespace {

std::optional<absl::Duration> DeadlineFlag() {
  const int64_t ms = absl::GetFlag(FLAGS_deadline_ms);
  return ms == 0 ? absl::InfiniteDuration() : absl::Milliseconds(ms);
}

// Writes --out (and --out_indices for top-k); returns the exit code.
int WriteOutputs(const client::CosineResult& result) {
  const std::string out = absl::GetFlag(FLAGS_out);
  const std::string out_indices = absl::GetFlag(FLAGS_out_indices);
  const size_t rows = result.num_queries;
  if (!out.empty()) {
    const bool full = result.top_k == 0;
    const size_t cols = full ? result.num_targets : result.top_k;
    if (absl::Status s =
            client::WriteNpy(out, full ? result.scores : result.top_scores, rows, cols);
        !s.ok()) {
      return ReportError("cosine", s);
    }
    absl::PrintF("wrote %s: %d x %d float32 %s\n", out, rows, cols,
                 full ? "scores" : "top-k scores");
  }
  if (!out_indices.empty()) {
    const std::vector<int64_t> indices(result.top_indices.begin(), result.top_indices.end());
    if (absl::Status s = client::WriteNpy(out_indices, indices, rows, result.top_k); !s.ok()) {
      return ReportError("cosine", s);
    }
    absl::PrintF("wrote %s: %d x %d int64 target indices\n", out_indices, rows, result.top_k);
  }
  return kExitOk;
}

}  // namespace

int RunCosine() {
  absl::StatusOr<client::Placement> placement =
      client::ParsePlacement(absl::GetFlag(FLAGS_placement));
  absl::StatusOr<client::Encoding> encoding = client::ParseEncoding(absl::GetFlag(FLAGS_encoding));
  if (!placement.ok() || !encoding.ok()) {
    return UsageError((placement.ok() ? encoding.status() : placement.status()).message());
  }
  if (absl::GetFlag(FLAGS_deadline_ms) < 0) {
    return UsageError("--deadline_ms must be >= 0");
  }
  if (!absl::GetFlag(FLAGS_out_indices).empty() && absl::GetFlag(FLAGS_top_k) == 0) {
    return UsageError("--out_indices needs --top_k >= 1");
  }
  absl::StatusOr<Inputs> inputs = LoadInputs();
  if (!inputs.ok()) {
    return ReportError("cosine", inputs.status());
  }
  absl::StatusOr<std::unique_ptr<client::SimileClient>> simile =
      client::SimileClient::Create(absl::GetFlag(FLAGS_address), ClientOptionsFromFlags());
  if (!simile.ok()) {
    return ReportError("cosine", simile.status());
  }
  client::CosineArgs args;
  args.queries = inputs->queries.data;
  args.q = static_cast<uint32_t>(inputs->queries.rows);  // ReadNpy keeps shapes below 2^32.
  // A target set stays on the server: the request carries none, and the local targets serve --check only.
  args.target_set = absl::GetFlag(FLAGS_target_set);
  if (args.target_set.empty()) {
    args.targets = inputs->targets.data;
    args.n = static_cast<uint32_t>(inputs->targets.rows);
  }
  args.dim = static_cast<uint32_t>(inputs->queries.cols);
  args.top_k = absl::GetFlag(FLAGS_top_k);
  args.placement = *placement;
  args.encoding = *encoding;
  args.deadline = DeadlineFlag();
  absl::StatusOr<client::CosineResult> result = (*simile)->Cosine(args);
  if (!result.ok()) {
    return ReportError("cosine", result.status());
  }
  absl::PrintF("inputs: %s\n", inputs->source);
  PrintSummary(args, *result);
  if (int code = WriteOutputs(*result); code != kExitOk) {
    return code;
  }
  if (absl::GetFlag(FLAGS_check)) {
    const double tolerance = absl::GetFlag(FLAGS_check_tolerance);
    client::CosineArgs reference = args;  // With a target set: the local copy of what it holds.
    reference.targets = inputs->targets.data;
    reference.n = static_cast<uint32_t>(inputs->targets.rows);
    if (reference.n != result->num_targets) {
      absl::FPrintF(stderr, "simile cosine: check failed: the server scored %d targets, the local targets have %d\n",
                    result->num_targets, reference.n);
      return kExitFailure;
    }
    const client::CheckOutcome outcome = client::CheckCosineResult(reference, *result, tolerance);
    absl::PrintF("check: max abs error %.3g vs float64 reference (tolerance %.3g): %s\n",
                 outcome.max_abs_error, tolerance, outcome.ok() ? "OK" : "FAILED");
    if (!outcome.ok()) {
      absl::FPrintF(stderr, "simile cosine: check failed: %s\n", outcome.problem);
      return kExitFailure;
    }
  }
  return kExitOk;
}

}  // namespace simile::cli
