#include "client/cli/flags.h"

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, address, "127.0.0.1:50051", "Server address, host:port (any gRPC target).");
ABSL_FLAG(int64_t, deadline_ms, 30000, "Deadline of the call in milliseconds; 0: no deadline.");
ABSL_FLAG(bool, tls, false,
          "Connect over TLS (implied by the other --tls_* flags); without --tls_ca the system's roots verify "
          "the server.");
ABSL_FLAG(std::string, tls_ca, "", "PEM CA bundle that the server's certificate must chain to (enables TLS).");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM client certificate for servers that require mutual TLS (with --tls_key; enables TLS).");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, tls_server_name, "",
          "Name to verify in the server's certificate instead of the host in --address (enables TLS).");

namespace simile::cli {

client::ClientOptions ClientOptionsFromFlags() {
  client::ClientOptions options;
  options.tls.enabled = absl::GetFlag(FLAGS_tls);
  options.tls.ca_path = absl::GetFlag(FLAGS_tls_ca);
  options.tls.cert_path = absl::GetFlag(FLAGS_tls_cert);
  options.tls.key_path = absl::GetFlag(FLAGS_tls_key);
  options.tls.server_name = absl::GetFlag(FLAGS_tls_server_name);
  return options;
}

}  // namespace simile::cli

ABSL_FLAG(
    std::string, queries, "",
    "cosine: .npy file of the queries, Q x dim ('<f4' or '<f8', C order; a 1-D file is one query). "
    "Empty: --q random rows.");
ABSL_FLAG(std::string, targets, "",
          "cosine: .npy file of the targets, N x dim (as --queries). Empty: --n random rows.");
ABSL_FLAG(uint32_t, q, 1, "cosine: number of random queries when --queries is not given.");
ABSL_FLAG(uint32_t, n, 1000, "cosine: number of random targets when --targets is not given.");
ABSL_FLAG(
    uint32_t, dim, 768,
    "cosine: dimension of random rows (ignored when a file is given: the file's dim is used).");
ABSL_FLAG(
    uint64_t, seed, 1,
    "cosine: seed of the random data (queries use seed, targets seed + 1; uniform in [-1, 1)).");

ABSL_FLAG(uint32_t, top_k, 0,
          "cosine: 0: the full Q x N score matrix; k >= 1: each query's k best targets.");
ABSL_FLAG(std::string, placement, "auto",
          "cosine: where the server runs the work: auto, cpu or gpu.");
ABSL_FLAG(
    std::string, encoding, "raw",
    "cosine: how the request carries floats: raw (little-endian bytes, the fast path) or values.");

ABSL_FLAG(
    std::string, out, "",
    "cosine: write the scores here as float32 .npy: Q x N, or Q x k best-first with --top_k.");
ABSL_FLAG(
    std::string, out_indices, "",
    "cosine with --top_k: write the target indices here as int64 .npy, Q x k, matching --out.");
ABSL_FLAG(bool, check, false,
          "cosine: recompute every score in float64 here and compare; exit 1 if the max abs error "
          "exceeds "
          "--check_tolerance (or a top-k list is wrong).");
ABSL_FLAG(double, check_tolerance, 1e-5, "cosine: the largest absolute error --check accepts.");

ABSL_FLAG(std::string, service, "",
          "health: the service to ask about; empty: the server as a whole.");

ABSL_FLAG(std::string, target_set, "",
          "cosine: score the queries against this server-side target set instead of sending targets; "
          "--targets or --n/--dim/--seed then describe the set's data for --check only.");
ABSL_FLAG(bool, append, false, "sets upload: append the rows to the existing set (its next version).");
ABSL_FLAG(uint32_t, chunk_rows, 1024,
          "sets upload: rows per streamed message (keep each under the server's 4 MiB default).");
