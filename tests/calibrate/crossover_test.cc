// simile-calibrate's crossover: the batch size from which the GPU wins by the required speedup for good.
#include "bench/calibrate/crossover.h"

#include <catch2/catch.hpp>
#include <vector>

namespace simile::calibrate {
namespace {

// A ladder of (targets, cpu seconds, gpu seconds) for one operation; gpu < 0 means not measured.
std::vector<Point> Ladder(Operation op, std::vector<std::tuple<uint32_t, double, double>> rows) {
  std::vector<Point> points;
  for (const auto& [n, cpu, gpu] : rows) points.push_back({"cpu", op, 1, n, cpu, cpu, cpu});
  for (const auto& [n, cpu, gpu] : rows) {
    if (gpu >= 0) points.push_back({"gpu", op, 1, n, gpu, gpu, gpu});
  }
  return points;
}

TEST_CASE("The crossover is the first size from which the GPU wins by the speedup at every larger size",
          "[calibrate]") {
  const auto points = Ladder(Operation::kOneQuery, {{1024, 1.0, 5.0}, {2048, 2.0, 3.0}, {4096, 4.0, 3.0},
                                                    {8192, 8.0, 3.0}, {16384, 16.0, 4.0}});
  // 4096: 4.0 >= 1.2 * 3.0; 2048 does not (2.0 < 3.6).
  CHECK(Crossover(points, Operation::kOneQuery, 1.2) == 4096u);
  // A larger required speedup moves it up: 8.0 >= 2.5 * 3.0 but 4.0 < 7.5.
  CHECK(Crossover(points, Operation::kOneQuery, 2.5) == 8192u);
  // Other operations have no points.
  CHECK_FALSE(Crossover(points, Operation::kManyQueries, 1.2).has_value());
}

TEST_CASE("A GPU win followed by a CPU win does not count", "[calibrate]") {
  const auto points = Ladder(Operation::kOneQuery, {{1024, 4.0, 1.0}, {2048, 2.0, 3.0}, {4096, 8.0, 2.0}});
  CHECK(Crossover(points, Operation::kOneQuery, 1.2) == 4096u);
  const auto never = Ladder(Operation::kOneQuery, {{1024, 4.0, 1.0}, {2048, 2.0, 3.0}});
  CHECK_FALSE(Crossover(never, Operation::kOneQuery, 1.2).has_value());
}

TEST_CASE("Without GPU measurements there is no crossover", "[calibrate]") {
  const auto points = Ladder(Operation::kManyQueries, {{1024, 1.0, -1}, {2048, 2.0, -1}});
  CHECK_FALSE(Crossover(points, Operation::kManyQueries, 1.2).has_value());
}

}  // namespace
}  // namespace simile::calibrate
