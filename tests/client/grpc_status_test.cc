// Tests of client/grpc_status.h: every gRPC code maps to the absl code of the same name, messages
// pass through unchanged.
#include "client/grpc_status.h"

#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

namespace simile::client {
namespace {

TEST_CASE("status: OK maps to OK", "[client][status]") {
  CHECK(FromGrpcStatus(grpc::Status::OK).ok());
}

TEST_CASE("status: every gRPC code maps to the absl code of the same name, message kept",
          "[client][status]") {
  const std::vector<std::pair<grpc::StatusCode, absl::StatusCode>> codes = {
      {grpc::StatusCode::CANCELLED, absl::StatusCode::kCancelled},
      {grpc::StatusCode::UNKNOWN, absl::StatusCode::kUnknown},
      {grpc::StatusCode::INVALID_ARGUMENT, absl::StatusCode::kInvalidArgument},
      {grpc::StatusCode::DEADLINE_EXCEEDED, absl::StatusCode::kDeadlineExceeded},
      {grpc::StatusCode::NOT_FOUND, absl::StatusCode::kNotFound},
      {grpc::StatusCode::ALREADY_EXISTS, absl::StatusCode::kAlreadyExists},
      {grpc::StatusCode::PERMISSION_DENIED, absl::StatusCode::kPermissionDenied},
      {grpc::StatusCode::RESOURCE_EXHAUSTED, absl::StatusCode::kResourceExhausted},
      {grpc::StatusCode::FAILED_PRECONDITION, absl::StatusCode::kFailedPrecondition},
      {grpc::StatusCode::ABORTED, absl::StatusCode::kAborted},
      {grpc::StatusCode::OUT_OF_RANGE, absl::StatusCode::kOutOfRange},
      {grpc::StatusCode::UNIMPLEMENTED, absl::StatusCode::kUnimplemented},
      {grpc::StatusCode::INTERNAL, absl::StatusCode::kInternal},
      {grpc::StatusCode::UNAVAILABLE, absl::StatusCode::kUnavailable},
      {grpc::StatusCode::DATA_LOSS, absl::StatusCode::kDataLoss},
      {grpc::StatusCode::UNAUTHENTICATED, absl::StatusCode::kUnauthenticated},
  };
  for (const auto& [grpc_code, absl_code] : codes) {
    const absl::Status s =
        FromGrpcStatus(grpc::Status(grpc_code, "queries: row 3 has a non-finite value"));
    CHECK(s.code() == absl_code);
    CHECK(std::string(s.message()) == "queries: row 3 has a non-finite value");
  }
}

TEST_CASE("status: the CLI prints the gRPC code names", "[client][status]") {
  CHECK(absl::StatusCodeToString(
            FromGrpcStatus(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "")).code()) ==
        "RESOURCE_EXHAUSTED");
  CHECK(absl::StatusCodeToString(
            FromGrpcStatus(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "")).code()) ==
        "FAILED_PRECONDITION");
}

TEST_CASE("status: a code outside google.rpc.Code becomes UNKNOWN naming the number",
          "[client][status]") {
  const absl::Status s = FromGrpcStatus(grpc::Status(static_cast<grpc::StatusCode>(20), "odd"));
  CHECK(s.code() == absl::StatusCode::kUnknown);
  CHECK(std::string(s.message()) == "gRPC status code 20: odd");
}

}  // namespace
}  // namespace simile::client
