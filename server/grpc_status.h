// The one place where an absl::Status from core/ becomes a grpc::Status (codes map one to one; the
// message is passed through unchanged, since core's messages already name the field and the
// problem).
#ifndef SIMILE_SERVER_GRPC_STATUS_H_
#define SIMILE_SERVER_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace simile::server {

[[nodiscard]] grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace simile::server

#endif  // SIMILE_SERVER_GRPC_STATUS_H_
