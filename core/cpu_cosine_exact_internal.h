// Internal to the CPU cosine kernel (core/cpu_cosine.h); not a public API, include it only from
// core/cpu_cosine_*. The scalar numerics that keep every finite input exact: which float squared
// norms are safe for the vectorized float path, the score clamp, and the slow paths for the rest
// (rescaling a row by a power of two, and a cosine computed in double).
//
// Thread safety: pure functions of their arguments (they write only their output buffers); safe to
// call from any thread.
#ifndef SIMILE_CORE_CPU_COSINE_EXACT_INTERNAL_H_
#define SIMILE_CORE_CPU_COSINE_EXACT_INTERNAL_H_

#include <algorithm>
#include <cstddef>

namespace simile::cpu_cosine_internal {

// A row whose float squared norm lies in this range has |x_i| <= 2^50, so its float dot products
// cannot overflow and their rounding errors stay far below 1e-6 of |q||t|. Other rows are rescaled
// or computed in double.
inline constexpr float kMinSafeSquaredNorm = 0x1p-100f;
inline constexpr float kMaxSafeSquaredNorm = 0x1p100f;

inline bool IsSafeSquaredNorm(float sq) {
  return sq >= kMinSafeSquaredNorm && sq <= kMaxSafeSquaredNorm;
}

// Clamps to [-1, 1] and turns -0 into +0.
inline float ClampScore(float s) { return std::min(1.0f, std::max(-1.0f, s)) + 0.0f; }

// max |x_i| over the row.
float MaxAbs(const float* x, size_t dim);

// Whether every x_i is finite. Scalar: the kernels call it only for rows whose squared norm is
// outside the safe range (a row holding a NaN or an infinity always is: its squared norm is NaN or
// +Inf), so it never runs over ordinary data.
bool RowIsFinite(const float* x, size_t dim);

// Writes x * 2^-e (e = exponent of max|x|) to `out`: max|out| is in [1, 2), so its squared norm is
// safe, and the cosine is unchanged (powers of two scale exactly; only parts below 2^-126 of the
// maximum can lose bits). `out` may be `x`.
void RescaleRow(const float* x, size_t dim, float max_abs, float* out);

// cosine(q, t) in double, for targets whose float squared norm is unsafe. q is a prepared query
// row (see PreparedQueries in core/cpu_cosine_operands_internal.h), q_norm its norm in double.
float SlowCosine(const float* q, double q_norm, const float* t, size_t dim);

}  // namespace simile::cpu_cosine_internal

#endif  // SIMILE_CORE_CPU_COSINE_EXACT_INTERNAL_H_
