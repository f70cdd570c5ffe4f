// FakeServer: an in-process stand-in for simile-server, for the client tests. It serves
// simile.v1.Similarity on 127.0.0.1:<ephemeral port> with a straightforward float64 implementation
// of the wire contract (enough of it for a client: both encodings, top-k with its tie rule,
// INVALID_ARGUMENT for malformed input and top_k > N, FAILED_PRECONDITION for PLACEMENT_GPU as on a
// machine without a GPU), plus gRPC's default grpc.health.v1 service. A test can replace the
// behaviour with its own Responder to send odd responses, error statuses or delays.
//
// Thread safety: every method may be called from any thread while the server runs; the service
// handles calls concurrently.
#ifndef SIMILE_TESTS_CLIENT_FAKE_SIMILARITY_SERVICE_H_
#define SIMILE_TESTS_CLIENT_FAKE_SIMILARITY_SERVICE_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "simile/v1/similarity.grpc.pb.h"

namespace simile::testing {

// The fake's default behaviour: computes the response the contract asks for, or an error status.
grpc::Status ComputeCosine(const v1::CosineRequest& request, v1::CosineResponse* response);

class FakeSimilarityService final : public v1::Similarity::Service {
 public:
  using Responder = std::function<grpc::Status(const v1::CosineRequest&, v1::CosineResponse*)>;

  grpc::Status Cosine(grpc::ServerContext* context, const v1::CosineRequest* request,
                      v1::CosineResponse* response) override;

  // Replaces ComputeCosine for the calls that follow.
  void set_responder(Responder responder);
  // The last request received (empty before the first call) and the number of calls so far.
  v1::CosineRequest last_request() const;
  int calls() const;

 private:
  mutable absl::Mutex mu_;
  Responder responder_ ABSL_GUARDED_BY(mu_) = ComputeCosine;
  v1::CosineRequest last_request_ ABSL_GUARDED_BY(mu_);
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
};

class FakeServer {
 public:
  // Starts serving; the health service reports "" and "simile.v1.Similarity" as SERVING.
  FakeServer();
  // Shuts down at once (in-flight calls are cancelled).
  ~FakeServer();

  FakeServer(const FakeServer&) = delete;
  FakeServer& operator=(const FakeServer&) = delete;

  // "127.0.0.1:<port>".
  const std::string& address() const { return address_; }
  FakeSimilarityService& service() { return service_; }
  grpc::HealthCheckServiceInterface& health() { return *server_->GetHealthCheckService(); }

 private:
  FakeSimilarityService service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

}  // namespace simile::testing

#endif  // SIMILE_TESTS_CLIENT_FAKE_SIMILARITY_SERVICE_H_
