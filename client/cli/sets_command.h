// `simile sets`: manage the server's target sets (simile.v1.TargetSets).
//
//   simile sets list
//   simile sets describe NAME
//   simile sets delete NAME
//   simile sets upload NAME [--targets=T.npy | --n=N --dim=D --seed=S] [--append] [--chunk_rows=R]
//
// Thread safety: reads flags and writes to stdout/stderr; call from main.
#ifndef SIMILE_CLIENT_CLI_SETS_COMMAND_H_
#define SIMILE_CLIENT_CLI_SETS_COMMAND_H_

#include <vector>

#include "absl/strings/string_view.h"

namespace simile::cli {

// `args`: the words after `sets`. Returns the exit code.
int RunSets(const std::vector<absl::string_view>& args);

}  // namespace simile::cli

#endif  // SIMILE_CLIENT_CLI_SETS_COMMAND_H_
