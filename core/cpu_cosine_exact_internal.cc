#include "core/cpu_cosine_exact_internal.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace simile::cpu_cosine_internal {

float MaxAbs(const float* x, size_t dim) {
  float m = 0.0f;
  for (size_t i = 0; i < dim; ++i) m = std::max(m, std::fabs(x[i]));
  return m;
}

bool RowIsFinite(const float* x, size_t dim) {
  for (size_t i = 0; i < dim; ++i) {
    if (!std::isfinite(x[i])) return false;
  }
  return true;
}

void RescaleRow(const float* x, size_t dim, float max_abs, float* out) {
  const int e = std::ilogb(max_abs);
  for (size_t i = 0; i < dim; ++i)
    out[i] = static_cast<float>(std::ldexp(static_cast<double>(x[i]), -e));
}

float SlowCosine(const float* q, double q_norm, const float* t, size_t dim) {
  double dot = 0.0;
  double sq = 0.0;
  for (size_t i = 0; i < dim; ++i) {
    const double x = t[i];
    dot += static_cast<double>(q[i]) * x;
    sq += x * x;
  }
  if (sq == 0.0 || q_norm == 0.0) return 0.0f;
  return ClampScore(static_cast<float>(dot / (std::sqrt(sq) * q_norm)));
}

}  // namespace simile::cpu_cosine_internal
