#include "core/task_validation.h"

#include <cmath>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace simile {
namespace {

absl::Status CheckMatrixShape(const MatrixView& m, absl::string_view name, const Limits& limits,
                              uint32_t max_rows, absl::string_view rows_limit_name) {
  if (m.rows == 0) return absl::InvalidArgumentError(absl::StrCat(name, ".rows must be >= 1"));
  if (m.dim == 0) return absl::InvalidArgumentError(absl::StrCat(name, ".dim must be >= 1"));
  if (m.dim > limits.max_dim) {
    return absl::ResourceExhaustedError(absl::StrCat(name, ".dim ", m.dim, " exceeds the limit of ",
                                                     limits.max_dim, " (limits.max_dim)"));
  }
  if (m.rows > max_rows) {
    return absl::ResourceExhaustedError(absl::StrCat(
        name, ".rows ", m.rows, " exceeds the limit of ", max_rows, " (", rows_limit_name, ")"));
  }
  return absl::OkStatus();
}

// True when the float's exponent bits are all ones (NaN or +-Inf). Branch-free so the scan
// vectorizes.
inline bool IsNonFinite(uint32_t bits) { return (bits & 0x7f800000u) == 0x7f800000u; }

}  // namespace

absl::Status ValidateTaskShape(const CosineTask& task, const Limits& limits) {
  if (absl::Status s = CheckMatrixShape(task.queries, "queries", limits, limits.max_queries,
                                        "limits.max_queries");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckMatrixShape(task.targets, "targets", limits, limits.max_targets,
                                        "limits.max_targets");
      !s.ok()) {
    return s;
  }
  if (task.targets.dim != task.queries.dim) {
    return absl::InvalidArgumentError(absl::StrCat(
        "targets.dim (", task.targets.dim, ") differs from queries.dim (", task.queries.dim, ")"));
  }
  if (task.top_k > task.targets.rows) {
    return absl::InvalidArgumentError(absl::StrCat(
        "top_k (", task.top_k, ") exceeds the number of targets (", task.targets.rows, ")"));
  }
  const uint64_t results =
      task.top_k == 0 ? task.num_scores() : static_cast<uint64_t>(task.queries.rows) * task.top_k;
  if (results > limits.max_result_elements) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the result would hold ", results, " scores (queries.rows x ",
                     task.top_k == 0 ? "targets.rows" : "top_k", "), above the limit of ",
                     limits.max_result_elements, " (limits.max_result_elements)"));
  }
  return absl::OkStatus();
}

absl::Status CheckFinite(const MatrixView& m, absl::string_view name) {
  for (uint32_t r = 0; r < m.rows; ++r) {
    const float* row = m.Row(r);
    // OR-reduce a per-element flag over the row (vectorizes); locate the column only on failure.
    uint32_t any_bad = 0;
    for (uint32_t c = 0; c < m.dim; ++c) {
      uint32_t bits;
      std::memcpy(&bits, &row[c], sizeof(bits));
      any_bad |= static_cast<uint32_t>(IsNonFinite(bits));
    }
    if (any_bad == 0) continue;
    for (uint32_t c = 0; c < m.dim; ++c) {
      if (!std::isfinite(row[c])) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, " row ", r, " has a non-finite value (",
                         std::isnan(row[c]) ? "NaN" : "Inf", ") at column ", c));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateTask(const CosineTask& task, const Limits& limits) {
  if (absl::Status s = ValidateTaskShape(task, limits); !s.ok()) return s;
  if (absl::Status s = CheckFinite(task.queries, "queries"); !s.ok()) return s;
  return CheckFinite(task.targets, "targets");
}

}  // namespace simile
