// The short human-readable summary `simile cosine` prints after a successful call: the shape, the
// server's execution report, server-side and client-side times, and a preview of the first query's
// best targets.
//
// Thread safety: writes to stdout; call from one thread at a time.
#ifndef SIMILE_CLIENT_CLI_SUMMARY_H_
#define SIMILE_CLIENT_CLI_SUMMARY_H_

#include "client/cosine_types.h"

namespace simile::cli {

void PrintSummary(const client::CosineArgs& args, const client::CosineResult& result);

}  // namespace simile::cli

#endif  // SIMILE_CLIENT_CLI_SUMMARY_H_
