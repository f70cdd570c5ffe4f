// simile-transport-floor: a trivial simile.v1.Similarity server for benchmarking only. It receives the same
// request as simile and answers with a response of the same size and encoding (a Q x N matrix of zeros, or
// Q x k top-k entries) without validating or computing anything, on gRPC's own thread. Load against it with
// simile-bench gives the pure gRPC cost, so "simile's overhead over gRPC" is a ratio of two runs of the same
// load generator. Never deploy it.
#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "simile/v1/similarity.grpc.pb.h"

ABSL_FLAG(std::string, grpc_address, "127.0.0.1:50052", "Listen address (port 0: pick one).");
ABSL_FLAG(std::string, port_file, "", "Write the bound port here.");
ABSL_FLAG(int, max_receive_message_bytes, 64 * 1024 * 1024, "Largest request accepted, in bytes.");

namespace {

class FloorService final : public simile::v1::Similarity::CallbackService {
  grpc::ServerUnaryReactor* Cosine(grpc::CallbackServerContext* context,
                                   const simile::v1::CosineRequest* request,
                                   simile::v1::CosineResponse* response) override {
    const uint32_t q = request->queries().rows();
    const uint32_t n = request->targets().rows();
    response->set_num_queries(q);
    response->set_num_targets(n);
    response->set_top_k(request->top_k());
    if (request->top_k() > 0) {
      const int entries = static_cast<int>(q * request->top_k());
      response->mutable_top_indices()->Resize(entries, 0);
      response->mutable_top_scores()->Resize(entries, 0.0f);
    } else {
      simile::v1::Matrix* scores = response->mutable_scores();
      scores->set_rows(q);
      scores->set_dim(n);
      const uint64_t count = static_cast<uint64_t>(q) * n;
      if (!request->queries().raw().empty()) {
        scores->mutable_raw()->resize(count * sizeof(float));
      } else {
        scores->mutable_values()->Resize(static_cast<int>(count), 0.0f);
      }
    }
    response->mutable_report()->set_backend(simile::v1::BACKEND_CPU);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  FloorService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(absl::GetFlag(FLAGS_grpc_address), grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(absl::GetFlag(FLAGS_max_receive_message_bytes));
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "simile-transport-floor: cannot listen on %s\n",
                 absl::GetFlag(FLAGS_grpc_address).c_str());
    return 1;
  }
  if (!absl::GetFlag(FLAGS_port_file).empty()) std::ofstream(absl::GetFlag(FLAGS_port_file)) << port << "\n";
  std::fprintf(stderr, "simile-transport-floor: listening on port %d\n", port);
  int signal = 0;
  sigwait(&signals, &signal);
  server->Shutdown();
  return 0;
}
