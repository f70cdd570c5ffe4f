// Tests of client/simile_client.h against FakeServer (tests/client/fake_similarity_service.h) in
// this process: the spans-in / result-out path in both encodings, top-k, the proto-level call,
// deadlines, the server's error statuses arriving as absl codes, and the hand-encoded health check
// against gRPC's own health service.
#include "client/simile_client.h"

#include <grpcpp/create_channel.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "client/random_matrix.h"
#include "client/reference_check.h"
#include "client/request_builder.h"
#include "tests/client/fake_similarity_service.h"

namespace simile::client {
namespace {

using simile::testing::FakeServer;

std::unique_ptr<SimileClient> Connect(const FakeServer& server, ClientOptions options = {}) {
  absl::StatusOr<std::unique_ptr<SimileClient>> client =
      SimileClient::Create(server.address(), options);
  REQUIRE(client.ok());
  return *std::move(client);
}

struct Data {
  std::vector<float> queries;
  std::vector<float> targets;
  CosineArgs args;
};

Data MakeData(uint32_t q, uint32_t n, uint32_t dim, uint32_t top_k, Encoding encoding) {
  Data d{RandomMatrix(q, dim, 7), RandomMatrix(n, dim, 8), {}};
  d.args.queries = d.queries;
  d.args.q = q;
  d.args.targets = d.targets;
  d.args.n = n;
  d.args.dim = dim;
  d.args.top_k = top_k;
  d.args.encoding = encoding;
  return d;
}

TEST_CASE("client: Cosine returns the full matrix in both encodings", "[client][e2e]") {
  FakeServer server;
  std::unique_ptr<SimileClient> client = Connect(server);
  for (Encoding encoding : {Encoding::kRaw, Encoding::kValues}) {
    const Data d = MakeData(3, 50, 17, 0, encoding);
    absl::StatusOr<CosineResult> result = client->Cosine(d.args);
    REQUIRE(result.ok());
    CHECK(result->scores.size() == 150);
    CHECK(result->report.backend() == v1::BACKEND_CPU);
    CHECK(result->report.chunks() == 1);
    CHECK(result->latency > absl::ZeroDuration());
    CHECK(CheckCosineResult(d.args, *result, 1e-5).ok());
    // The request went out in the asked-for encoding.
    const v1::CosineRequest sent = server.service().last_request();
    CHECK(sent.queries().raw().empty() == (encoding == Encoding::kValues));
    CHECK(sent.targets().values().empty() == (encoding == Encoding::kRaw));
  }
}

TEST_CASE("client: Cosine returns top-k lists", "[client][e2e]") {
  FakeServer server;
  std::unique_ptr<SimileClient> client = Connect(server);
  const Data d = MakeData(4, 200, 8, 10, Encoding::kRaw);
  absl::StatusOr<CosineResult> result = client->Cosine(d.args);
  REQUIRE(result.ok());
  CHECK(result->top_indices.size() == 40);
  CHECK(result->scores.empty());
  CHECK(CheckCosineResult(d.args, *result, 1e-5).ok());
}

TEST_CASE("client: responses over gRPC's 4 MiB default are received", "[client][e2e]") {
  FakeServer server;
  std::unique_ptr<SimileClient> client = Connect(server);
  const Data d = MakeData(64, 20000, 1, 0, Encoding::kRaw);  // A 5 MB score matrix.
  absl::StatusOr<CosineResult> result = client->Cosine(d.args);
  REQUIRE(result.ok());
  CHECK(result->scores.size() == size_t{64} * 20000);
}

TEST_CASE("client: server errors arrive with their gRPC code as the absl code", "[client][e2e]") {
  FakeServer server;
  std::unique_ptr<SimileClient> client = Connect(server);
  Data d = MakeData(1, 5, 4, 6, Encoding::kRaw);
  absl::StatusOr<CosineResult> result = client->Cosine(d.args);
  CHECK(result.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(result.status().message()) == "top_k 6 is larger than the 5 targets");

  d.args.top_k = 0;
  d.args.placement = Placement::kGpu;
  CHECK(client->Cosine(d.args).status().code() == absl::StatusCode::kFailedPrecondition);

  server.service().set_responder([](const v1::CosineRequest&, v1::CosineResponse*) {
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "dim 4 is over the limit");
  });
  CHECK(client->Cosine(d.args).status() == absl::ResourceExhaustedError("dim 4 is over the limit"));
}

TEST_CASE("client: span-size errors are caught before anything is sent", "[client][e2e]") {
  FakeServer server;
  std::unique_ptr<SimileClient> client = Connect(server);
  Data d = MakeData(2, 5, 4, 0, Encoding::kRaw);
  d.args.n = 6;
  CHECK(client->Cosine(d.args).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(server.service().calls() == 0);
}

TEST_CASE("client: a response that does not fit the request is INTERNAL", "[client][e2e]") {
  FakeServer server;
  std::unique_ptr<SimileClient> client = Connect(server);
  server.service().set_responder(
      [](const v1::CosineRequest& request, v1::CosineResponse* response) {
        grpc::Status s = simile::testing::ComputeCosine(request, response);
        response->set_num_targets(response->num_targets() + 1);
        return s;
      });
  const Data d = MakeData(2, 5, 4, 0, Encoding::kRaw);
  CHECK(client->Cosine(d.args).status().code() == absl::StatusCode::kInternal);
}

TEST_CASE("client: deadlines apply per call and by default", "[client][e2e]") {
  FakeServer server;
  server.service().set_responder(
      [](const v1::CosineRequest& request, v1::CosineResponse* response) {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        return simile::testing::ComputeCosine(request, response);
      });
  Data d = MakeData(1, 5, 4, 0, Encoding::kRaw);
  {
    std::unique_ptr<SimileClient> client = Connect(server);
    d.args.deadline = absl::Milliseconds(50);
    CHECK(client->Cosine(d.args).status().code() == absl::StatusCode::kDeadlineExceeded);
    d.args.deadline = absl::InfiniteDuration();
    CHECK(client->Cosine(d.args).ok());
  }
  ClientOptions options;
  options.default_deadline = absl::Milliseconds(50);
  std::unique_ptr<SimileClient> client = Connect(server, options);
  d.args.deadline.reset();
  CHECK(client->Cosine(d.args).status().code() == absl::StatusCode::kDeadlineExceeded);
}

TEST_CASE("client: CosineProto sends a prebuilt request many times, concurrently",
          "[client][e2e]") {
  FakeServer server;
  std::unique_ptr<SimileClient> client = Connect(server);
  const Data d = MakeData(2, 30, 5, 3, Encoding::kRaw);
  v1::CosineRequest request;
  REQUIRE(BuildCosineRequest(d.args, &request).ok());
  std::vector<std::thread> threads;
  threads.reserve(4);
  std::atomic<int> failures{0};  // Relaxed: read only after join.
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        v1::CosineResponse response;
        if (!client->CosineProto(request, &response).ok() ||
            !DecodeCosineResponse(2, 30, 3, response).ok()) {
          failures.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  CHECK(failures.load(std::memory_order_relaxed) == 0);
  CHECK(server.service().calls() == 20);
}

TEST_CASE("client: Health reads gRPC's own health service", "[client][e2e][health]") {
  FakeServer server;
  std::unique_ptr<SimileClient> client = Connect(server);
  CHECK(*client->Health() == ServingStatus::kServing);
  CHECK(*client->Health("simile.v1.Similarity") == ServingStatus::kServing);
  server.health().SetServingStatus("simile.v1.Similarity", false);
  CHECK(*client->Health("simile.v1.Similarity") == ServingStatus::kNotServing);
  server.health().SetServingStatus(false);
  CHECK(*client->Health() == ServingStatus::kNotServing);
  CHECK(client->Health("no.such.Service").status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("client: a server that is not there is UNAVAILABLE", "[client][e2e]") {
  int port = 0;
  {
    FakeServer server;  // Learn a port that was free a moment ago, then close it.
    port = std::stoi(server.address().substr(server.address().rfind(':') + 1));
  }
  absl::StatusOr<std::unique_ptr<SimileClient>> client =
      SimileClient::Create("127.0.0.1:" + std::to_string(port));
  REQUIRE(client.ok());
  CHECK((*client)->Health().status().code() == absl::StatusCode::kUnavailable);
  CHECK(SimileClient::Create("").status().code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace simile::client
