#include "client/cli/health_command.h"

#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "client/cli/exit_codes.h"
#include "client/cli/flags.h"
#include "client/simile_client.h"

namespace simile::cli {

int RunHealth() {
  const int64_t ms = absl::GetFlag(FLAGS_deadline_ms);
  if (ms < 0) {
    return UsageError("--deadline_ms must be >= 0");
  }
  absl::StatusOr<std::unique_ptr<client::SimileClient>> simile =
      client::SimileClient::Create(absl::GetFlag(FLAGS_address), ClientOptionsFromFlags());
  if (!simile.ok()) {
    return ReportError("health", simile.status());
  }
  absl::StatusOr<client::ServingStatus> status = (*simile)->Health(
      absl::GetFlag(FLAGS_service), ms == 0 ? absl::InfiniteDuration() : absl::Milliseconds(ms));
  if (!status.ok()) {
    return ReportError("health", status.status());
  }
  absl::PrintF("%s\n", client::ServingStatusName(*status));
  return *status == client::ServingStatus::kServing ? kExitOk : kExitFailure;
}

}  // namespace simile::cli
