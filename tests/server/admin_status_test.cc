// simile.v1.Admin/GetStatus reports what the server actually did.
#include <catch2/catch.hpp>

#include "simile/v1/admin.grpc.pb.h"
#include "tests/server/server_fixture.h"
#include "tests/testing/cosine_reference.h"

namespace simile::testing {
namespace {

v1::CosineRequest Request(uint32_t q, uint32_t n, uint32_t d, v1::Placement placement) {
  v1::CosineRequest r;
  for (auto [m, rows, seed] : {std::tuple{r.mutable_queries(), q, 1u}, std::tuple{r.mutable_targets(), n, 2u}}) {
    const std::vector<float> v = RandomMatrix(rows, d, seed);
    m->set_rows(rows);
    m->set_dim(d);
    m->mutable_values()->Add(v.begin(), v.end());
  }
  r.set_placement(placement);
  return r;
}

TEST_CASE("GetStatus reports configuration, GPU state, decisions and measured latency", "[admin]") {
  ServerFixture server("limits { max_dim: 512 }");
  v1::CosineResponse response;
  for (int i = 0; i < 3; ++i) REQUIRE(server.Cosine(Request(1, 100, 16, v1::PLACEMENT_AUTO), &response).ok());
  for (int i = 0; i < 2; ++i) REQUIRE(server.Cosine(Request(4, 100, 16, v1::PLACEMENT_CPU), &response).ok());

  auto admin = v1::Admin::NewStub(server.channel());
  grpc::ClientContext context;
  v1::ServerStatus status;
  REQUIRE(admin->GetStatus(&context, v1::GetStatusRequest(), &status).ok());
  CHECK(status.config_version() == 1);
  CHECK(status.config_source() == server.config_path());
  CHECK_FALSE(status.version().empty());
  CHECK(status.in_flight_requests() == 0);
  CHECK_FALSE(status.gpu().available());
  CHECK_FALSE(status.gpu().unavailable_reason().empty());
  CHECK(status.circuit_breaker().state() == "closed");

  uint64_t unavailable = 0, placement_cpu = 0;
  for (const auto& d : status.counts().decisions()) {
    CHECK(d.backend() == v1::BACKEND_CPU);
    if (d.rule() == "gpu_unavailable") unavailable = d.count();
    if (d.rule() == "placement_cpu") placement_cpu = d.count();
  }
  CHECK(unavailable == 3);
  CHECK(placement_cpu == 2);
  CHECK(status.counts().cpu_chunks() == 5);
  CHECK(status.counts().gpu_chunks() == 0);

  REQUIRE(status.operations_size() == 4);  // one_query, many_queries and their resident variants.
  int64_t cpu_calls = 0;
  for (const auto& op : status.operations()) {
    for (const auto& cls : op.size_classes()) {
      for (const auto& cell : cls.backends()) {
        CHECK(cell.backend() == v1::BACKEND_CPU);
        CHECK(cell.mean_seconds() > 0);
        CHECK(cell.p99_seconds() >= cell.p50_seconds());
        cpu_calls += cell.calls();
      }
    }
  }
  CHECK(cpu_calls == 5);
}

}  // namespace
}  // namespace simile::testing
