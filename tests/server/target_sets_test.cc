// simile.v1.TargetSets end to end against a real in-process server: uploads in chunks, queries on a set equal
// to the same query with inline targets (and to the float64 reference), versions, every error status, and
// uploads that break off leaving nothing behind.
#include <grpcpp/grpcpp.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "client/simile_client.h"
#include "simile/v1/admin.grpc.pb.h"
#include "simile/v1/target_sets.grpc.pb.h"
#include "tests/server/metrics_text.h"
#include "tests/server/server_fixture.h"
#include "tests/testing/cosine_reference.h"

namespace simile::testing {
namespace {

std::vector<float> Random(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

void SetRaw(v1::Matrix* m, const float* data, uint32_t rows, uint32_t dim) {
  m->set_rows(rows);
  m->set_dim(dim);
  m->set_raw(std::string(reinterpret_cast<const char*>(data), size_t{rows} * dim * sizeof(float)));
}

std::vector<float> ScoresOf(const v1::CosineResponse& response) {
  const v1::Matrix& m = response.scores();
  std::vector<float> out(m.raw().size() / sizeof(float));
  std::memcpy(out.data(), m.raw().data(), m.raw().size());
  return out;
}

class SetsClient {
 public:
  explicit SetsClient(ServerFixture& server) : stub_(v1::TargetSets::NewStub(server.channel())) {}

  // Uploads rows x dim floats in chunks of `chunk_rows` (create, or append when `append`).
  grpc::Status Upload(const std::string& name, const std::vector<float>& data, uint32_t dim, uint32_t chunk_rows,
                      bool append, v1::TargetSetInfo* info) {
    grpc::ClientContext context;
    auto writer = append ? stub_->AppendTargetSet(&context, info) : stub_->CreateTargetSet(&context, info);
    const uint32_t rows = static_cast<uint32_t>(data.size() / dim);
    for (uint32_t begin = 0; begin < rows; begin += chunk_rows) {
      v1::TargetSetChunk chunk;
      if (begin == 0) chunk.set_name(name);
      SetRaw(chunk.mutable_rows(), data.data() + size_t{begin} * dim, std::min(chunk_rows, rows - begin), dim);
      if (!writer->Write(chunk)) break;  // The server ended the stream (an error): Finish says why.
    }
    writer->WritesDone();
    return writer->Finish();
  }

  v1::TargetSets::Stub& stub() { return *stub_; }

  v1::ListTargetSetsResponse List() {
    grpc::ClientContext context;
    v1::ListTargetSetsResponse response;
    REQUIRE(stub_->ListTargetSets(&context, v1::ListTargetSetsRequest(), &response).ok());
    return response;
  }

 private:
  std::unique_ptr<v1::TargetSets::Stub> stub_;
};

v1::CosineRequest QueryOnSet(const std::vector<float>& queries, uint32_t q, uint32_t dim, const std::string& set,
                             uint32_t top_k = 0) {
  v1::CosineRequest request;
  SetRaw(request.mutable_queries(), queries.data(), q, dim);
  request.set_target_set(set);
  request.set_top_k(top_k);
  return request;
}

TEST_CASE("A target set uploaded in chunks answers like the same targets sent inline", "[target_sets]") {
  ServerFixture server;
  SetsClient sets(server);
  constexpr uint32_t kDim = 33, kRows = 1000, kQ = 3;
  const std::vector<float> targets = Random(size_t{kRows} * kDim, 1);
  const std::vector<float> queries = Random(size_t{kQ} * kDim, 2);
  v1::TargetSetInfo info;
  REQUIRE(sets.Upload("docs.v1", targets, kDim, 128, false, &info).ok());
  CHECK(info.name() == "docs.v1");
  CHECK(info.rows() == kRows);
  CHECK(info.dim() == kDim);
  CHECK(info.version() == 1);
  CHECK(info.bytes() == (size_t{kRows} * kDim + kRows) * sizeof(float));
  CHECK(info.resident_on_size() == 1);

  v1::CosineResponse on_set, inline_targets;
  REQUIRE(server.Cosine(QueryOnSet(queries, kQ, kDim, "docs.v1"), &on_set).ok());
  v1::CosineRequest inline_request;
  SetRaw(inline_request.mutable_queries(), queries.data(), kQ, kDim);
  SetRaw(inline_request.mutable_targets(), targets.data(), kRows, kDim);
  REQUIRE(server.Cosine(inline_request, &inline_targets).ok());
  CHECK(ScoresOf(on_set) == ScoresOf(inline_targets));  // The same kernel over the same bytes.
  const std::vector<double> expected = ReferenceCosine(queries, targets, kDim);
  const std::vector<float> got = ScoresOf(on_set);
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) REQUIRE(std::abs(got[i] - expected[i]) <= 1e-5);
  CHECK(on_set.report().target_set() == "docs.v1");
  CHECK(on_set.report().target_set_version() == 1);
  CHECK(on_set.report().targets_resident());
  CHECK_FALSE(inline_targets.report().targets_resident());

  // Top-k on the set: the reference's indices.
  v1::CosineResponse top;
  REQUIRE(server.Cosine(QueryOnSet(queries, kQ, kDim, "docs.v1", 7), &top).ok());
  for (uint32_t q = 0; q < kQ; ++q) {
    const std::vector<uint32_t> want = ReferenceTopK(expected, kRows, q, 7);
    for (uint32_t i = 0; i < 7; ++i) CHECK(top.top_indices(static_cast<int>(q * 7 + i)) == want[i]);
  }
}

TEST_CASE("Appends make new versions and a stale version is refused", "[target_sets]") {
  ServerFixture server;
  SetsClient sets(server);
  constexpr uint32_t kDim = 8;
  const std::vector<float> first = Random(50 * kDim, 3), second = Random(20 * kDim, 4);
  v1::TargetSetInfo info;
  REQUIRE(sets.Upload("s", first, kDim, 16, false, &info).ok());
  REQUIRE(sets.Upload("s", second, kDim, 16, true, &info).ok());
  CHECK(info.version() == 2);
  CHECK(info.rows() == 70);

  std::vector<float> all = first;
  all.insert(all.end(), second.begin(), second.end());
  const std::vector<float> query = Random(kDim, 5);
  v1::CosineResponse response;
  v1::CosineRequest request = QueryOnSet(query, 1, kDim, "s");
  request.set_target_set_version(2);
  REQUIRE(server.Cosine(request, &response).ok());
  const std::vector<double> expected = ReferenceCosine(query, all, kDim);
  const std::vector<float> got = ScoresOf(response);
  REQUIRE(got.size() == 70);
  for (size_t i = 0; i < got.size(); ++i) CHECK(std::abs(got[i] - expected[i]) <= 1e-5);

  request.set_target_set_version(1);
  const grpc::Status stale = server.Cosine(request, &response);
  CHECK(stale.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  CHECK(stale.error_message() == "target set 's' is at version 2, not 1 (only the current version can be queried)");

  // An append of another dim is refused and leaves version 2 in place.
  const std::vector<float> wrong_dim = Random(4 * 9, 6);
  const grpc::Status bad = sets.Upload("s", wrong_dim, 9, 4, true, &info);
  CHECK(bad.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(bad.error_message() == "rows.dim (9) differs from target set 's''s dim (8)");
  REQUIRE(sets.List().sets_size() == 1);
  CHECK(sets.List().sets(0).version() == 2);
}

TEST_CASE("Target set errors are precise statuses", "[target_sets]") {
  ServerFixture server;
  SetsClient sets(server);
  const std::vector<float> rows = Random(10 * 4, 7);
  v1::TargetSetInfo info;
  REQUIRE(sets.Upload("a", rows, 4, 5, false, &info).ok());

  const grpc::Status clash = sets.Upload("a", rows, 4, 5, false, &info);
  CHECK(clash.error_code() == grpc::StatusCode::ALREADY_EXISTS);
  CHECK(clash.error_message() == "target set 'a' already exists");
  CHECK(sets.Upload("b", rows, 4, 5, true, &info).error_code() == grpc::StatusCode::NOT_FOUND);
  const grpc::Status bad_name = sets.Upload("no spaces", rows, 4, 5, false, &info);
  CHECK(bad_name.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  std::vector<float> nan_rows = rows;
  nan_rows[6] = std::nanf("");
  const grpc::Status nan = sets.Upload("c", nan_rows, 4, 5, false, &info);
  CHECK(nan.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(nan.error_message() == "rows row 1 has a non-finite value (NaN) at column 2");

  v1::CosineResponse response;
  const std::vector<float> query = Random(4, 8);
  const grpc::Status missing = server.Cosine(QueryOnSet(query, 1, 4, "zzz"), &response);
  CHECK(missing.error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK(missing.error_message() == "no target set named 'zzz'");
  v1::CosineRequest both = QueryOnSet(query, 1, 4, "a");
  SetRaw(both.mutable_targets(), rows.data(), 10, 4);
  const grpc::Status both_status = server.Cosine(both, &response);
  CHECK(both_status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(both_status.error_message() == "set either targets or target_set, not both");
  const std::vector<float> wrong_dim_query = Random(5, 9);
  CHECK(server.Cosine(QueryOnSet(wrong_dim_query, 1, 5, "a"), &response).error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);

  grpc::ClientContext describe_context;
  v1::DescribeTargetSetRequest describe;
  describe.set_name("nope");
  CHECK(sets.stub().DescribeTargetSet(&describe_context, describe, &info).error_code() ==
        grpc::StatusCode::NOT_FOUND);
  grpc::ClientContext delete_context;
  v1::DeleteTargetSetRequest del;
  del.set_name("a");
  v1::DeleteTargetSetResponse deleted;
  REQUIRE(sets.stub().DeleteTargetSet(&delete_context, del, &deleted).ok());
  CHECK(server.Cosine(QueryOnSet(query, 1, 4, "a"), &response).error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK(sets.List().sets_size() == 0);
  CHECK(sets.List().total_bytes() == 0);
  CHECK_FALSE(sets.List().persistent());
}

TEST_CASE("An upload that breaks off or exceeds the memory cap leaves nothing behind", "[target_sets]") {
  server::ServerOptions options;
  options.target_sets_max_bytes = 64 * 1024;  // 64 KiB: 15 rows of 1024 floats plus norms fit, 16 do not.
  ServerFixture server("", options);
  SetsClient sets(server);

  {  // The client cancels after two chunks.
    grpc::ClientContext context;
    v1::TargetSetInfo info;
    auto writer = sets.stub().CreateTargetSet(&context, &info);
    const std::vector<float> rows = Random(2 * 16, 10);
    v1::TargetSetChunk chunk;
    chunk.set_name("broken");
    SetRaw(chunk.mutable_rows(), rows.data(), 2, 16);
    REQUIRE(writer->Write(chunk));
    chunk.clear_name();
    REQUIRE(writer->Write(chunk));
    context.TryCancel();
    CHECK(writer->Finish().error_code() == grpc::StatusCode::CANCELLED);
  }
  CHECK(sets.List().sets_size() == 0);

  // Over the cap: RESOURCE_EXHAUSTED, and the reservation is released (a smaller set fits afterwards).
  v1::TargetSetInfo info;
  const std::vector<float> big = Random(16 * 1024, 11);
  const grpc::Status over = sets.Upload("big", big, 1024, 4, false, &info);
  CHECK(over.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK(sets.List().sets_size() == 0);
  const std::vector<float> fits = Random(15 * 1024, 12);
  REQUIRE(sets.Upload("fits", fits, 1024, 4, false, &info).ok());
  CHECK(sets.List().total_bytes() == (15 * 1024 + 15) * sizeof(float));
  CHECK(sets.List().max_bytes() == 64 * 1024);
}

}  // namespace
}  // namespace simile::testing

namespace simile::testing {
namespace {

TEST_CASE("The C++ client uploads a set and queries it like inline targets", "[target_sets]") {
  ServerFixture server;
  client::SimileClient simile(server.channel());
  constexpr uint32_t kDim = 20, kRows = 300, kQ = 2;
  const std::vector<float> targets = Random(size_t{kRows} * kDim, 21);
  const std::vector<float> queries = Random(size_t{kQ} * kDim, 22);
  absl::StatusOr<v1::TargetSetInfo> info = simile.UploadTargetSet("cpp", targets, kRows, kDim, false, 64);
  REQUIRE(info.ok());
  CHECK(info->rows() == kRows);
  CHECK(simile.UploadTargetSet("cpp", targets, kRows, kDim).status().code() == absl::StatusCode::kAlreadyExists);

  client::CosineArgs on_set;
  on_set.queries = queries;
  on_set.q = kQ;
  on_set.dim = kDim;
  on_set.top_k = 5;
  on_set.target_set = "cpp";
  absl::StatusOr<client::CosineResult> got = simile.Cosine(on_set);
  REQUIRE(got.ok());
  client::CosineArgs inline_args = on_set;
  inline_args.target_set.clear();
  inline_args.targets = targets;
  inline_args.n = kRows;
  absl::StatusOr<client::CosineResult> want = simile.Cosine(inline_args);
  REQUIRE(want.ok());
  CHECK(got->num_targets == kRows);
  CHECK(got->top_indices == want->top_indices);
  CHECK(got->top_scores == want->top_scores);

  absl::StatusOr<v1::ListTargetSetsResponse> list = simile.ListTargetSets();
  REQUIRE(list.ok());
  CHECK(list->sets_size() == 1);
  REQUIRE(simile.DeleteTargetSet("cpp").ok());
  CHECK(simile.Cosine(on_set).status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("On a (simulated) GPU a set is uploaded once, then read resident; delete frees it",
          "[target_sets][residency]") {
  // The simulated GPU computes with the CPU kernel from its own copy of the set (core/simulated_gpu_backend.h),
  // so the resident path runs for real here; the CUDA backend's own copy is tested on a GPU.
  ServerFixture server(R"pb(
    fault_injection { simulate_gpu: true simulated_gpu_memory_bytes: 67108864 }
    chunking { gpu_headroom_bytes: 0 }
    dispatch_policy { min_gpu_batch_resident_one_query: 1 min_gpu_batch_resident_many_queries: 1 explore_fraction: 0 }
  )pb");
  SetsClient sets(server);
  constexpr uint32_t kDim = 24, kRows = 2000, kQ = 2;
  const std::vector<float> targets = Random(size_t{kRows} * kDim, 21);
  const std::vector<float> queries = Random(size_t{kQ} * kDim, 22);
  v1::TargetSetInfo info;
  REQUIRE(sets.Upload("gpu-docs", targets, kDim, 500, false, &info).ok());
  CHECK(info.resident_on_size() == 1);  // Host only until a request takes it to the GPU.

  const std::vector<double> expected = ReferenceCosine(queries, targets, kDim);
  for (int i = 0; i < 3; ++i) {
    v1::CosineResponse response;
    REQUIRE(server.Cosine(QueryOnSet(queries, kQ, kDim, "gpu-docs"), &response).ok());
    INFO("rule " << response.report().rule());
    CHECK(response.report().backend() == v1::BACKEND_GPU);
    CHECK(response.report().target_set_uploaded() == (i == 0));
    CHECK(response.report().targets_resident() == (i > 0));
    const std::vector<float> got = ScoresOf(response);
    REQUIRE(got.size() == expected.size());
    for (size_t e = 0; e < got.size(); ++e) REQUIRE(std::abs(got[e] - expected[e]) <= 1e-5);
  }
  v1::TargetSetInfo described;
  {
    grpc::ClientContext context;
    v1::DescribeTargetSetRequest request;
    request.set_name("gpu-docs");
    REQUIRE(sets.stub().DescribeTargetSet(&context, request, &described).ok());
  }
  REQUIRE(described.resident_on_size() == 2);
  CHECK(described.resident_on(1) == "gpu");
  std::string text = server.server().ScrapeMetrics();
  CHECK(SampleValue(text, R"(simile_target_sets{location="gpu"})") == 1.0);
  CHECK(SampleValue(text, R"(simile_target_set_bytes{location="gpu"})") == double{kRows} * kDim * sizeof(float));
  CHECK(SampleValue(text, R"(simile_target_set_gpu_uploads_total{result="ok"})") == 1.0);
  CHECK(SampleValue(text, R"(simile_target_set_limit_bytes{location="gpu"})") == 67108864 / 2);
  {
    grpc::ClientContext context;
    v1::ServerStatus status;
    REQUIRE(v1::Admin::NewStub(server.channel())->GetStatus(&context, v1::GetStatusRequest(), &status).ok());
    CHECK(status.target_sets().sets() == 1);
    CHECK(status.target_sets().rows() == kRows);
    CHECK(status.target_sets().gpu_sets() == 1);
    CHECK(status.target_sets().gpu_uploads() == 1);
    CHECK(status.target_sets().gpu_limit_bytes() == 67108864 / 2);
    CHECK_FALSE(status.target_sets().persistent());
  }

  grpc::ClientContext context;
  v1::DeleteTargetSetRequest request;
  request.set_name("gpu-docs");
  v1::DeleteTargetSetResponse deleted;
  REQUIRE(sets.stub().DeleteTargetSet(&context, request, &deleted).ok());
  text = server.server().ScrapeMetrics();
  CHECK(SampleValue(text, R"(simile_target_sets{location="gpu"})") == 0.0);
  CHECK(SampleValue(text, R"(simile_target_set_bytes{location="gpu"})") == 0.0);
}

}  // namespace
}  // namespace simile::testing
