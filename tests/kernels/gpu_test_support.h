// Shared by the kernels/ tests: the GPU backends every [gpu] test uses (created once per process),
// the visible skip when there is no usable GPU, the CPU reference backend, fast random data, and
// the comparisons of GPU results with the CPU's.
//
// Skips: Catch2 v2 has no SKIP, so a [gpu] test without a GPU prints
//   warning: skipped: no usable GPU: <reason>
// and returns (the reason from CreateGpuBackends starts with "no usable GPU: "); a listener prints the number of skipped test cases at the end of the run.
//
// SIMILE_GPU_TEST_QUICK=1 keeps only small shapes (for compute-sanitizer runs, which are 10-100x
// slower).
//
// Thread safety: SharedGpu, CpuReference and the counters may be used from any thread.
#ifndef SIMILE_TESTS_KERNELS_GPU_TEST_SUPPORT_H_
#define SIMILE_TESTS_KERNELS_GPU_TEST_SUPPORT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/thread_pool.h"
#include "kernels/gpu_backend.h"

namespace simile::testing {

// The first GPU backend of a set created with default options (plus the host pool), or null with
// *reason set. Created on first use, kept for the process.
Backend* SharedGpu(std::string* reason);

// Records one skipped test case (for the end-of-run count).
void NoteGpuSkip(const std::string& reason);

// A backend set of its own (e.g. with other options; host_pool is set to TestPool() when null), or
// null with *reason set.
std::unique_ptr<kernels::GpuBackendSet> MakeGpus(kernels::GpuBackendOptions options,
                                                 std::string* reason);

// The CUDA ordinal of a GPU backend, from its description ("gpuN (...)").
int OrdinalOf(const Backend& backend);

// True when SIMILE_GPU_TEST_QUICK is set to a non-empty value other than "0".
bool QuickMode();

// The process's CPU pool (hardware threads) and a CpuBackend on it: the reference.
ThreadPool& TestPool();
Backend& CpuReference();

// rows * dim uniform floats in [-1, 1) from a fast generator (splitmix64).
std::vector<float> FastRandom(uint64_t rows, uint32_t dim, uint64_t seed);

// One chunk run on a backend with poisoned outputs (NaN scores, 0xFFFFFFFF indices).
struct ChunkResult {
  absl::Status status;
  uint64_t written = 0;
  std::vector<float> scores;          // top_k == 0: q * ld.
  std::vector<uint32_t> top_indices;  // top_k > 0: q * k_eff.
  std::vector<float> top_scores;
};
// `resident` (may be null): the chunk's rows are rows [target_offset, ...) of this resident set.
ChunkResult RunChunk(Backend& backend, const std::vector<float>& queries,
                     const std::vector<float>& targets, uint32_t dim, uint32_t top_k,
                     uint32_t target_offset = 0, uint64_t extra_ld = 0,
                     const ResidentTargets* resident = nullptr);

// Runs one random case (uniform data from `seed`) on `gpu` and on the CPU and checks the results
// (CheckSameResults with tolerance 1e-5 unless given).
void CheckRandomCase(Backend& gpu, uint32_t q, uint64_t n, uint32_t dim, uint32_t top_k,
                     uint64_t seed, uint32_t target_offset = 0, uint64_t extra_ld = 0,
                     double tolerance = 1e-5);

// Catch2 checks that `gpu` equals `cpu` for the same chunk: scores within `tolerance` (and every
// slot written, the padding of each row untouched), or top-k lists that are the CPU's up to
// `tolerance` (see gpu_test_support.cc). `label` names the case in failure messages.
void CheckSameResults(const ChunkResult& gpu, const ChunkResult& cpu,
                      const std::vector<float>& queries, const std::vector<float>& targets,
                      uint32_t dim, uint32_t top_k, uint32_t target_offset, uint64_t extra_ld,
                      double tolerance, const std::string& label);

}  // namespace simile::testing

// Declares `Backend* var` = the shared GPU backend, or skips the test case visibly.
#define SIMILE_GPU_OR_SKIP(var)                                               \
  std::string var##_skip_reason;                                              \
  ::simile::Backend* var = ::simile::testing::SharedGpu(&var##_skip_reason);  \
  if (var == nullptr) {                                                       \
    ::simile::testing::NoteGpuSkip(var##_skip_reason);                        \
    WARN("skipped: " << var##_skip_reason);                    \
    return;                                                                   \
  }

#endif  // SIMILE_TESTS_KERNELS_GPU_TEST_SUPPORT_H_
