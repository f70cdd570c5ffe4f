#include "client/simile_client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/channel_arguments.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"
#include "client/grpc_status.h"
#include "client/request_builder.h"

namespace simile::client {

namespace {

// Concatenates the slices of a received ByteBuffer.
absl::StatusOr<std::string> Flatten(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  if (grpc::Status s = buffer.Dump(&slices); !s.ok()) {
    return FromGrpcStatus(s);
  }
  std::string bytes;
  bytes.reserve(buffer.Length());
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return bytes;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SimileClient>> SimileClient::Create(absl::string_view target,
                                                                   const ClientOptions& options) {
  if (target.empty()) {
    return absl::InvalidArgumentError("empty server address: expected host:port");
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  // Without this, channels to one target share gRPC's global subchannel pool and so one TCP
  // connection.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(std::string(target), grpc::InsecureChannelCredentials(), args);
  return std::make_unique<SimileClient>(std::move(channel), options);
}

SimileClient::SimileClient(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
    : options_(options),
      channel_(std::move(channel)),
      stub_(v1::Similarity::NewStub(channel_)),
      admin_stub_(v1::Admin::NewStub(channel_)),
      generic_stub_(std::make_unique<grpc::GenericStub>(channel_)) {}

void SimileClient::PrepareContext(std::optional<absl::Duration> deadline,
                                  grpc::ClientContext* context) const {
  const absl::Duration timeout = deadline.value_or(options_.default_deadline);
  if (timeout != absl::InfiniteDuration()) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  }
  context->set_wait_for_ready(options_.wait_for_ready);
}

absl::StatusOr<CosineResult> SimileClient::Cosine(const CosineArgs& args) const {
  v1::CosineRequest request;
  if (absl::Status s = BuildCosineRequest(args, &request); !s.ok()) {
    return s;
  }
  v1::CosineResponse response;
  const absl::Time start = absl::Now();
  if (absl::Status s = CosineProto(request, &response, args.deadline); !s.ok()) {
    return s;
  }
  const absl::Duration latency = absl::Now() - start;
  absl::StatusOr<CosineResult> result = DecodeCosineResponse(args.q, args.n, args.top_k, response);
  if (result.ok()) {
    result->latency = latency;
  }
  return result;
}

absl::Status SimileClient::CosineProto(const v1::CosineRequest& request,
                                       v1::CosineResponse* response,
                                       std::optional<absl::Duration> deadline) const {
  grpc::ClientContext context;
  PrepareContext(deadline, &context);
  return FromGrpcStatus(stub_->Cosine(&context, request, response));
}

absl::StatusOr<v1::ServerStatus> SimileClient::GetStatus(std::optional<absl::Duration> deadline) const {
  grpc::ClientContext context;
  PrepareContext(deadline, &context);
  v1::ServerStatus status;
  const grpc::Status call_status = admin_stub_->GetStatus(&context, v1::GetStatusRequest(), &status);
  if (!call_status.ok()) return FromGrpcStatus(call_status);
  return status;
}

absl::StatusOr<ServingStatus> SimileClient::Health(absl::string_view service,
                                                   std::optional<absl::Duration> deadline) const {
  grpc::ClientContext context;
  PrepareContext(deadline, &context);
  const std::string request_bytes = EncodeHealthCheckRequest(service);
  grpc::Slice slice(request_bytes);
  const grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  grpc::Status call_status;
  absl::Notification done;
  generic_stub_->UnaryCall(&context, kHealthCheckMethod, grpc::StubOptions(), &request, &response,
                           [&call_status, &done](grpc::Status s) {
                             call_status = std::move(s);
                             done.Notify();
                           });
  done.WaitForNotification();
  if (!call_status.ok()) {
    return FromGrpcStatus(call_status);
  }
  absl::StatusOr<std::string> bytes = Flatten(response);
  if (!bytes.ok()) {
    return bytes.status();
  }
  return DecodeHealthCheckResponse(*bytes);
}

}  // namespace simile::client
