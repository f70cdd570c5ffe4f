#include "client/cli/status_command.h"

#include <memory>
#include <string>

#include <google/protobuf/util/json_util.h>

#include "absl/flags/flag.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "client/cli/exit_codes.h"
#include "client/cli/flags.h"
#include "client/simile_client.h"

namespace simile::cli {

int RunStatus() {
  const int64_t ms = absl::GetFlag(FLAGS_deadline_ms);
  if (ms < 0) return UsageError("--deadline_ms must be >= 0");
  absl::StatusOr<std::unique_ptr<client::SimileClient>> simile =
      client::SimileClient::Create(absl::GetFlag(FLAGS_address), ClientOptionsFromFlags());
  if (!simile.ok()) return ReportError("status", simile.status());
  absl::StatusOr<v1::ServerStatus> status =
      (*simile)->GetStatus(ms == 0 ? absl::InfiniteDuration() : absl::Milliseconds(ms));
  if (!status.ok()) return ReportError("status", status.status());
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(*status, &json, options).ok()) {
    return ReportError("status", absl::InternalError("cannot print the status as JSON"));
  }
  absl::PrintF("%s", json);
  return kExitOk;
}

}  // namespace simile::cli
