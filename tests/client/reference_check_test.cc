// Tests of client/reference_check.h on vectors whose cosines are known exactly.
#include "client/reference_check.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace simile::client {
namespace {

// queries: (1, 0) and the zero vector; targets: (1, 0), (0, 1), (1, 1), (-2, 0), (3, 0).
const std::vector<float> kQueries = {1, 0, 0, 0};
const std::vector<float> kTargets = {1, 0, 0, 1, 1, 1, -2, 0, 3, 0};
const float kHalfSqrt2 = static_cast<float>(std::sqrt(0.5));

CosineArgs Args(uint32_t top_k) {
  CosineArgs args;
  args.queries = kQueries;
  args.q = 2;
  args.targets = kTargets;
  args.n = 5;
  args.dim = 2;
  args.top_k = top_k;
  return args;
}

CosineResult Full() {
  CosineResult r;
  r.num_queries = 2;
  r.num_targets = 5;
  r.scores = {1, 0, kHalfSqrt2, -1, 1, 0, 0, 0, 0, 0};  // The zero query scores 0 everywhere.
  return r;
}

// Query 0's top 3: targets 0 and 4 tie at 1.0 (lower index first), then target 2.
CosineResult Top3() {
  CosineResult r;
  r.num_queries = 2;
  r.num_targets = 5;
  r.top_k = 3;
  r.top_indices = {0, 4, 2, 0, 1, 2};
  r.top_scores = {1, 1, kHalfSqrt2, 0, 0, 0};
  return r;
}

TEST_CASE("check: exact scores pass with a tiny error", "[client][check]") {
  const CheckOutcome outcome = CheckCosineResult(Args(0), Full(), 1e-5);
  CHECK(outcome.ok());
  CHECK(outcome.max_abs_error < 1e-7);
}

TEST_CASE("check: one score off by more than the tolerance fails, naming it", "[client][check]") {
  CosineResult r = Full();
  r.scores[3] += 2e-5f;
  const CheckOutcome outcome = CheckCosineResult(Args(0), r, 1e-5);
  CHECK(!outcome.ok());
  CHECK(outcome.max_abs_error > 1e-5);
  CHECK(outcome.problem.find("query 0, target 3: score") == 0);
  CHECK(CheckCosineResult(Args(0), r, 1e-4).ok());
}

TEST_CASE("check: a NaN score fails and makes the max error infinite", "[client][check]") {
  CosineResult r = Full();
  r.scores[7] = std::numeric_limits<float>::quiet_NaN();
  const CheckOutcome outcome = CheckCosineResult(Args(0), r, 1e-5);
  CHECK(!outcome.ok());
  CHECK(std::isinf(outcome.max_abs_error));
  CHECK(outcome.problem.find("query 1, target 2") == 0);
}

TEST_CASE("check: a correct top-k list with a tie passes", "[client][check]") {
  CHECK(CheckCosineResult(Args(3), Top3(), 1e-5).ok());
}

TEST_CASE("check: top-k lists out of order, with repeats or missing a better target fail",
          "[client][check]") {
  CosineResult swapped_tie = Top3();
  std::swap(swapped_tie.top_indices[0], swapped_tie.top_indices[1]);
  CHECK(CheckCosineResult(Args(3), swapped_tie, 1e-5).problem ==
        "query 0: entry 1 (target 0, 1) is out of order after target 4 (1)");

  CosineResult repeated = Top3();
  repeated.top_indices[1] = 0;
  CHECK(CheckCosineResult(Args(3), repeated, 1e-5).problem == "query 0: target 0 is listed twice");

  CosineResult missing = Top3();
  missing.top_indices[2] = 1;  // Target 1 (cosine 0) instead of target 2 (0.707).
  missing.top_scores[2] = 0;
  const CheckOutcome outcome = CheckCosineResult(Args(3), missing, 1e-5);
  CHECK(outcome.problem.find(
            "query 0: target 2 (reference 0.707106781) was left out of the top 3") == 0);

  CosineResult wrong_score = Top3();
  wrong_score.top_scores[2] = 0.7f;
  CHECK(CheckCosineResult(Args(3), wrong_score, 1e-5)
            .problem.find("query 0, target 2: score 0.699999988") == 0);
}

TEST_CASE("check: results whose sizes do not match the arguments fail", "[client][check]") {
  CosineResult r = Full();
  r.scores.pop_back();
  CHECK(CheckCosineResult(Args(0), r, 1e-5).problem ==
        "the result's sizes do not match the request's shape");
  CosineArgs args = Args(0);
  args.n = 4;
  CHECK(CheckCosineResult(args, Full(), 1e-5).problem ==
        "the arguments' spans do not match their shapes");
}

}  // namespace
}  // namespace simile::client
