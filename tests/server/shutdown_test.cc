// Graceful shutdown: requests in flight when Shutdown() begins complete with full, correct results; requests
// after it are refused.
#include <future>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/server/server_fixture.h"
#include "tests/testing/cosine_reference.h"

namespace simile::testing {
namespace {

TEST_CASE("Shutdown lets in-flight requests finish and refuses new ones", "[shutdown]") {
  server::ServerOptions options;
  options.worker_threads = 1;
  auto server = std::make_unique<ServerFixture>("", options);
  const uint32_t n = 8000, d = 256;
  v1::CosineRequest request;
  // 256 queries x 8000 targets x 256: ~5 * 10^8 multiply-adds, so requests pile up behind the one worker.
  for (auto [m, rows, seed] : {std::tuple{request.mutable_queries(), 256u, 1u},
                               std::tuple{request.mutable_targets(), n, 2u}}) {
    const std::vector<float> v = RandomMatrix(rows, d, seed);
    m->set_rows(rows);
    m->set_dim(d);
    m->set_raw(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
  }
  v1::CosineResponse warm_up;
  REQUIRE(server->Cosine(request, &warm_up).ok());  // Connects the channel.
  std::vector<std::future<std::pair<grpc::Status, v1::CosineResponse>>> calls;
  for (int i = 0; i < 6; ++i) {
    calls.push_back(std::async(std::launch::async, [&] {
      v1::CosineResponse response;
      grpc::Status status = server->Cosine(request, &response);
      return std::pair{status, response};
    }));
  }
  // Shut down once requests are queued behind the running one.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (server->server().in_flight_requests() < 4 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  REQUIRE(server->server().in_flight_requests() >= 3);
  auto channel = server->channel();
  std::thread stopper([&] { server->server().Shutdown(); });
  for (auto& call : calls) {
    auto [status, response] = call.get();
    INFO(status.error_message());
    REQUIRE(status.ok());
    REQUIRE(response.scores().raw().size() == 256 * n * sizeof(float));
  }
  stopper.join();
  // The listener is closed: a new call fails instead of hanging.
  auto stub = v1::Similarity::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  v1::CosineResponse response;
  const grpc::Status after = stub->Cosine(&context, request, &response);
  CHECK(after.error_code() == grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace simile::testing
