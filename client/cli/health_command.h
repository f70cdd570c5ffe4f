// `simile health`: one grpc.health.v1 Check; prints the serving status and succeeds only on
// SERVING.
//
// Thread safety: reads flags and writes stdout/stderr; run once from main.
#ifndef SIMILE_CLIENT_CLI_HEALTH_COMMAND_H_
#define SIMILE_CLIENT_CLI_HEALTH_COMMAND_H_

namespace simile::cli {

// Returns the process exit code (client/cli/exit_codes.h).
int RunHealth();

}  // namespace simile::cli

#endif  // SIMILE_CLIENT_CLI_HEALTH_COMMAND_H_
