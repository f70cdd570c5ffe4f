// Graceful shutdown: requests in flight when Shutdown() begins complete with full, correct results;
// requests after it are refused.
#include <catch2/catch.hpp>
#include <future>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"

#include "tests/server/server_fixture.h"
#include "tests/testing/cosine_reference.h"

namespace simile::testing {
namespace {

TEST_CASE("Shutdown lets in-flight requests finish and refuses new ones", "[shutdown]") {
  // The test holds the server's only worker until all requests have reached their handlers, so they are
  // deterministically in flight (queued) when shutdown begins.
  ThreadPool pool(1);
  server::ServerOptions options;
  options.pool = &pool;
  auto server = std::make_unique<ServerFixture>("", options);
  const uint32_t q = 4, n = 3000, d = 64;
  v1::CosineRequest request;
  for (auto [m, rows, seed] : {std::tuple{request.mutable_queries(), q, 1u},
                               std::tuple{request.mutable_targets(), n, 2u}}) {
    const std::vector<float> v = RandomMatrix(rows, d, seed);
    m->set_rows(rows);
    m->set_dim(d);
    m->set_raw(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
  }
  v1::CosineResponse warm_up;
  REQUIRE(server->Cosine(request, &warm_up).ok());  // Connects the channel.

  absl::Notification release_worker;
  pool.Schedule([&] { release_worker.WaitForNotification(); });
  std::vector<std::future<std::pair<grpc::Status, v1::CosineResponse>>> calls;
  for (int i = 0; i < 6; ++i) {
    calls.push_back(std::async(std::launch::async, [&] {
      v1::CosineResponse response;
      grpc::Status status = server->Cosine(request, &response);
      return std::pair{status, response};
    }));
  }
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (server->server().in_flight_requests() < 6 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  REQUIRE(server->server().in_flight_requests() == 6);

  auto channel = server->channel();
  std::thread stopper([&] { server->server().Shutdown(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // Shutdown has begun and is waiting.
  release_worker.Notify();
  for (auto& call : calls) {
    auto [status, response] = call.get();
    INFO(status.error_message());
    REQUIRE(status.ok());
    REQUIRE(response.scores().raw().size() == q * n * sizeof(float));
  }
  stopper.join();
  CHECK(server->server().in_flight_requests() == 0);
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
