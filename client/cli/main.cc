// simile: the command-line client of the simile service. Subcommands `cosine`, `sets`, `health` and `status`;
// see kUsage.
#include <string>
#include <vector>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "client/cli/cosine_command.h"
#include "client/cli/exit_codes.h"
#include "client/cli/health_command.h"
#include "client/cli/sets_command.h"
#include "client/cli/status_command.h"

namespace {

constexpr absl::string_view kUsage = R"(client of the simile batch cosine-similarity service.

Usage:
  simile cosine [--address=HOST:PORT] [--queries=Q.npy | --q=Q] [--targets=T.npy | --n=N] [--dim=D]
                [--seed=S] [--top_k=K] [--placement=auto|cpu|gpu] [--encoding=raw|values]
                [--out=SCORES.npy] [--out_indices=INDICES.npy] [--deadline_ms=MS]
                [--check [--check_tolerance=1e-5]] [--target_set=NAME]
  simile sets list | describe NAME | delete NAME
  simile sets upload NAME [--targets=T.npy | --n=N --dim=D --seed=S] [--append] [--chunk_rows=R]
  simile health [--address=HOST:PORT] [--service=NAME] [--deadline_ms=MS]
  simile status [--address=HOST:PORT] [--deadline_ms=MS]
Every subcommand also takes [--tls] [--tls_ca=CA.pem] [--tls_cert=CLIENT.pem --tls_key=CLIENT.key]
[--tls_server_name=NAME] to connect over TLS or mutual TLS.

cosine  scores every query against every target with one Cosine call and prints the shape, the server's
        execution report (backend, dispatch rule, chunks, fallback), server compute time and client round
        trip. Queries and targets come from .npy files ('<f4' or '<f8', C order) or are drawn at random
        (uniform in [-1, 1)) with the shape flags. --out writes the scores as float32 .npy: Q x N, or with
        --top_k=K the Q x K best scores, best first; --out_indices writes the matching Q x K int64 target
        indices. --check recomputes every score in float64 and fails if the max abs error exceeds
        --check_tolerance or a top-k list is wrong. --target_set=NAME scores against a set stored on the
        server instead of sending targets; the target flags then only say what the set holds, for --check.
sets    manages the server's target sets (uploaded once, queried many times; kept in host memory and, once
        a request runs there, in GPU memory): list them, describe or delete one, or upload one from a .npy
        file or random rows (--append adds rows as its next version). Sets are not persistent.
health  asks grpc.health.v1.Health/Check and prints SERVING, NOT_SERVING, UNKNOWN or SERVICE_UNKNOWN.
status  asks simile.v1.Admin/GetStatus and prints it as JSON: configuration in force, GPU and VRAM, circuit
        breaker, measured latency per backend and size class, decision and fallback counts.

Exit status: 0 on success (health: only SERVING); 1 when the call fails (the gRPC status code name and
message go to stderr), an input file is refused, --check fails, or health is not SERVING; 2 on a usage
error.

Examples:
  simile health
  simile cosine --q=4 --n=1000 --dim=768 --check
  simile cosine --queries=q.npy --targets=t.npy --top_k=10 --out=best.npy --out_indices=best_idx.npy
  simile sets upload docs --targets=t.npy && simile cosine --target_set=docs --q=1 --dim=768 --top_k=10)";

}  // namespace

int main(int argc, char** argv) {
  absl::FlagsUsageConfig config;
  // --help lists the flags defined under client/cli/ (not only those of a file named like the
  // program).
  config.contains_help_flags = [](absl::string_view path) {
    return absl::StrContains(path, "client/cli/");
  };
  config.contains_helpshort_flags = config.contains_help_flags;
  absl::SetFlagsUsageConfig(config);
  absl::SetProgramUsageMessage(kUsage);
  const std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() < 2) return simile::cli::UsageError("expected a subcommand: cosine, sets, health or status");
  const absl::string_view command = positional[1];
  if (command == "sets") {
    return simile::cli::RunSets(std::vector<absl::string_view>(positional.begin() + 2, positional.end()));
  }
  if (positional.size() != 2) return simile::cli::UsageError("expected exactly one subcommand");
  if (command == "cosine") {
    return simile::cli::RunCosine();
  }
  if (command == "health") {
    return simile::cli::RunHealth();
  }
  if (command == "status") {
    return simile::cli::RunStatus();
  }
  return simile::cli::UsageError(
      absl::StrCat("unknown subcommand '", command, "': expected cosine, sets, health or status"));
}
