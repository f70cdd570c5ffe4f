// Tests of client/request_builder.h: both encodings carry the same float32 numbers (checked by
// parsing the serialized request, as the server would), sizes and copies, span-size errors, and the
// checks DecodeCosineResponse makes on what comes back.
#include "client/request_builder.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace simile::client {
namespace {

const std::vector<float> kQueries = {1.0f, 2.0f, -0.0f, 1e-38f, 3.5f, -7.25f};  // 2 x 3
const std::vector<float> kTargets = {0.1f, 0.2f, 0.3f};                         // 1 x 3

CosineArgs Args(Encoding encoding) {
  CosineArgs args;
  args.queries = kQueries;
  args.q = 2;
  args.targets = kTargets;
  args.n = 1;
  args.dim = 3;
  args.top_k = 1;
  args.placement = Placement::kCpu;
  args.encoding = encoding;
  return args;
}

// The floats a server decodes from `m`, whichever field carries them.
std::vector<float> Floats(const v1::Matrix& m) {
  if (!m.raw().empty()) {
    std::vector<float> out(m.raw().size() / 4);
    std::memcpy(out.data(), m.raw().data(), m.raw().size());
    return out;
  }
  return {m.values().begin(), m.values().end()};
}

// Bitwise equality, so that -0.0 and denormals count.
bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST_CASE("request: raw and values encode the same float32 numbers", "[client][request]") {
  v1::CosineRequest raw_request;
  v1::CosineRequest values_request;
  REQUIRE(BuildCosineRequest(Args(Encoding::kRaw), &raw_request).ok());
  REQUIRE(BuildCosineRequest(Args(Encoding::kValues), &values_request).ok());

  // Through the wire format, as the server sees them.
  v1::CosineRequest raw_parsed;
  v1::CosineRequest values_parsed;
  REQUIRE(raw_parsed.ParseFromString(raw_request.SerializeAsString()));
  REQUIRE(values_parsed.ParseFromString(values_request.SerializeAsString()));

  CHECK(raw_parsed.queries().values_size() == 0);
  CHECK(raw_parsed.queries().raw().size() == kQueries.size() * 4);
  CHECK(values_parsed.queries().raw().empty());
  CHECK(values_parsed.queries().values_size() == static_cast<int>(kQueries.size()));
  CHECK(SameBits(Floats(raw_parsed.queries()), kQueries));
  CHECK(SameBits(Floats(values_parsed.queries()), kQueries));
  CHECK(SameBits(Floats(raw_parsed.targets()), kTargets));
  CHECK(SameBits(Floats(values_parsed.targets()), kTargets));
  for (const v1::CosineRequest* r : {&raw_parsed, &values_parsed}) {
    CHECK(r->queries().rows() == 2);
    CHECK(r->queries().dim() == 3);
    CHECK(r->targets().rows() == 1);
    CHECK(r->targets().dim() == 3);
    CHECK(r->top_k() == 1);
    CHECK(r->placement() == v1::PLACEMENT_CPU);
  }
}

TEST_CASE("request: raw is little-endian IEEE-754 bytes", "[client][request]") {
  const std::vector<float> one = {1.0f};
  CosineArgs args;
  args.queries = one;
  args.q = 1;
  args.targets = one;
  args.n = 1;
  args.dim = 1;
  v1::CosineRequest request;
  REQUIRE(BuildCosineRequest(args, &request).ok());
  CHECK(request.queries().raw() == std::string("\x00\x00\x80\x3f", 4));  // 1.0f = 0x3f800000
  CHECK(request.placement() == v1::PLACEMENT_AUTO);
  CHECK(request.top_k() == 0);
}

TEST_CASE("request: the serialized sizes are the data plus a few bytes of framing",
          "[client][request]") {
  std::vector<float> queries(size_t{4} * 768, 0.5f);
  std::vector<float> targets(size_t{1000} * 768, 0.25f);
  CosineArgs args;
  args.queries = queries;
  args.q = 4;
  args.targets = targets;
  args.n = 1000;
  args.dim = 768;
  const size_t data_bytes = (queries.size() + targets.size()) * sizeof(float);
  for (Encoding encoding : {Encoding::kRaw, Encoding::kValues}) {
    args.encoding = encoding;
    v1::CosineRequest request;
    REQUIRE(BuildCosineRequest(args, &request).ok());
    const size_t size = request.ByteSizeLong();
    CHECK(size >= data_bytes);
    CHECK(size <= data_bytes + 32);
  }
}

TEST_CASE("request: the raw buffer is a copy, exactly sized, not a view of the caller's floats",
          "[client][request]") {
  std::vector<float> queries = {1, 2, 3};
  CosineArgs args = Args(Encoding::kRaw);
  args.queries = queries;
  args.q = 1;
  v1::CosineRequest request;
  REQUIRE(BuildCosineRequest(args, &request).ok());
  queries[0] = 99;
  CHECK(Floats(request.queries()) == std::vector<float>{1, 2, 3});
  CHECK(request.queries().raw().size() == 12);
}

TEST_CASE("request: rebuilding a request in the other encoding clears the old field",
          "[client][request]") {
  v1::CosineRequest request;
  REQUIRE(BuildCosineRequest(Args(Encoding::kValues), &request).ok());
  REQUIRE(BuildCosineRequest(Args(Encoding::kRaw), &request).ok());
  CHECK(request.queries().values_size() == 0);
  CHECK(request.targets().values_size() == 0);
  REQUIRE(BuildCosineRequest(Args(Encoding::kValues), &request).ok());
  CHECK(request.queries().raw().empty());
  CHECK(request.queries().values_size() == 6);
}

TEST_CASE("request: spans that do not match rows x dim are INVALID_ARGUMENT", "[client][request]") {
  CosineArgs args = Args(Encoding::kRaw);
  args.q = 3;
  v1::CosineRequest request;
  absl::Status s = BuildCosineRequest(args, &request);
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(s.message() == "queries: 6 floats given for 3 rows x 3 dim = 9");

  args = Args(Encoding::kValues);
  args.dim = 2;
  s = BuildCosineRequest(args, &request);
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(s.message() == "queries: 6 floats given for 2 rows x 2 dim = 4");
}

TEST_CASE("request: placement and encoding names parse and print", "[client][request]") {
  for (Placement p : {Placement::kAuto, Placement::kCpu, Placement::kGpu}) {
    CHECK(*ParsePlacement(PlacementName(p)) == p);
  }
  for (Encoding e : {Encoding::kRaw, Encoding::kValues}) {
    CHECK(*ParseEncoding(EncodingName(e)) == e);
  }
  CHECK(ToProto(Placement::kGpu) == v1::PLACEMENT_GPU);
  CHECK(ParsePlacement("GPU").status().message() ==
        "placement must be auto, cpu or gpu, not 'GPU'");
  CHECK(ParseEncoding("bytes").status().code() == absl::StatusCode::kInvalidArgument);
}

v1::CosineResponse FullResponse(uint32_t q, uint32_t n, bool raw) {
  v1::CosineResponse response;
  response.set_num_queries(q);
  response.set_num_targets(n);
  v1::Matrix* m = response.mutable_scores();
  m->set_rows(q);
  m->set_dim(n);
  std::vector<float> scores(size_t{q} * n);
  for (size_t i = 0; i < scores.size(); ++i) {
    scores[i] = static_cast<float>(i) / 10;
  }
  if (raw) {
    m->set_raw(std::string(reinterpret_cast<const char*>(scores.data()), scores.size() * 4));
  } else {
    m->mutable_values()->Assign(scores.begin(), scores.end());
  }
  response.mutable_report()->set_backend(v1::BACKEND_CPU);
  response.mutable_report()->set_chunks(3);
  return response;
}

TEST_CASE("response: a full matrix decodes the same from raw and values", "[client][response]") {
  for (bool raw : {true, false}) {
    absl::StatusOr<CosineResult> r = DecodeCosineResponse(2, 3, 0, FullResponse(2, 3, raw));
    REQUIRE(r.ok());
    CHECK(r->scores == std::vector<float>{0.0f, 0.1f, 0.2f, 0.3f, 0.4f, 0.5f});
    CHECK(r->top_indices.empty());
    CHECK(r->report.backend() == v1::BACKEND_CPU);
    CHECK(r->report.chunks() == 3);
  }
}

TEST_CASE("response: top-k lists decode with their indices", "[client][response]") {
  v1::CosineResponse response;
  response.set_num_queries(2);
  response.set_num_targets(5);
  response.set_top_k(2);
  for (uint32_t i : {4u, 0u, 1u, 2u}) {
    response.add_top_indices(i);
    response.add_top_scores(1.0f - static_cast<float>(i) / 10);
  }
  absl::StatusOr<CosineResult> r = DecodeCosineResponse(2, 5, 2, response);
  REQUIRE(r.ok());
  CHECK(r->top_indices == std::vector<uint32_t>{4, 0, 1, 2});
  CHECK(r->top_scores.size() == 4);
  CHECK(r->scores.empty());
}

TEST_CASE("response: answers that do not fit the request are INTERNAL", "[client][response]") {
  const auto error = [](uint32_t q, uint32_t n, uint32_t k, const v1::CosineResponse& response) {
    absl::StatusOr<CosineResult> r = DecodeCosineResponse(q, n, k, response);
    REQUIRE(!r.ok());
    CHECK(r.status().code() == absl::StatusCode::kInternal);
    return std::string(r.status().message());
  };
  CHECK(error(2, 4, 0, FullResponse(2, 3, true)) ==
        "malformed CosineResponse: answers Q=2 N=3 top_k=0 to a request for Q=2 N=4 top_k=0");
  v1::CosineResponse short_raw = FullResponse(2, 3, true);
  short_raw.mutable_scores()->mutable_raw()->resize(20);
  CHECK(error(2, 3, 0, short_raw) ==
        "malformed CosineResponse: scores.raw has 20 bytes, expected 24");
  v1::CosineResponse both = FullResponse(2, 3, true);
  both.mutable_scores()->add_values(1);
  CHECK(error(2, 3, 0, both) ==
        "malformed CosineResponse: scores must carry exactly one of raw or values");
  v1::CosineResponse transposed = FullResponse(2, 3, false);
  transposed.mutable_scores()->set_rows(3);
  transposed.mutable_scores()->set_dim(2);
  CHECK(error(2, 3, 0, transposed) == "malformed CosineResponse: scores are 3 x 2, expected 2 x 3");

  v1::CosineResponse top;
  top.set_num_queries(1);
  top.set_num_targets(3);
  top.set_top_k(2);
  top.add_top_indices(0);
  top.add_top_scores(1);
  CHECK(error(1, 3, 2, top) ==
        "malformed CosineResponse: 1 top indices and 1 top scores, expected 2");
  top.add_top_indices(3);
  top.add_top_scores(0.5f);
  CHECK(error(1, 3, 2, top) ==
        "malformed CosineResponse: top index 3 is out of range for 3 targets");
}

}  // namespace
}  // namespace simile::client
