// `simile status`: simile.v1.Admin/GetStatus, printed as JSON (the same document as the server's HTTP
// /status page).
//
// Thread safety: reads flags and writes stdout/stderr; run once from main.
#ifndef SIMILE_CLIENT_CLI_STATUS_COMMAND_H_
#define SIMILE_CLIENT_CLI_STATUS_COMMAND_H_

namespace simile::cli {

// Returns the process exit code (client/cli/exit_codes.h).
int RunStatus();

}  // namespace simile::cli

#endif  // SIMILE_CLIENT_CLI_STATUS_COMMAND_H_
