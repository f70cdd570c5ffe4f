// The 64-bit top-k key (kernels/top_k_key.h): its unsigned order must be the CPU's ranking
// (core/top_k.h IsBetter) for every score the kernels produce, and it must decode to the pair it
// was made from. Host-only: runs everywhere.
#include "kernels/top_k_key.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "core/top_k.h"

namespace simile::kernels {
namespace {

// Scores as the kernels produce them: in [-1, 1], -0 turned into +0.
std::vector<float> InterestingScores() {
  std::vector<float> s = {-1.0f, 1.0f, 0.0f, -0.5f, 0.5f, std::numeric_limits<float>::denorm_min(),
                          -std::numeric_limits<float>::denorm_min(),
                          std::numeric_limits<float>::min(), -std::numeric_limits<float>::min(),
                          std::nextafter(1.0f, 0.0f), std::nextafter(-1.0f, 0.0f), 1e-30f, -1e-30f};
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (int i = 0; i < 100; ++i) s.push_back(uniform(rng) + 0.0f);
  return s;
}

TEST_CASE("Key order is IsBetter's order") {
  const std::vector<float> scores = InterestingScores();
  const std::vector<uint32_t> indices = {0, 1, 2, 77, 1u << 31, 0xfffffffeu, 0xffffffffu};
  uint64_t compared = 0;
  uint64_t wrong = 0;
  for (float a : scores) {
    for (float b : scores) {
      for (uint32_t i : indices) {
        for (uint32_t j : {0u, 2u, 0xffffffffu}) {
          if (a == b && i == j) continue;
          ++compared;
          if ((MakeTopKKey(a, i) > MakeTopKKey(b, j)) != IsBetter(a, i, b, j)) {
            if (wrong++ < 5) FAIL_CHECK(a << " #" << i << " vs " << b << " #" << j);
          }
        }
      }
    }
  }
  CHECK(compared > 100'000);
  CHECK(wrong == 0);
}

TEST_CASE("Keys decode to their score and index, and 0 is below every key") {
  for (float s : InterestingScores()) {
    for (uint32_t i : {0u, 5u, 123456u, 0xffffffffu}) {
      const unsigned long long key = MakeTopKKey(s, i);
      CHECK(key > 0ull);
      CHECK(TopKKeyIndex(key) == i);
      CHECK(FloatBits(TopKKeyScore(key)) == FloatBits(s));
    }
  }
}

}  // namespace
}  // namespace simile::kernels
