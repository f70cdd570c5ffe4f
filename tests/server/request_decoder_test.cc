// DecodeCosineRequest / PrepareCosineResponse: zero-copy views of both encodings, wire-level
// errors, and responses shaped in the request's encoding.
#include "server/request_decoder.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <vector>

namespace simile::server {
namespace {

v1::CosineRequest Request(bool raw_queries, bool raw_targets) {
  v1::CosineRequest r;
  const std::vector<float> q = {1, 2, 3, 4, 5, 6};
  const std::vector<float> t = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  auto fill = [](v1::Matrix* m, const std::vector<float>& v, uint32_t rows, bool raw) {
    m->set_rows(rows);
    m->set_dim(3);
    if (raw) {
      m->set_raw(std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4));
    } else {
      m->mutable_values()->Add(v.begin(), v.end());
    }
  };
  fill(r.mutable_queries(), q, 2, raw_queries);
  fill(r.mutable_targets(), t, 3, raw_targets);
  return r;
}

TEST_CASE("DecodeCosineRequest views values and raw data in place", "[decoder]") {
  const v1::CosineRequest r = Request(true, false);
  DecodeScratch scratch;
  absl::StatusOr<CosineTask> task = DecodeCosineRequest(r, &scratch);
  REQUIRE(task.ok());
  CHECK(task->queries.rows == 2);
  CHECK(task->queries.dim == 3);
  CHECK(reinterpret_cast<const char*>(task->queries.data) == r.queries().raw().data());
  CHECK(task->targets.data == r.targets().values().data());
  CHECK(task->queries.Row(1)[2] == 6.0f);
  CHECK(scratch.queries.empty());
}

TEST_CASE("DecodeCosineRequest maps placement and keeps unknown values on AUTO", "[decoder]") {
  v1::CosineRequest r = Request(false, false);
  DecodeScratch scratch;
  r.set_placement(v1::PLACEMENT_GPU);
  CHECK(DecodeCosineRequest(r, &scratch)->placement == Placement::kGpu);
  r.set_placement(static_cast<v1::Placement>(42));
  CHECK(DecodeCosineRequest(r, &scratch)->placement == Placement::kAuto);
}

TEST_CASE("DecodeCosineRequest leaves zero rows to core validation without reading data",
          "[decoder]") {
  v1::CosineRequest r = Request(false, false);
  r.mutable_queries()->set_rows(0);
  DecodeScratch scratch;
  absl::StatusOr<CosineTask> task = DecodeCosineRequest(r, &scratch);
  REQUIRE(task.ok());
  CHECK(task->queries.rows == 0);
}

TEST_CASE("DecodeCosineRequest rejects a huge declared size with a tiny payload", "[decoder]") {
  v1::CosineRequest r = Request(false, true);
  r.mutable_targets()->set_rows(4'000'000'000u);
  r.mutable_targets()->set_dim(4'000'000'000u);
  DecodeScratch scratch;
  absl::StatusOr<CosineTask> task = DecodeCosineRequest(r, &scratch);
  REQUIRE_FALSE(task.ok());
  CHECK(task.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(task.status().message()), Catch::Contains("targets.raw holds 36 bytes"));
  CHECK(scratch.targets.empty());
}

TEST_CASE("PrepareCosineResponse encodes scores like the request's queries", "[decoder]") {
  for (const bool raw : {false, true}) {
    const v1::CosineRequest r = Request(raw, !raw);
    DecodeScratch scratch;
    const CosineTask task = *DecodeCosineRequest(r, &scratch);
    v1::CosineResponse response;
    const ResultBuffers out = PrepareCosineResponse(r, task, &response);
    CHECK(out.scores.size() == 6);
    CHECK(response.scores().rows() == 2);
    CHECK(response.scores().dim() == 3);
    CHECK(response.scores().raw().size() == (raw ? 24u : 0u));
    CHECK(response.scores().values_size() == (raw ? 0 : 6));
    out.scores[5] = 0.5f;
    float last;
    if (raw) {
      std::memcpy(&last, response.scores().raw().data() + 20, 4);
    } else {
      last = response.scores().values(5);
    }
    CHECK(last == 0.5f);
  }
}

TEST_CASE("PrepareCosineResponse sizes top-k arrays and leaves scores unset", "[decoder]") {
  v1::CosineRequest r = Request(false, false);
  r.set_top_k(2);
  DecodeScratch scratch;
  const CosineTask task = *DecodeCosineRequest(r, &scratch);
  v1::CosineResponse response;
  const ResultBuffers out = PrepareCosineResponse(r, task, &response);
  CHECK(out.top_indices.size() == 4);
  CHECK(out.top_scores.size() == 4);
  CHECK(out.scores.empty());
  CHECK_FALSE(response.has_scores());
  CHECK(response.top_k() == 2);
}

}  // namespace
}  // namespace simile::server
