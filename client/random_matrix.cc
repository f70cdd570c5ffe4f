#include "client/random_matrix.h"

#include <random>

namespace simile::client {

std::vector<float> RandomMatrix(size_t rows, size_t dim, uint64_t seed) {
  std::mt19937_64 engine(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> data(rows * dim);
  for (float& value : data) {
    value = uniform(engine);
  }
  return data;
}

}  // namespace simile::client
