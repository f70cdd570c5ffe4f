// The command-line flags of `simile` (defined in flags.cc), shared by its subcommands.
//
// Thread safety: absl flags; read them with absl::GetFlag after absl::ParseCommandLine.
#ifndef SIMILE_CLIENT_CLI_FLAGS_H_
#define SIMILE_CLIENT_CLI_FLAGS_H_

#include <cstdint>
#include <string>

#include "absl/flags/declare.h"
#include "client/simile_client.h"

// Both subcommands.
ABSL_DECLARE_FLAG(std::string, address);
ABSL_DECLARE_FLAG(int64_t, deadline_ms);
ABSL_DECLARE_FLAG(bool, tls);
ABSL_DECLARE_FLAG(std::string, tls_ca);
ABSL_DECLARE_FLAG(std::string, tls_cert);
ABSL_DECLARE_FLAG(std::string, tls_key);
ABSL_DECLARE_FLAG(std::string, tls_server_name);

// cosine: inputs.
ABSL_DECLARE_FLAG(std::string, queries);
ABSL_DECLARE_FLAG(std::string, targets);
ABSL_DECLARE_FLAG(uint32_t, q);
ABSL_DECLARE_FLAG(uint32_t, n);
ABSL_DECLARE_FLAG(uint32_t, dim);
ABSL_DECLARE_FLAG(uint64_t, seed);

// cosine: the request.
ABSL_DECLARE_FLAG(uint32_t, top_k);
ABSL_DECLARE_FLAG(std::string, placement);
ABSL_DECLARE_FLAG(std::string, encoding);

// cosine: outputs and checking.
ABSL_DECLARE_FLAG(std::string, out);
ABSL_DECLARE_FLAG(std::string, out_indices);
ABSL_DECLARE_FLAG(bool, check);
ABSL_DECLARE_FLAG(double, check_tolerance);

// health.
ABSL_DECLARE_FLAG(std::string, service);

ABSL_DECLARE_FLAG(std::string, target_set);
ABSL_DECLARE_FLAG(bool, append);
ABSL_DECLARE_FLAG(uint32_t, chunk_rows);

namespace simile::cli {

// Client options from the flags every subcommand shares (TLS).
[[nodiscard]] client::ClientOptions ClientOptionsFromFlags();

}  // namespace simile::cli

#endif  // SIMILE_CLIENT_CLI_FLAGS_H_
