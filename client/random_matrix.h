// Reproducible random test data for the CLI (and the load generator): rows x dim floats drawn
// uniformly from
// [-1, 1) by a seeded std::mt19937_64, so the same seed gives the same matrix on every run of one
// build.
//
// Thread safety: a pure function.
#ifndef SIMILE_CLIENT_RANDOM_MATRIX_H_
#define SIMILE_CLIENT_RANDOM_MATRIX_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace simile::client {

// rows * dim floats, row-major.
[[nodiscard]] std::vector<float> RandomMatrix(size_t rows, size_t dim, uint64_t seed);

}  // namespace simile::client

#endif  // SIMILE_CLIENT_RANDOM_MATRIX_H_
