// The wire format of grpc.health.v1.Health/Check, encoded and decoded by hand, because Debian ships
// no generated C++ for grpc/health/v1/health.proto. The two messages are tiny:
//
//   message HealthCheckRequest  { string service = 1; }
//   message HealthCheckResponse { ServingStatus status = 1; }   // enum: 0 UNKNOWN, 1 SERVING,
//                                                               //       2 NOT_SERVING, 3
//                                                               SERVICE_UNKNOWN
//
// Both directions go through protobuf's UnknownFieldSet, so varints, field skipping and malformed
// input are protobuf's own code, not ours. SimileClient::Health sends the bytes with
// grpc::GenericStub.
//
// Thread safety: pure functions.
#ifndef SIMILE_CLIENT_HEALTH_CODEC_H_
#define SIMILE_CLIENT_HEALTH_CODEC_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace simile::client {

// grpc.health.v1.HealthCheckResponse.ServingStatus.
enum class ServingStatus { kUnknown = 0, kServing = 1, kNotServing = 2, kServiceUnknown = 3 };

// The full method name the health Check RPC is called by.
inline constexpr char kHealthCheckMethod[] = "/grpc.health.v1.Health/Check";

// "UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN" (the proto's names).
[[nodiscard]] absl::string_view ServingStatusName(ServingStatus status);

// A serialized HealthCheckRequest; `service` "" asks about the server as a whole (and encodes to no
// bytes).
[[nodiscard]] std::string EncodeHealthCheckRequest(absl::string_view service);

// Parses a serialized HealthCheckResponse. A missing status field is UNKNOWN (proto3's default); a
// status number this client does not know also reads as UNKNOWN. Bytes that are not a protobuf
// message, or a status field of the wrong wire type, are INTERNAL.
[[nodiscard]] absl::StatusOr<ServingStatus> DecodeHealthCheckResponse(absl::string_view bytes);

}  // namespace simile::client

#endif  // SIMILE_CLIENT_HEALTH_CODEC_H_
