// The "simile.v1.Gpu" health service of a real server (in-process, port 0) with a fake GPU backend:
// SERVING while the GPU works; a device-lost failure (what a sticky CUDA error gives) turns it
// NOT_SERVING and opens the breaker at once, and the service keeps answering on the CPU. Without a
// GPU it is NOT_SERVING from the start.
#include <catch2/catch.hpp>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "client/simile_client.h"
#include "kernels/gpu_probe.h"
#include "server/simile_server.h"
#include "tests/core/fake_gpu_backend.h"
#include "tests/server/server_fixture.h"
#include "tests/testing/cosine_reference.h"

namespace simile::testing {
namespace {

client::ServingStatus GpuHealth(const ServerFixture& server) {
  absl::StatusOr<std::unique_ptr<client::SimileClient>> c =
      client::SimileClient::Create(server.address());
  REQUIRE(c.ok());
  absl::StatusOr<client::ServingStatus> status =
      (*c)->Health(server::SimileServer::kGpuHealthServiceName);
  REQUIRE(status.ok());
  return *status;
}

v1::CosineRequest Request(v1::Placement placement) {
  const std::vector<float> queries = RandomMatrix(2, 16, 1);
  const std::vector<float> targets = RandomMatrix(300, 16, 2);
  v1::CosineRequest request;
  auto set = [](v1::Matrix* m, const std::vector<float>& data, uint32_t rows) {
    m->set_rows(rows);
    m->set_dim(16);
    for (float v : data) m->add_values(v);
  };
  set(request.mutable_queries(), queries, 2);
  set(request.mutable_targets(), targets, 300);
  request.set_placement(placement);
  return request;
}

TEST_CASE("GPU health is NOT_SERVING without a GPU", "[e2e][gpu_health]") {
  if (!kernels::ProbeGpus().devices.empty()) {
    WARN("this machine has a GPU: the no-GPU case is not checked here");
    return;
  }
  ServerFixture server;
  CHECK(GpuHealth(server) == client::ServingStatus::kNotServing);
}

TEST_CASE("A lost GPU turns GPU health NOT_SERVING, opens the breaker, and requests run on the CPU",
          "[e2e][gpu_health]") {
  FakeGpuBackend gpu;
  gpu.LoseDeviceOnCall(1);
  server::ServerOptions options;
  options.gpu_backend_for_testing = &gpu;
  ServerFixture server("", options);
  CHECK(GpuHealth(server) == client::ServingStatus::kServing);

  v1::CosineResponse response;
  const grpc::Status forced = server.Cosine(Request(v1::PLACEMENT_GPU), &response);
  CHECK(forced.error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK_FALSE(gpu.Available());
  CHECK(GpuHealth(server) == client::ServingStatus::kNotServing);

  const grpc::Status automatic = server.Cosine(Request(v1::PLACEMENT_AUTO), &response);
  REQUIRE(automatic.ok());
  CHECK(response.report().backend() == v1::BACKEND_CPU);
  CHECK(response.scores().values_size() == 2 * 300);
  CHECK(gpu.calls() == 1);
}

}  // namespace
}  // namespace simile::testing
