// The GPU/CPU crossover of a calibration ladder: the batch size from which the dispatcher should consider the
// GPU. Header-only so that tests/calibrate/ can check it without a GPU.
#ifndef SIMILE_BENCH_CALIBRATE_CROSSOVER_H_
#define SIMILE_BENCH_CALIBRATE_CROSSOVER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/backend_kind.h"

namespace simile::calibrate {

// One measured point of the ladder: the median latency of `backend` ("cpu" or "gpu") on a batch.
struct Point {
  std::string backend;
  Operation operation;
  uint32_t queries;
  uint32_t targets;
  double median_seconds;
  double min_seconds;
  double max_seconds;
};

// The smallest ladder size (targets) from which the GPU beats the CPU by `speedup` (cpu >= speedup * gpu) at
// that size and every larger size measured on both; nullopt when it never does (or no GPU was measured). A GPU
// win below a CPU win does not count: the policy's threshold is a single "from here on" size.
inline std::optional<uint32_t> Crossover(const std::vector<Point>& points, Operation operation, double speedup) {
  std::optional<uint32_t> crossover;
  uint32_t last = 0;
  for (const Point& cpu : points) {  // The ladder is in increasing order of targets.
    if (cpu.backend != "cpu" || cpu.operation != operation || cpu.targets < last) continue;
    last = cpu.targets;
    const Point* gpu = nullptr;
    for (const Point& p : points) {
      if (p.backend == "gpu" && p.operation == operation && p.targets == cpu.targets) gpu = &p;
    }
    if (gpu == nullptr) continue;
    const bool gpu_wins = cpu.median_seconds >= speedup * gpu->median_seconds;
    if (gpu_wins && !crossover.has_value()) crossover = cpu.targets;
    if (!gpu_wins) crossover.reset();
  }
  return crossover;
}

}  // namespace simile::calibrate

#endif  // SIMILE_BENCH_CALIBRATE_CROSSOVER_H_
