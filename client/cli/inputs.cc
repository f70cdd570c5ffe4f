#include "client/cli/inputs.h"

#include <cstdint>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "client/cli/flags.h"
#include "client/random_matrix.h"

namespace simile::cli {

namespace {

client::NpyMatrix Random(size_t rows, size_t dim, uint64_t seed) {
  return client::NpyMatrix{rows, dim, client::RandomMatrix(rows, dim, seed)};
}

}  // namespace

absl::StatusOr<Inputs> LoadInputs() {
  const std::string queries_path = absl::GetFlag(FLAGS_queries);
  const std::string targets_path = absl::GetFlag(FLAGS_targets);
  const uint64_t seed = absl::GetFlag(FLAGS_seed);
  Inputs inputs;
  if (!queries_path.empty()) {
    absl::StatusOr<client::NpyMatrix> m = client::ReadNpy(queries_path);
    if (!m.ok()) {
      return m.status();
    }
    inputs.queries = *std::move(m);
  }
  if (!targets_path.empty()) {
    absl::StatusOr<client::NpyMatrix> m = client::ReadNpy(targets_path);
    if (!m.ok()) {
      return m.status();
    }
    inputs.targets = *std::move(m);
  }
  // Random matrices take the dim of a file if there is one, so that a file can be scored against
  // noise.
  size_t dim = absl::GetFlag(FLAGS_dim);
  if (!queries_path.empty()) {
    dim = inputs.queries.cols;
  } else if (!targets_path.empty()) {
    dim = inputs.targets.cols;
  }
  if (queries_path.empty()) {
    inputs.queries = Random(absl::GetFlag(FLAGS_q), dim, seed);
  }
  if (targets_path.empty()) {
    inputs.targets = Random(absl::GetFlag(FLAGS_n), dim, seed + 1);
  }
  if (inputs.queries.cols != inputs.targets.cols) {
    return absl::InvalidArgumentError(absl::StrCat("queries have dim ", inputs.queries.cols,
                                                   " but targets have dim ", inputs.targets.cols));
  }
  inputs.source = absl::StrCat(
      queries_path.empty() ? absl::StrCat("random queries (seed ", seed, ")") : queries_path, ", ",
      targets_path.empty() ? absl::StrCat("random targets (seed ", seed + 1, ")") : targets_path);
  return inputs;
}

}  // namespace simile::cli
