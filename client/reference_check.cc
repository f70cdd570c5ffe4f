#include "client/reference_check.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace simile::client {

namespace {

double Norm(const float* v, size_t dim) {
  double sum = 0.0;
  for (size_t i = 0; i < dim; ++i) {
    sum += static_cast<double>(v[i]) * v[i];
  }
  return std::sqrt(sum);
}

double ReferenceCosine(const float* a, double norm_a, const float* b, double norm_b, size_t dim) {
  if (norm_a == 0.0 || norm_b == 0.0) {
    return 0.0;  // The wire contract's definition for zero vectors.
  }
  double dot = 0.0;
  for (size_t i = 0; i < dim; ++i) {
    dot += static_cast<double>(a[i]) * b[i];
  }
  return dot / (norm_a * norm_b);
}

class Checker {
 public:
  explicit Checker(double tolerance) : tolerance_(tolerance) {}

  // Records |score - reference| and a problem if it exceeds the tolerance (NaN always does).
  void Compare(size_t query, size_t target, float score, double reference) {
    const double error = std::fabs(static_cast<double>(score) - reference);
    if (!(error <= tolerance_)) {
      Fail(absl::StrFormat(
          "query %d, target %d: score %.9g differs from the float64 reference %.9g by %.3g "
          "(tolerance %.3g)",
          query, target, score, reference, error, tolerance_));
    }
    if (std::isnan(error)) {
      outcome_.max_abs_error = std::numeric_limits<double>::infinity();
    } else if (error > outcome_.max_abs_error) {
      outcome_.max_abs_error = error;
    }
  }

  void Fail(std::string problem) {
    if (outcome_.problem.empty()) {
      outcome_.problem = std::move(problem);
    }
  }

  double tolerance() const { return tolerance_; }
  CheckOutcome outcome() && { return std::move(outcome_); }

 private:
  const double tolerance_;
  CheckOutcome outcome_;
};

void CheckTopK(const CosineArgs& args, const CosineResult& result, size_t query,
               const std::vector<double>& reference, Checker* checker) {
  const size_t k = result.top_k;
  std::vector<bool> chosen(args.n, false);
  double weakest = std::numeric_limits<double>::infinity();
  for (size_t j = 0; j < k; ++j) {
    const size_t at = query * k + j;
    const uint32_t index = result.top_indices[at];
    const float score = result.top_scores[at];
    if (index >= args.n) {
      checker->Fail(absl::StrCat("query ", query, ": top index ", index, " is out of range"));
      return;
    }
    if (chosen[index]) {
      checker->Fail(absl::StrCat("query ", query, ": target ", index, " is listed twice"));
    }
    chosen[index] = true;
    checker->Compare(query, index, score, reference[index]);
    weakest = std::min(weakest, reference[index]);
    if (j > 0) {
      const float prev_score = result.top_scores[at - 1];
      const uint32_t prev_index = result.top_indices[at - 1];
      if (!(prev_score > score || (prev_score == score && prev_index < index))) {
        checker->Fail(
            absl::StrFormat("query %d: entry %d (target %d, %.9g) is out of order after target %d "
                            "(%.9g)",
                            query, j, index, score, prev_index, prev_score));
      }
    }
  }
  for (size_t t = 0; t < args.n; ++t) {
    if (!chosen[t] && reference[t] > weakest + checker->tolerance()) {
      checker->Fail(
          absl::StrFormat("query %d: target %d (reference %.9g) was left out of the top %d, whose "
                          "weakest has reference %.9g",
                          query, t, reference[t], k, weakest));
    }
  }
}

}  // namespace

CheckOutcome CheckCosineResult(const CosineArgs& args, const CosineResult& result,
                               double tolerance) {
  Checker checker(tolerance);
  const size_t q = args.q;
  const size_t n = args.n;
  const size_t dim = args.dim;
  if (args.queries.size() != q * dim || args.targets.size() != n * dim) {
    checker.Fail("the arguments' spans do not match their shapes");
    return std::move(checker).outcome();
  }
  const size_t k = result.top_k;
  if (k == 0 ? result.scores.size() != q * n
             : result.top_indices.size() != q * k || result.top_scores.size() != q * k) {
    checker.Fail("the result's sizes do not match the request's shape");
    return std::move(checker).outcome();
  }
  std::vector<double> target_norms(n);
  for (size_t t = 0; t < n; ++t) {
    target_norms[t] = Norm(args.targets.data() + t * dim, dim);
  }
  std::vector<double> reference(n);
  for (size_t query = 0; query < q; ++query) {
    const float* a = args.queries.data() + query * dim;
    const double norm_a = Norm(a, dim);
    for (size_t t = 0; t < n; ++t) {
      reference[t] =
          ReferenceCosine(a, norm_a, args.targets.data() + t * dim, target_norms[t], dim);
    }
    if (k == 0) {
      for (size_t t = 0; t < n; ++t) {
        checker.Compare(query, t, result.scores[query * n + t], reference[t]);
      }
    } else {
      CheckTopK(args, result, query, reference, &checker);
    }
  }
  return std::move(checker).outcome();
}

}  // namespace simile::client
