// The query and target matrices of `simile cosine`: each read from its .npy flag, or drawn at
// random from the shape flags (--q / --n rows of --dim, or of the file's dim when the other matrix
// comes from a file).
//
// Thread safety: reads flags; call after absl::ParseCommandLine.
#ifndef SIMILE_CLIENT_CLI_INPUTS_H_
#define SIMILE_CLIENT_CLI_INPUTS_H_

#include <string>

#include "absl/status/statusor.h"
#include "client/npy.h"

namespace simile::cli {

struct Inputs {
  client::NpyMatrix queries;
  client::NpyMatrix targets;
  std::string source;  // For the summary, e.g. "random, seed 1" or "q.npy, t.npy".
};

// INVALID_ARGUMENT when the two matrices' dims differ; a file's read error otherwise.
[[nodiscard]] absl::StatusOr<Inputs> LoadInputs();

}  // namespace simile::cli

#endif  // SIMILE_CLIENT_CLI_INPUTS_H_
