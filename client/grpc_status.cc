#include "client/grpc_status.h"

#include "absl/strings/str_cat.h"

namespace simile::client {

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) {
    return absl::OkStatus();
  }
  // absl::StatusCode and grpc::StatusCode share their numbering (both follow google.rpc.Code).
  static_assert(static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT) ==
                static_cast<int>(absl::StatusCode::kInvalidArgument));
  static_assert(static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED) ==
                static_cast<int>(absl::StatusCode::kResourceExhausted));
  static_assert(static_cast<int>(grpc::StatusCode::UNAUTHENTICATED) ==
                static_cast<int>(absl::StatusCode::kUnauthenticated));
  const int code = static_cast<int>(status.error_code());
  if (code <= 0 || code > static_cast<int>(absl::StatusCode::kUnauthenticated)) {
    return absl::UnknownError(
        absl::StrCat("gRPC status code ", code, ": ", status.error_message()));
  }
  return absl::Status(static_cast<absl::StatusCode>(code), status.error_message());
}

}  // namespace simile::client
