// Tests of client/health_codec.h against the wire format of grpc.health.v1 written out byte by
// byte.
#include "client/health_codec.h"

#include <catch2/catch.hpp>
#include <string>

namespace simile::client {
namespace {

TEST_CASE("health: the request is field 1, length-delimited, or nothing for the whole server",
          "[client][health]") {
  CHECK(EncodeHealthCheckRequest("").empty());
  CHECK(EncodeHealthCheckRequest("simile.v1.Similarity") ==
        std::string("\x0a\x14simile.v1.Similarity"));
  const std::string long_name(200, 'x');  // A two-byte length varint.
  CHECK(EncodeHealthCheckRequest(long_name) == std::string("\x0a\xc8\x01", 3) + long_name);
}

TEST_CASE("health: the response's status varint decodes to its name", "[client][health]") {
  CHECK(*DecodeHealthCheckResponse(std::string("\x08\x01", 2)) == ServingStatus::kServing);
  CHECK(*DecodeHealthCheckResponse(std::string("\x08\x02", 2)) == ServingStatus::kNotServing);
  CHECK(*DecodeHealthCheckResponse(std::string("\x08\x03", 2)) == ServingStatus::kServiceUnknown);
  CHECK(*DecodeHealthCheckResponse("") ==
        ServingStatus::kUnknown);  // proto3 omits the default, UNKNOWN.
  CHECK(*DecodeHealthCheckResponse(std::string("\x08\x07", 2)) == ServingStatus::kUnknown);
  CHECK(ServingStatusName(ServingStatus::kServing) == "SERVING");
  CHECK(ServingStatusName(ServingStatus::kNotServing) == "NOT_SERVING");
  CHECK(ServingStatusName(ServingStatus::kServiceUnknown) == "SERVICE_UNKNOWN");
  CHECK(ServingStatusName(ServingStatus::kUnknown) == "UNKNOWN");
}

TEST_CASE("health: unknown fields are skipped and the last status wins", "[client][health]") {
  // field 2 (string "ab"), status NOT_SERVING, field 3 (fixed32), status SERVING.
  const std::string bytes(
      "\x12\x02"
      "ab"
      "\x08\x02"
      "\x1d\x01\x02\x03\x04"
      "\x08\x01",
      13);
  CHECK(*DecodeHealthCheckResponse(bytes) == ServingStatus::kServing);
}

TEST_CASE("health: malformed responses are INTERNAL", "[client][health]") {
  absl::StatusOr<ServingStatus> truncated = DecodeHealthCheckResponse(std::string("\x08", 1));
  CHECK(truncated.status().code() == absl::StatusCode::kInternal);
  CHECK(std::string(truncated.status().message()) ==
        "malformed grpc.health.v1.HealthCheckResponse");
  absl::StatusOr<ServingStatus> wrong_type =
      DecodeHealthCheckResponse(std::string("\x0a\x01\x01", 3));
  CHECK(wrong_type.status().code() == absl::StatusCode::kInternal);
  CHECK(std::string(wrong_type.status().message()) ==
        "malformed grpc.health.v1.HealthCheckResponse: status is not a varint");
}

}  // namespace
}  // namespace simile::client
