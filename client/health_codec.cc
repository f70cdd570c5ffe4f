#include "client/health_codec.h"

#include <google/protobuf/unknown_field_set.h>

#include <cstdint>
#include <limits>

#include "absl/status/status.h"

namespace simile::client {

namespace {

using google::protobuf::UnknownField;
using google::protobuf::UnknownFieldSet;

constexpr int kServiceField = 1;  // HealthCheckRequest.service
constexpr int kStatusField = 1;   // HealthCheckResponse.status

}  // namespace

absl::string_view ServingStatusName(ServingStatus status) {
  switch (status) {
    case ServingStatus::kUnknown:
      return "UNKNOWN";
    case ServingStatus::kServing:
      return "SERVING";
    case ServingStatus::kNotServing:
      return "NOT_SERVING";
    case ServingStatus::kServiceUnknown:
      return "SERVICE_UNKNOWN";
  }
  return "UNKNOWN";
}

std::string EncodeHealthCheckRequest(absl::string_view service) {
  std::string bytes;
  if (service.empty()) {
    return bytes;  // proto3 omits a field holding its default.
  }
  UnknownFieldSet fields;
  fields.AddLengthDelimited(kServiceField)->assign(service.data(), service.size());
  fields.SerializeToString(&bytes);
  return bytes;
}

absl::StatusOr<ServingStatus> DecodeHealthCheckResponse(absl::string_view bytes) {
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return absl::InternalError("grpc.health.v1.HealthCheckResponse is over 2 GiB");
  }
  UnknownFieldSet fields;
  if (!fields.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InternalError("malformed grpc.health.v1.HealthCheckResponse");
  }
  uint64_t status = 0;  // Last occurrence wins, as in any protobuf parser.
  for (int i = 0; i < fields.field_count(); ++i) {
    const UnknownField& field = fields.field(i);
    if (field.number() != kStatusField) {
      continue;
    }
    if (field.type() != UnknownField::TYPE_VARINT) {
      return absl::InternalError(
          "malformed grpc.health.v1.HealthCheckResponse: status is not a varint");
    }
    status = field.varint();
  }
  switch (status) {
    case 1:
      return ServingStatus::kServing;
    case 2:
      return ServingStatus::kNotServing;
    case 3:
      return ServingStatus::kServiceUnknown;
    default:
      return ServingStatus::kUnknown;
  }
}

}  // namespace simile::client
