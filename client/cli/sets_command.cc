#include "client/cli/sets_command.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "client/cli/exit_codes.h"
#include "client/cli/flags.h"
#include "client/cli/inputs.h"
#include "client/simile_client.h"

namespace simile::cli {
namespace {

void PrintInfo(const v1::TargetSetInfo& info) {
  absl::PrintF("%s: version %d, %d rows x dim %d, %d bytes, resident on %s\n", info.name(), info.version(),
               info.rows(), info.dim(), info.bytes(), absl::StrJoin(info.resident_on(), ", "));
}

std::optional<absl::Duration> Deadline() {
  const int64_t ms = absl::GetFlag(FLAGS_deadline_ms);
  return ms == 0 ? absl::InfiniteDuration() : absl::Milliseconds(ms);
}

int Upload(const client::SimileClient& simile, absl::string_view name) {
  absl::StatusOr<Inputs> inputs = LoadInputs();  // Only the targets are used.
  if (!inputs.ok()) return ReportError("sets upload", inputs.status());
  const client::NpyMatrix& t = inputs->targets;
  if (t.rows == 0) return UsageError("sets upload: no rows (give --targets=T.npy or --n >= 1)");
  const uint32_t chunk_rows = absl::GetFlag(FLAGS_chunk_rows);
  if (chunk_rows == 0) return UsageError("--chunk_rows must be >= 1");
  absl::StatusOr<v1::TargetSetInfo> info =
      simile.UploadTargetSet(name, t.data, static_cast<uint32_t>(t.rows), static_cast<uint32_t>(t.cols),
                             absl::GetFlag(FLAGS_append), chunk_rows, Deadline());
  if (!info.ok()) return ReportError("sets upload", info.status());
  absl::PrintF("%s %d rows from %s\n", absl::GetFlag(FLAGS_append) ? "appended" : "uploaded", t.rows,
               inputs->source.substr(inputs->source.find(", ") + 2));
  PrintInfo(*info);
  return kExitOk;
}

}  // namespace

int RunSets(const std::vector<absl::string_view>& args) {
  if (args.empty()) return UsageError("sets: expected list, describe NAME, delete NAME or upload NAME");
  if (absl::GetFlag(FLAGS_deadline_ms) < 0) return UsageError("--deadline_ms must be >= 0");
  const absl::string_view verb = args[0];
  const bool named = verb == "describe" || verb == "delete" || verb == "upload";
  if (verb != "list" && !named) {
    return UsageError(absl::StrCat("sets: unknown command '", verb, "': expected list, describe, delete or upload"));
  }
  if (args.size() != (named ? 2u : 1u)) {
    return UsageError(named ? absl::StrCat("sets ", verb, ": expected exactly one set name")
                            : "sets list: takes no arguments");
  }
  absl::StatusOr<std::unique_ptr<client::SimileClient>> simile =
      client::SimileClient::Create(absl::GetFlag(FLAGS_address), ClientOptionsFromFlags());
  if (!simile.ok()) return ReportError("sets", simile.status());
  if (verb == "list") {
    absl::StatusOr<v1::ListTargetSetsResponse> list = (*simile)->ListTargetSets(Deadline());
    if (!list.ok()) return ReportError("sets list", list.status());
    for (const v1::TargetSetInfo& info : list->sets()) PrintInfo(info);
    absl::PrintF("%d sets, %d of %d bytes of host memory; %s\n", list->sets_size(), list->total_bytes(),
                 list->max_bytes(), list->persistent() ? "persistent" : "not persistent (a restart empties them)");
    return kExitOk;
  }
  const absl::string_view name = args[1];
  if (verb == "describe") {
    absl::StatusOr<v1::TargetSetInfo> info = (*simile)->DescribeTargetSet(name, Deadline());
    if (!info.ok()) return ReportError("sets describe", info.status());
    PrintInfo(*info);
    return kExitOk;
  }
  if (verb == "delete") {
    if (absl::Status s = (*simile)->DeleteTargetSet(name, Deadline()); !s.ok()) {
      return ReportError("sets delete", s);
    }
    absl::PrintF("deleted %s\n", name);
    return kExitOk;
  }
  return Upload(**simile, name);
}

}  // namespace simile::cli
