// Admission control: beyond the configured in-flight requests or payload bytes, requests are refused at once
// with RESOURCE_EXHAUSTED (nothing queues), and the admitted ones still complete correctly.
#include <catch2/catch.hpp>
#include <future>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "server/similarity_service.h"
#include "tests/server/server_fixture.h"
#include "tests/testing/cosine_reference.h"

namespace simile::testing {
namespace {

v1::CosineRequest Request(uint32_t n, uint32_t d) {
  v1::CosineRequest r;
  for (auto [m, rows, seed] : {std::tuple{r.mutable_queries(), 1u, 1u}, std::tuple{r.mutable_targets(), n, 2u}}) {
    const std::vector<float> v = RandomMatrix(rows, d, seed);
    m->set_rows(rows);
    m->set_dim(d);
    m->set_raw(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
  }
  return r;
}

// Holds the server's only worker, sends `count` requests at once, and returns their statuses once the held
// worker is released (after `refused` of them have been refused).
std::vector<grpc::Status> Flood(ServerFixture& server, absl::Notification* release, const v1::CosineRequest& r,
                                int count, uint64_t refused) {
  std::vector<std::future<grpc::Status>> calls;
  for (int i = 0; i < count; ++i) {
    calls.push_back(std::async(std::launch::async, [&] {
      v1::CosineResponse response;
      grpc::Status s = server.Cosine(r, &response);
      if (s.ok() && response.scores().raw().size() != r.targets().rows() * sizeof(float)) {
        return grpc::Status(grpc::StatusCode::INTERNAL, "short result");
      }
      return s;
    }));
  }
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (server.server().admission_rejections() < refused && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  release->Notify();
  std::vector<grpc::Status> statuses;
  for (auto& c : calls) statuses.push_back(c.get());
  return statuses;
}

int Count(const std::vector<grpc::Status>& statuses, grpc::StatusCode code) {
  int n = 0;
  for (const grpc::Status& s : statuses) n += s.error_code() == code ? 1 : 0;
  return n;
}

TEST_CASE("Requests beyond admission.max_in_flight_requests are refused at once", "[admission]") {
  absl::Notification release;
  ThreadPool pool(1);
  server::ServerOptions options;
  options.pool = &pool;
  ServerFixture server("admission { max_in_flight_requests: 2 }", options);
  // Work at the inline limit, so that the requests queue behind the held worker instead of running
  // on gRPC's thread.
  const v1::CosineRequest r =
      Request(static_cast<uint32_t>(server::SimilarityService::kInlineMacsLimit / 16), 16);
  v1::CosineResponse warm_up;
  REQUIRE(server.Cosine(r, &warm_up).ok());
  pool.Schedule([&] { release.WaitForNotification(); });
  const std::vector<grpc::Status> statuses = Flood(server, &release, r, 5, 3);
  CHECK(Count(statuses, grpc::StatusCode::OK) == 2);
  CHECK(Count(statuses, grpc::StatusCode::RESOURCE_EXHAUSTED) == 3);
  for (const grpc::Status& s : statuses) {
    if (!s.ok()) CHECK_THAT(s.error_message(), Catch::Contains("admission.max_in_flight_requests = 2"));
  }
  CHECK(server.server().in_flight_requests() == 0);
}

TEST_CASE("Requests beyond admission.max_in_flight_bytes are refused, one request always fits", "[admission]") {
  absl::Notification release;
  ThreadPool pool(1);
  server::ServerOptions options;
  options.pool = &pool;
  const v1::CosineRequest r = Request(4000, 64);  // ~1 MB of payload.
  // Room for one request and a half: the first is admitted, every further one is refused while it waits.
  ServerFixture server("admission { max_in_flight_bytes: 1500000 }", options);
  pool.Schedule([&] { release.WaitForNotification(); });
  const std::vector<grpc::Status> statuses = Flood(server, &release, r, 4, 3);
  CHECK(Count(statuses, grpc::StatusCode::OK) == 1);
  CHECK(Count(statuses, grpc::StatusCode::RESOURCE_EXHAUSTED) == 3);
  // A request larger than the whole byte budget is still served when nothing else is in flight.
  v1::CosineResponse response;
  CHECK(server.Cosine(Request(8000, 64), &response).ok());
}

}  // namespace
}  // namespace simile::testing
