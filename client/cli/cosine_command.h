// `simile cosine`: loads or draws the inputs, calls the service once, prints a summary, writes the
// requested .npy outputs, and with --check compares every score with a float64 reference computed
// here.
//
// Thread safety: reads flags and writes files and stdout/stderr; run once from main.
#ifndef SIMILE_CLIENT_CLI_COSINE_COMMAND_H_
#define SIMILE_CLIENT_CLI_COSINE_COMMAND_H_

namespace simile::cli {

// Returns the process exit code (client/cli/exit_codes.h).
int RunCosine();

}  // namespace simile::cli

#endif  // SIMILE_CLIENT_CLI_COSINE_COMMAND_H_
