#include "server/request_decoder.h"

#include <bit>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace simile::server {
namespace {

static_assert(std::endian::native == std::endian::little,
              "Matrix.raw is little-endian float32: a big-endian host would need a byte swap");

constexpr Placement ToCorePlacement(v1::Placement p) {
  switch (p) {
    case v1::PLACEMENT_CPU:
      return Placement::kCpu;
    case v1::PLACEMENT_GPU:
      return Placement::kGpu;
    default:  // PLACEMENT_AUTO, and values from a newer client: let the dispatcher decide.
      return Placement::kAuto;
  }
}


}  // namespace

absl::StatusOr<MatrixView> DecodeMatrix(const v1::Matrix& m, absl::string_view name,
                                        std::vector<float>* scratch) {
  MatrixView view{nullptr, m.rows(), m.dim()};
  // rows or dim of 0 is reported by core's shape validation, with no data checks that would
  // mislead.
  if (m.rows() == 0 || m.dim() == 0) return view;
  const bool has_values = m.values_size() > 0;
  const bool has_raw = !m.raw().empty();
  if (has_values == has_raw) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": exactly one of ", name, ".values or ", name, ".raw must carry the data (",
        has_values ? "both are set" : "neither is set", ")"));
  }
  const uint64_t expected = static_cast<uint64_t>(m.rows()) * m.dim();
  if (has_values) {
    if (static_cast<uint64_t>(m.values_size()) != expected) {
      return absl::InvalidArgumentError(absl::StrCat(name, ".values holds ", m.values_size(),
                                                     " floats but rows * dim = ", m.rows(), " * ",
                                                     m.dim(), " = ", expected));
    }
    view.data = m.values().data();
    return view;
  }
  const size_t raw_bytes = m.raw().size();
  if (raw_bytes % sizeof(float) != 0 || raw_bytes / sizeof(float) != expected) {
    // rows * dim fits in 64 bits (both are 32-bit); 4 * rows * dim may not, so it is printed only
    // when it does.
    const bool fits = expected <= UINT64_MAX / sizeof(float);
    return absl::InvalidArgumentError(absl::StrCat(
        name, ".raw holds ", raw_bytes, " bytes but 4 * rows * dim = 4 * ", m.rows(), " * ",
        m.dim(), " = ",
        fits ? absl::StrCat(expected * sizeof(float)) : std::string("more than 2^64")));
  }
  const char* bytes = m.raw().data();
  if (reinterpret_cast<uintptr_t>(bytes) % alignof(float) == 0) {
    view.data = reinterpret_cast<const float*>(bytes);
  } else {
    scratch->resize(expected);
    std::memcpy(scratch->data(), bytes, m.raw().size());
    view.data = scratch->data();
  }
  return view;
}

absl::StatusOr<CosineTask> DecodeCosineRequest(const v1::CosineRequest& request,
                                               DecodeScratch* scratch, const TargetSetVersion* target_set) {
  if (!request.has_queries()) return absl::InvalidArgumentError("queries is required");
  const bool wants_set = !request.target_set().empty();
  if (wants_set && request.has_targets()) {
    return absl::InvalidArgumentError("set either targets or target_set, not both");
  }
  if (!wants_set && !request.has_targets()) {
    return absl::InvalidArgumentError("targets (or target_set) is required");
  }
  if (wants_set != (target_set != nullptr)) {
    return absl::InternalError("a target-set request was decoded without its set");
  }
  CosineTask task;
  absl::StatusOr<MatrixView> queries =
      DecodeMatrix(request.queries(), "queries", &scratch->queries);
  if (!queries.ok()) return queries.status();
  task.queries = *queries;
  if (target_set != nullptr) {
    task.targets = target_set->view();
    task.targets_known_finite = true;  // Checked when the rows were uploaded.
    task.target_set = target_set;
  } else {
    absl::StatusOr<MatrixView> targets =
        DecodeMatrix(request.targets(), "targets", &scratch->targets);
    if (!targets.ok()) return targets.status();
    task.targets = *targets;
  }
  task.top_k = request.top_k();
  task.placement = ToCorePlacement(request.placement());
  return task;
}

ResultBuffers PrepareCosineResponse(const v1::CosineRequest& request, const CosineTask& task,
                                    v1::CosineResponse* response) {
  ResultBuffers out;
  response->set_num_queries(task.queries.rows);
  response->set_num_targets(task.targets.rows);
  response->set_top_k(task.top_k);
  if (task.top_k > 0) {
    const int n = static_cast<int>(static_cast<uint64_t>(task.queries.rows) * task.top_k);
    response->mutable_top_indices()->Resize(n, 0);
    response->mutable_top_scores()->Resize(n, 0.0f);
    out.top_indices = absl::MakeSpan(response->mutable_top_indices()->mutable_data(), n);
    out.top_scores = absl::MakeSpan(response->mutable_top_scores()->mutable_data(), n);
    return out;
  }
  const uint64_t n = task.num_scores();
  v1::Matrix* scores = response->mutable_scores();
  scores->set_rows(task.queries.rows);
  scores->set_dim(task.targets.rows);
  if (!request.queries().raw().empty()) {
    std::string* raw = scores->mutable_raw();
    raw->resize(n * sizeof(float));
    // std::string storage comes from operator new: aligned for float.
    out.scores = absl::MakeSpan(reinterpret_cast<float*>(raw->data()), n);
  } else {
    scores->mutable_values()->Resize(static_cast<int>(n), 0.0f);
    out.scores = absl::MakeSpan(scores->mutable_values()->mutable_data(), n);
  }
  return out;
}

}  // namespace simile::server
