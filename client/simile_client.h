// SimileClient: the C++ client of the simile service (simile.v1.Similarity and
// grpc.health.v1.Health).
//
// It takes spans of floats and shapes, not protos, builds the request with one copy of each buffer,
// and returns absl::Status codes equal to the gRPC codes the server sent (see README's status
// table). Example:
//
//   absl::StatusOr<std::unique_ptr<SimileClient>> client = SimileClient::Create("127.0.0.1:50051");
//   if (!client.ok()) return client.status();
//   CosineArgs args{.queries = q, .q = 2, .targets = t, .n = 1000, .dim = 768, .top_k = 10};
//   absl::StatusOr<CosineResult> result = (*client)->Cosine(args);
//
// Callers that build requests themselves (the load generator reuses one prebuilt request for many
// calls) use CosineProto with BuildCosineRequest from client/request_builder.h.
//
// Thread safety: every method is const and may be called concurrently from any number of threads;
// the client holds no mutable state beyond gRPC's thread-safe channel and stubs. Calls are
// blocking. Each client made by Create has its own connection (a private subchannel pool), so a
// load generator spreads load over several connections by making several clients.
#ifndef SIMILE_CLIENT_SIMILE_CLIENT_H_
#define SIMILE_CLIENT_SIMILE_CLIENT_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/generic/generic_stub.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/cosine_types.h"
#include "client/health_codec.h"
#include "simile/v1/admin.grpc.pb.h"
#include "simile/v1/similarity.grpc.pb.h"
#include "simile/v1/similarity.pb.h"
#include "simile/v1/target_sets.grpc.pb.h"

namespace simile::client {

// TLS settings of the channel Create makes (PEM file paths). All empty and enabled false: plaintext.
struct ClientTlsOptions {
  // Use TLS; implied by any path below. With no ca_path, the server is verified against the system's roots.
  bool enabled = false;
  // PEM CA bundle the server's certificate must chain to (--tls_ca).
  std::string ca_path;
  // PEM client certificate chain and its key, for servers that require mutual TLS (--tls_cert, --tls_key).
  std::string cert_path;
  std::string key_path;
  // Name to verify in the server's certificate instead of the target's host (--tls_server_name), e.g. when
  // dialling an IP address.
  std::string server_name;

  [[nodiscard]] bool active() const {
    return enabled || !ca_path.empty() || !cert_path.empty() || !key_path.empty() || !server_name.empty();
  }
};

struct ClientOptions {
  // Deadline of every call that does not set its own. absl::InfiniteDuration(): calls never time
  // out.
  absl::Duration default_deadline = absl::Seconds(30);
  // Largest response accepted, in bytes; -1: unlimited, since a Q x N score matrix can be far
  // larger than gRPC's 4 MiB default. Used by Create only (a caller-made channel carries its own
  // limits).
  int max_receive_message_bytes = -1;
  // Wait for the channel to become ready instead of failing fast with UNAVAILABLE while the server
  // is not up (the call's deadline still applies). Off by default so that a down server is reported
  // at once.
  bool wait_for_ready = false;
  // Transport security of the channel Create makes (default: plaintext).
  ClientTlsOptions tls;
};

class SimileClient {
 public:
  // Connects (lazily, on the first call) to `target` ("host:port", or any gRPC target URI) over a channel
  // configured by `options` (plaintext unless options.tls is active). INVALID_ARGUMENT when `target` is
  // empty, or a TLS file cannot be read or a key comes without its certificate.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<SimileClient>> Create(
      absl::string_view target, const ClientOptions& options = {});

  // Uses a channel the caller made (its own credentials and arguments).
  // `options.max_receive_message_bytes` is not applied to it.
  explicit SimileClient(std::shared_ptr<grpc::Channel> channel, ClientOptions options = {});

  SimileClient(const SimileClient&) = delete;
  SimileClient& operator=(const SimileClient&) = delete;

  // Scores args.queries against args.targets. Errors: INVALID_ARGUMENT from BuildCosineRequest when
  // a span's size is not rows * dim; any status the server or gRPC returned (INVALID_ARGUMENT,
  // RESOURCE_EXHAUSTED, FAILED_PRECONDITION, UNAVAILABLE, DEADLINE_EXCEEDED, ...); INTERNAL when
  // the response does not match the request's shape. The args' buffers are only read during the
  // call.
  [[nodiscard]] absl::StatusOr<CosineResult> Cosine(const CosineArgs& args) const;

  // The Cosine RPC on messages the caller owns: `response` (not null) is overwritten. Returns the
  // call's status; the response is not checked against the request (DecodeCosineResponse does
  // that). `deadline`: nullopt: the default; absl::InfiniteDuration(): none.
  [[nodiscard]] absl::Status CosineProto(
      const v1::CosineRequest& request, v1::CosineResponse* response,
      std::optional<absl::Duration> deadline = std::nullopt) const;

  // grpc.health.v1.Health/Check for `service` ("": the server as a whole). The serving status on
  // success; NOT_FOUND when the server does not know the service, UNIMPLEMENTED when it has no
  // health service, or the call's failure status (UNAVAILABLE when nothing listens at the address).
  [[nodiscard]] absl::StatusOr<ServingStatus> Health(
      absl::string_view service = "", std::optional<absl::Duration> deadline = std::nullopt) const;

  // simile.v1.Admin/GetStatus: the server's dispatcher state (configuration, GPU, breaker, measured
  // performance, decision counts).
  [[nodiscard]] absl::StatusOr<v1::ServerStatus> GetStatus(
      std::optional<absl::Duration> deadline = std::nullopt) const;

  // simile.v1.TargetSets: uploads `rows` (n x dim floats) as set `name` (or appends them when `append`), in
  // messages of `chunk_rows` rows (keep each under the server's 4 MiB default). The set's info on success;
  // ALREADY_EXISTS, NOT_FOUND, INVALID_ARGUMENT, RESOURCE_EXHAUSTED as the server says.
  [[nodiscard]] absl::StatusOr<v1::TargetSetInfo> UploadTargetSet(
      absl::string_view name, absl::Span<const float> rows, uint32_t n, uint32_t dim, bool append = false,
      uint32_t chunk_rows = 1024, std::optional<absl::Duration> deadline = std::nullopt) const;
  [[nodiscard]] absl::Status DeleteTargetSet(absl::string_view name,
                                             std::optional<absl::Duration> deadline = std::nullopt) const;
  [[nodiscard]] absl::StatusOr<v1::ListTargetSetsResponse> ListTargetSets(
      std::optional<absl::Duration> deadline = std::nullopt) const;
  // One set's rows, dim, bytes, version and where it is resident; NOT_FOUND if there is none.
  [[nodiscard]] absl::StatusOr<v1::TargetSetInfo> DescribeTargetSet(
      absl::string_view name, std::optional<absl::Duration> deadline = std::nullopt) const;

  [[nodiscard]] const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  [[nodiscard]] const ClientOptions& options() const { return options_; }

 private:
  // Applies the deadline (or the default) and wait_for_ready to a fresh context.
  void PrepareContext(std::optional<absl::Duration> deadline, grpc::ClientContext* context) const;

  // Constant after construction.
  const ClientOptions options_;
  const std::shared_ptr<grpc::Channel> channel_;
  const std::unique_ptr<v1::Similarity::Stub> stub_;
  const std::unique_ptr<v1::Admin::Stub> admin_stub_;
  const std::unique_ptr<v1::TargetSets::Stub> sets_stub_;
  const std::unique_ptr<grpc::GenericStub>
      generic_stub_;  // For the health check (see health_codec.h).
};

}  // namespace simile::client

#endif  // SIMILE_CLIENT_SIMILE_CLIENT_H_
