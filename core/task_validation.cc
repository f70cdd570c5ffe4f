#include "core/task_validation.h"

#include <cmath>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/cpu_cosine.h"

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

// Nonzero when any of the n floats is NaN or +-Inf: an OR-reduction the compiler turns into whole-register
// compares. Compiled once per instruction set below, because this scan reads every byte of a request's vectors
// before the kernel does (a profile of 10^4 x 768 requests put the baseline build of it at three times the
// kernel's instructions).
[[gnu::always_inline]] inline uint32_t AnyNonFiniteImpl(const float* x, size_t n) {
  uint32_t any = 0;
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &x[i], sizeof(bits));
    any |= static_cast<uint32_t>(IsNonFinite(bits));
  }
  return any;
}
uint32_t AnyNonFiniteBaseline(const float* x, size_t n) { return AnyNonFiniteImpl(x, n); }
#if defined(__x86_64__)
__attribute__((target("avx2"))) uint32_t AnyNonFiniteAvx2(const float* x, size_t n) {
  return AnyNonFiniteImpl(x, n);
}
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl"))) uint32_t AnyNonFiniteAvx512(const float* x,
                                                                                          size_t n) {
  return AnyNonFiniteImpl(x, n);
}
#endif

uint32_t AnyNonFinite(const float* x, size_t n) {
#if defined(__x86_64__)
  static const auto scan = [] {
    switch (BestCpuIsa()) {
      case CpuIsa::kAvx512:
        return &AnyNonFiniteAvx512;
      case CpuIsa::kAvx2:
        return &AnyNonFiniteAvx2;
      case CpuIsa::kBaseline:
        break;
    }
    return &AnyNonFiniteBaseline;
  }();
  return scan(x, n);
#else
  return AnyNonFiniteBaseline(x, n);
#endif
}

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
  // The rows are contiguous: one scan of the whole matrix, and the row and column are located only on failure.
  if (AnyNonFinite(m.data, m.size()) == 0) return absl::OkStatus();
  for (uint32_t r = 0; r < m.rows; ++r) {
    const float* row = m.Row(r);
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
  if (task.targets_known_finite) return absl::OkStatus();
  return CheckFinite(task.targets, "targets");
}

}  // namespace simile
