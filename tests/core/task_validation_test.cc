// ValidateTask: each shape, limit and finiteness rule, with the exact message the caller will read.
#include "core/task_validation.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"

namespace simile {
namespace {

struct TaskData {
  std::vector<float> q, t;
  CosineTask task;
  TaskData(uint32_t qr, uint32_t tr, uint32_t d, uint32_t top_k = 0)
      : q(qr * d, 1.0f), t(tr * d, 0.5f) {
    task.queries = MatrixView{q.data(), qr, d};
    task.targets = MatrixView{t.data(), tr, d};
    task.top_k = top_k;
  }
};

TEST_CASE("ValidateTask accepts a well-formed task", "[validation]") {
  TaskData data(2, 5, 3, 5);
  CHECK(ValidateTask(data.task, Limits{}).ok());
}

TEST_CASE("ValidateTask rejects zero rows and zero dims", "[validation]") {
  TaskData data(2, 5, 3);
  data.task.queries.rows = 0;
  CHECK(ValidateTask(data.task, Limits{}).message() == "queries.rows must be >= 1");
  data.task.queries.rows = 2;
  data.task.targets.dim = 0;
  CHECK(ValidateTask(data.task, Limits{}).message() == "targets.dim must be >= 1");
}

TEST_CASE("ValidateTask rejects differing dims and top_k above N", "[validation]") {
  TaskData data(2, 5, 3);
  data.task.targets.dim = 4;
  data.task.targets.rows = 3;
  absl::Status s = ValidateTask(data.task, Limits{});
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(s.message() == "targets.dim (4) differs from queries.dim (3)");
  TaskData topk(1, 5, 3, 6);
  CHECK(ValidateTask(topk.task, Limits{}).message() ==
        "top_k (6) exceeds the number of targets (5)");
}

TEST_CASE("ValidateTask names the limit a task exceeds", "[validation]") {
  Limits limits;
  limits.max_dim = 4;
  limits.max_queries = 2;
  limits.max_targets = 10;
  limits.max_result_elements = 12;
  TaskData dim(1, 1, 5);
  CHECK(ValidateTask(dim.task, limits).code() == absl::StatusCode::kResourceExhausted);
  CHECK(ValidateTask(dim.task, limits).message() ==
        "queries.dim 5 exceeds the limit of 4 (limits.max_dim)");
  TaskData queries(3, 1, 2);
  CHECK(ValidateTask(queries.task, limits).message() ==
        "queries.rows 3 exceeds the limit of 2 (limits.max_queries)");
  TaskData targets(1, 11, 2);
  CHECK(ValidateTask(targets.task, limits).message() ==
        "targets.rows 11 exceeds the limit of 10 (limits.max_targets)");
  TaskData result(2, 7, 2);
  CHECK(ValidateTask(result.task, limits).code() == absl::StatusCode::kResourceExhausted);
  TaskData result_topk(2, 7, 2, 6);  // 2 * 6 = 12 scores: at the limit, accepted.
  CHECK(ValidateTask(result_topk.task, limits).ok());
}

TEST_CASE("ValidateTask finds the first non-finite value and names its row and column",
          "[validation]") {
  TaskData data(2, 4, 3);
  data.q[5] = std::numeric_limits<float>::infinity();
  CHECK(ValidateTask(data.task, Limits{}).message() ==
        "queries row 1 has a non-finite value (Inf) at column 2");
  data.q[5] = 0.0f;
  data.t[3] = std::numeric_limits<float>::quiet_NaN();
  data.t[11] = std::numeric_limits<float>::infinity();
  CHECK(ValidateTask(data.task, Limits{}).message() ==
        "targets row 1 has a non-finite value (NaN) at column 0");
  data.t[3] = std::numeric_limits<float>::max();  // Finite, however large.
  data.t[11] = std::numeric_limits<float>::denorm_min();
  CHECK(ValidateTask(data.task, Limits{}).ok());
}

}  // namespace
}  // namespace simile

namespace simile {
namespace {

TEST_CASE("CheckFinite finds a non-finite value at every position of vector bodies and tails", "[validation]") {
  // The scan runs 8 or 16 floats at a time with a scalar tail: every position of sizes around those widths.
  for (uint32_t dim : {1u, 7u, 8u, 15u, 16u, 17u, 33u, 64u, 100u}) {
    for (uint32_t rows : {1u, 3u}) {
      std::vector<float> m(size_t{rows} * dim, -1.5f);
      const MatrixView view{m.data(), rows, dim};
      REQUIRE(CheckFinite(view, "m").ok());
      for (size_t i = 0; i < m.size(); ++i) {
        for (const float bad : {std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::infinity()}) {
          m[i] = bad;
          const absl::Status s = CheckFinite(view, "m");
          CHECK(s.message() == absl::StrCat("m row ", i / dim, " has a non-finite value (",
                                            std::isnan(bad) ? "NaN" : "Inf", ") at column ", i % dim));
          m[i] = -1.5f;
        }
      }
    }
  }
}

}  // namespace
}  // namespace simile
