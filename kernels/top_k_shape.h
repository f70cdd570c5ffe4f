// The shape constants of the GPU top-k selection (see kernels/gpu_plan.h for the passes), shared by
// the host planner and the device code. Plain C++17.
#ifndef SIMILE_KERNELS_TOP_K_SHAPE_H_
#define SIMILE_KERNELS_TOP_K_SHAPE_H_

#include <cstdint>

namespace simile::kernels {

// Largest k_eff selected on the GPU. Larger k: the scores are selected on the host.
inline constexpr uint32_t kMaxDeviceTopK = 1024;
// Keys one block sorts in shared memory (32 KiB of 64-bit keys), and the threads that sort them.
inline constexpr uint32_t kSortTile = 4096;
inline constexpr uint32_t kSortThreads = 512;
// Threads of the register first pass, and the scores each of its blocks reads.
inline constexpr uint32_t kRegisterPassThreads = 128;
inline constexpr uint32_t kRegisterSpan = kRegisterPassThreads * 64;

static_assert(kMaxDeviceTopK * 4 <= kSortTile, "each reduce pass must shrink its input");
static_assert(kRegisterPassThreads * 32 <= kSortTile, "register candidates must fit one tile");

}  // namespace simile::kernels

#endif  // SIMILE_KERNELS_TOP_K_SHAPE_H_
