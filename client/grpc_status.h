// The one place where a grpc::Status returned by a call becomes the absl::Status the client API
// returns. Codes map one to one (both follow google.rpc.Code); the message is kept unchanged, since
// the server's messages already name the field and the problem. Binary error details are dropped.
//
// Thread safety: a pure function.
#ifndef SIMILE_CLIENT_GRPC_STATUS_H_
#define SIMILE_CLIENT_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace simile::client {

// OK for grpc::Status::OK. A code outside google.rpc.Code's 0..16 (which gRPC never produces)
// becomes UNKNOWN with the original number in the message.
[[nodiscard]] absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace simile::client

#endif  // SIMILE_CLIENT_GRPC_STATUS_H_
