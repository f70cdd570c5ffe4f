#include "client/cli/exit_codes.h"

#include "absl/strings/str_format.h"

namespace simile::cli {

int ReportError(absl::string_view context, const absl::Status& status) {
  absl::FPrintF(stderr, "simile %s: %s: %s\n", context, absl::StatusCodeToString(status.code()),
                status.message());
  return kExitFailure;
}

int UsageError(absl::string_view message) {
  absl::FPrintF(stderr, "simile: %s (see simile --help)\n", message);
  return kExitUsage;
}

}  // namespace simile::cli
