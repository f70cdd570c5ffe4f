#include "client/simile_client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/channel_arguments.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

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

// The contents of a PEM file, or INVALID_ARGUMENT naming the option and path.
absl::StatusOr<std::string> ReadPem(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(what, ": cannot read '", path, "'"));
  std::ostringstream contents;
  contents << in.rdbuf();
  return std::move(contents).str();
}

// Plaintext, or SSL credentials from the PEM files of `tls`.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeCredentials(
    const ClientTlsOptions& tls) {
  if (!tls.active()) return grpc::InsecureChannelCredentials();
  if (tls.cert_path.empty() != tls.key_path.empty()) {
    return absl::InvalidArgumentError(
        "a TLS client certificate needs its key (--tls_cert with --tls_key)");
  }
  grpc::SslCredentialsOptions ssl;
  if (!tls.ca_path.empty()) {
    absl::StatusOr<std::string> ca = ReadPem(tls.ca_path, "--tls_ca");
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
  }
  if (!tls.cert_path.empty()) {
    absl::StatusOr<std::string> cert = ReadPem(tls.cert_path, "--tls_cert");
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadPem(tls.key_path, "--tls_key");
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *std::move(cert);
    ssl.pem_private_key = *std::move(key);
  }
  return grpc::SslCredentials(ssl);
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
  if (!options.tls.server_name.empty()) {
    args.SetSslTargetNameOverride(options.tls.server_name);
  }
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      MakeCredentials(options.tls);
  if (!credentials.ok()) return credentials.status();
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(std::string(target), *credentials, args);
  return std::make_unique<SimileClient>(std::move(channel), options);
}

SimileClient::SimileClient(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
    : options_(options),
      channel_(std::move(channel)),
      stub_(v1::Similarity::NewStub(channel_)),
      admin_stub_(v1::Admin::NewStub(channel_)),
      sets_stub_(v1::TargetSets::NewStub(channel_)),
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
  // On a target set the server says N (the set's rows); the rest of the shape is still checked.
  const uint32_t n = args.target_set.empty() ? args.n : response.num_targets();
  absl::StatusOr<CosineResult> result = DecodeCosineResponse(args.q, n, args.top_k, response);
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

absl::StatusOr<v1::TargetSetInfo> SimileClient::UploadTargetSet(absl::string_view name,
                                                                absl::Span<const float> rows, uint32_t n,
                                                                uint32_t dim, bool append, uint32_t chunk_rows,
                                                                std::optional<absl::Duration> deadline) const {
  if (rows.size() != static_cast<size_t>(n) * dim || n == 0 || dim == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("target set rows hold ", rows.size(), " floats, expected n * dim = ", n, " * ", dim));
  }
  chunk_rows = std::max<uint32_t>(chunk_rows, 1);
  grpc::ClientContext context;
  PrepareContext(deadline, &context);
  v1::TargetSetInfo info;
  std::unique_ptr<grpc::ClientWriter<v1::TargetSetChunk>> writer =
      append ? sets_stub_->AppendTargetSet(&context, &info) : sets_stub_->CreateTargetSet(&context, &info);
  v1::TargetSetChunk chunk;
  for (uint32_t begin = 0; begin < n; begin += chunk_rows) {
    const uint32_t count = std::min(chunk_rows, n - begin);
    chunk.set_name(begin == 0 ? std::string(name) : std::string());
    v1::Matrix* m = chunk.mutable_rows();
    m->set_rows(count);
    m->set_dim(dim);
    m->set_raw(reinterpret_cast<const char*>(rows.data() + size_t{begin} * dim), size_t{count} * dim * sizeof(float));
    if (!writer->Write(chunk)) break;  // The server ended the stream early: Finish says why.
  }
  writer->WritesDone();
  if (const grpc::Status s = writer->Finish(); !s.ok()) return FromGrpcStatus(s);
  return info;
}

absl::Status SimileClient::DeleteTargetSet(absl::string_view name, std::optional<absl::Duration> deadline) const {
  grpc::ClientContext context;
  PrepareContext(deadline, &context);
  v1::DeleteTargetSetRequest request;
  request.set_name(std::string(name));
  v1::DeleteTargetSetResponse response;
  return FromGrpcStatus(sets_stub_->DeleteTargetSet(&context, request, &response));
}

absl::StatusOr<v1::ListTargetSetsResponse> SimileClient::ListTargetSets(
    std::optional<absl::Duration> deadline) const {
  grpc::ClientContext context;
  PrepareContext(deadline, &context);
  v1::ListTargetSetsResponse response;
  const grpc::Status s = sets_stub_->ListTargetSets(&context, v1::ListTargetSetsRequest(), &response);
  if (!s.ok()) return FromGrpcStatus(s);
  return response;
}

absl::StatusOr<v1::TargetSetInfo> SimileClient::DescribeTargetSet(absl::string_view name,
                                                                 std::optional<absl::Duration> deadline) const {
  grpc::ClientContext context;
  PrepareContext(deadline, &context);
  v1::DescribeTargetSetRequest request;
  request.set_name(std::string(name));
  v1::TargetSetInfo response;
  const grpc::Status s = sets_stub_->DescribeTargetSet(&context, request, &response);
  if (!s.ok()) return FromGrpcStatus(s);
  return response;
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
