// The independent float64 reference every score in the tests is checked against: plain loops in double, no
// shared code with the kernels under test.
#ifndef SIMILE_TESTS_TESTING_COSINE_REFERENCE_H_
#define SIMILE_TESTS_TESTING_COSINE_REFERENCE_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

namespace simile::testing {

// cosine(queries[q], targets[t]) in double, for all q, t (query-major); 0 when either vector is zero.
inline std::vector<double> ReferenceCosine(const std::vector<float>& queries, const std::vector<float>& targets,
                                           uint32_t dim) {
  const size_t q_rows = queries.size() / dim;
  const size_t t_rows = targets.size() / dim;
  std::vector<double> out(q_rows * t_rows);
  for (size_t q = 0; q < q_rows; ++q) {
    for (size_t t = 0; t < t_rows; ++t) {
      double dot = 0, qq = 0, tt = 0;
      for (size_t d = 0; d < dim; ++d) {
        const double a = queries[q * dim + d];
        const double b = targets[t * dim + d];
        dot += a * b;
        qq += a * a;
        tt += b * b;
      }
      out[q * t_rows + t] = (qq == 0 || tt == 0) ? 0.0 : dot / (std::sqrt(qq) * std::sqrt(tt));
    }
  }
  return out;
}

// Indices of the k best targets of query q from a reference matrix: higher score first, ties by lower index.
inline std::vector<uint32_t> ReferenceTopK(const std::vector<double>& scores, size_t num_targets, size_t q,
                                           uint32_t k) {
  std::vector<uint32_t> idx(num_targets);
  std::iota(idx.begin(), idx.end(), 0u);
  const double* row = scores.data() + q * num_targets;
  std::stable_sort(idx.begin(), idx.end(), [row](uint32_t a, uint32_t b) { return row[a] > row[b]; });
  idx.resize(k);
  return idx;
}

inline std::vector<float> RandomMatrix(size_t rows, size_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> m(rows * dim);
  for (float& v : m) v = dist(rng);
  return m;
}

}  // namespace simile::testing

#endif  // SIMILE_TESTS_TESTING_COSINE_REFERENCE_H_
