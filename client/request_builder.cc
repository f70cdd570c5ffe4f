#include "client/request_builder.h"

#include <bit>
#include <cstring>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace simile::client {

namespace {

// `raw` is little-endian IEEE-754 float32 on the wire, so a host float buffer is sent as is.
static_assert(
    std::endian::native == std::endian::little,
    "simile's raw encoding copies host floats as bytes: a big-endian host needs a byte swap");
static_assert(sizeof(float) == 4 && std::numeric_limits<float>::is_iec559);

constexpr uint64_t kMaxMatrixBytes =
    std::numeric_limits<int32_t>::max();  // protobuf's message limit.

absl::Status FillMatrix(absl::string_view name, absl::Span<const float> data, uint32_t rows,
                        uint32_t dim, Encoding encoding, v1::Matrix* matrix) {
  const uint64_t count = uint64_t{rows} * dim;
  if (data.size() != count) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": ", data.size(), " floats given for ",
                                                   rows, " rows x ", dim, " dim = ", count));
  }
  if (count * sizeof(float) > kMaxMatrixBytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat(name, ": ", rows, " x ", dim, " floats are over ",
                     "protobuf's 2 GiB message limit; split the request"));
  }
  matrix->set_rows(rows);
  matrix->set_dim(dim);
  if (encoding == Encoding::kRaw) {
    matrix->clear_values();
    matrix->mutable_raw()->assign(reinterpret_cast<const char*>(data.data()),
                                  data.size() * sizeof(float));
  } else {
    matrix->clear_raw();
    matrix->mutable_values()->Assign(data.begin(), data.end());
  }
  return absl::OkStatus();
}

absl::Status Malformed(absl::string_view what) {
  return absl::InternalError(absl::StrCat("malformed CosineResponse: ", what));
}

// Copies `count` floats from a Matrix's raw or values field into `out`.
absl::Status CopyScores(const v1::Matrix& m, uint64_t count, std::vector<float>* out) {
  const bool has_raw = !m.raw().empty();
  const bool has_values = m.values_size() > 0;
  if (has_raw == has_values) {
    return Malformed("scores must carry exactly one of raw or values");
  }
  if (has_raw) {
    if (m.raw().size() != count * sizeof(float)) {
      return Malformed(absl::StrCat("scores.raw has ", m.raw().size(), " bytes, expected ",
                                    count * sizeof(float)));
    }
    out->resize(count);
    std::memcpy(out->data(), m.raw().data(), m.raw().size());
  } else {
    if (static_cast<uint64_t>(m.values_size()) != count) {
      return Malformed(
          absl::StrCat("scores.values has ", m.values_size(), " floats, expected ", count));
    }
    out->assign(m.values().begin(), m.values().end());
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status BuildCosineRequest(const CosineArgs& args, v1::CosineRequest* request) {
  if (absl::Status s = FillMatrix("queries", args.queries, args.q, args.dim, args.encoding,
                                  request->mutable_queries());
      !s.ok()) {
    return s;
  }
  if (!args.target_set.empty()) {
    if (!args.targets.empty() || args.n != 0) {
      return absl::InvalidArgumentError("give either targets or target_set, not both");
    }
    request->set_target_set(args.target_set);
    request->set_target_set_version(args.target_set_version);
  } else if (absl::Status s = FillMatrix("targets", args.targets, args.n, args.dim, args.encoding,
                                         request->mutable_targets());
             !s.ok()) {
    return s;
  }
  request->set_top_k(args.top_k);
  request->set_placement(ToProto(args.placement));
  return absl::OkStatus();
}

absl::StatusOr<CosineResult> DecodeCosineResponse(uint32_t q, uint32_t n, uint32_t top_k,
                                                  const v1::CosineResponse& response) {
  if (response.num_queries() != q || response.num_targets() != n || response.top_k() != top_k) {
    return Malformed(absl::StrCat("answers Q=", response.num_queries(),
                                  " N=", response.num_targets(), " top_k=", response.top_k(),
                                  " to a request for Q=", q, " N=", n, " top_k=", top_k));
  }
  CosineResult result;
  result.num_queries = q;
  result.num_targets = n;
  result.top_k = top_k;
  result.report = response.report();
  if (top_k == 0) {
    if (response.top_indices_size() != 0 || response.top_scores_size() != 0) {
      return Malformed("top-k lists set although the full matrix was asked for");
    }
    if (!response.has_scores() || response.scores().rows() != q || response.scores().dim() != n) {
      return Malformed(absl::StrCat("scores are ", response.scores().rows(), " x ",
                                    response.scores().dim(), ", expected ", q, " x ", n));
    }
    if (absl::Status s = CopyScores(response.scores(), uint64_t{q} * n, &result.scores); !s.ok()) {
      return s;
    }
    return result;
  }
  const uint64_t count = uint64_t{q} * top_k;
  if (response.has_scores()) {
    return Malformed("a score matrix set although top_k was asked for");
  }
  if (static_cast<uint64_t>(response.top_indices_size()) != count ||
      static_cast<uint64_t>(response.top_scores_size()) != count) {
    return Malformed(absl::StrCat(response.top_indices_size(), " top indices and ",
                                  response.top_scores_size(), " top scores, expected ", count));
  }
  for (uint32_t index : response.top_indices()) {
    if (index >= n) {
      return Malformed(absl::StrCat("top index ", index, " is out of range for ", n, " targets"));
    }
  }
  result.top_indices.assign(response.top_indices().begin(), response.top_indices().end());
  result.top_scores.assign(response.top_scores().begin(), response.top_scores().end());
  return result;
}

}  // namespace simile::client
