// Exit codes of `simile` and the one function that reports a failed status.
//
// Thread safety: ReportError writes to stderr; call it from one thread at a time.
#ifndef SIMILE_CLIENT_CLI_EXIT_CODES_H_
#define SIMILE_CLIENT_CLI_EXIT_CODES_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace simile::cli {

inline constexpr int kExitOk = 0;
// The call failed (status printed), an input file was refused, --check failed, or health is not
// SERVING.
inline constexpr int kExitFailure = 1;
// The command line is wrong: no or unknown subcommand, bad flag values.
inline constexpr int kExitUsage = 2;

// Prints "simile <context>: <CODE_NAME>: <message>" to stderr and returns kExitFailure.
int ReportError(absl::string_view context, const absl::Status& status);

// Prints "simile: <message>" and a hint to run --help to stderr and returns kExitUsage.
int UsageError(absl::string_view message);

}  // namespace simile::cli

#endif  // SIMILE_CLIENT_CLI_EXIT_CODES_H_
