// The CPU cosine-similarity kernel: full Q x N score matrices and per-query top-k, vectorized with
// runtime dispatch (one binary; AVX-512 or AVX2+FMA code where the CPU has it, 128-bit code
// elsewhere) and split across a ThreadPool.
//
// Numerics: float arithmetic on the fast path, |score - exact| <= ~1e-6 for typical data. A row
// whose float squared norm would overflow, underflow or lose precision (outside [2^-100, 2^100]) is
// rescaled by a power of two or handled in double, so every finite input gives a finite, correct
// result. The cosine of a zero vector (either side) is exactly 0. Scores are clamped to [-1, 1].
//
// Preconditions (validated by callers): rows >= 1, dim >= 1, queries.dim == targets.dim, all values
// finite (the *CheckingTargets variants check the targets themselves).
//
// Work: one query x N is one fused pass over the targets (dot and |t|^2 together, memory bound);
// Q x N packs blocks of targets into L2-sized, aligned scratch and runs register tiles of queries
// over them (compute bound). Each thread that runs the blocked path keeps its scratch (at most ~2
// MiB per thread) for its next call, so steady-state calls allocate only O(Q) bookkeeping (and,
// for top-k, O(threads * Q * k) candidates).
//
// Thread safety: the functions may be called concurrently from any threads, pool threads included,
// as long as their output buffers do not overlap. They only read the inputs.
#ifndef SIMILE_CORE_CPU_COSINE_H_
#define SIMILE_CORE_CPU_COSINE_H_

#include <cstddef>
#include <cstdint>

#include "core/matrix_view.h"
#include "core/thread_pool.h"

namespace simile {

// Calls of fewer multiply-adds (Q * N * dim) than this run on the calling thread only: splitting
// them across the pool would cost more than it saves. (The server also runs requests this small on
// gRPC's thread.)
inline constexpr uint64_t kCpuCosineMinParallelMacs = uint64_t{1} << 17;

// scores[q * ld + t] = cosine(queries.Row(q), targets.Row(t)) for all q < Q, t < N; ld >=
// targets.rows. Entries of a row past N are not touched. `pool` may be nullptr (then everything
// runs on the calling thread).
void CpuCosineScores(MatrixView queries, MatrixView targets, float* scores, size_t ld,
                     ThreadPool* pool);

// For each query q, its min(k, N) best targets, best first (higher score first; equal scores: lower
// index first), written at top_indices[q * k + i] / top_scores[q * k + i]. Indices are target row +
// index_offset (index_offset + N must fit in uint32_t). 1 <= k <= N. Temporary memory is O(threads
// * Q * k + one block).
void CpuCosineTopK(MatrixView queries, MatrixView targets, uint32_t k, uint32_t index_offset,
                   uint32_t* top_indices, float* top_scores, ThreadPool* pool);

// The same two, for targets not yet checked finite (queries must be): the check rides on the
// kernel's own pass instead of costing a pass of its own over the targets. A row holding a NaN or
// an infinity has a NaN or +Inf float squared norm, which the kernel already tests to send extreme
// rows down the exact path; only such rows are scanned value by value. Returns true when every
// target value is finite (the results are then exactly those of the functions above), false
// otherwise: the outputs then hold unspecified finite values (within their bounds) and must not be
// reported. Finding the first bad value is the caller's business (CheckFinite in
// core/task_validation.h), on this rare path only.
[[nodiscard]] bool CpuCosineScoresCheckingTargets(MatrixView queries, MatrixView targets,
                                                  float* scores, size_t ld, ThreadPool* pool);
[[nodiscard]] bool CpuCosineTopKCheckingTargets(MatrixView queries, MatrixView targets, uint32_t k,
                                                uint32_t index_offset, uint32_t* top_indices,
                                                float* top_scores, ThreadPool* pool);

// The instruction sets the kernel has code for. The functions above use the best one the CPU
// supports.
enum class CpuIsa : uint8_t {
  kBaseline,  // 128-bit vectors: SSE2 on x86-64, the target's own vectors elsewhere.
  kAvx2,      // AVX2 + FMA (x86-64-v3).
  kAvx512,    // AVX-512 F/DQ/BW/VL + FMA (x86-64-v4).
};

// The instruction set chosen for this CPU (decided once per process).
[[nodiscard]] CpuIsa BestCpuIsa();
// Whether this CPU can run `isa`'s code.
[[nodiscard]] bool CpuSupportsIsa(CpuIsa isa);
[[nodiscard]] const char* CpuIsaName(CpuIsa isa);

// For tests and benchmarks: the same as above with the code for `isa`, which must be supported.
void CpuCosineScoresWithIsa(CpuIsa isa, MatrixView queries, MatrixView targets, float* scores,
                            size_t ld, ThreadPool* pool);
void CpuCosineTopKWithIsa(CpuIsa isa, MatrixView queries, MatrixView targets, uint32_t k,
                          uint32_t index_offset, uint32_t* top_indices, float* top_scores,
                          ThreadPool* pool);
[[nodiscard]] bool CpuCosineScoresCheckingTargetsWithIsa(CpuIsa isa, MatrixView queries,
                                                         MatrixView targets, float* scores,
                                                         size_t ld, ThreadPool* pool);
[[nodiscard]] bool CpuCosineTopKCheckingTargetsWithIsa(CpuIsa isa, MatrixView queries,
                                                       MatrixView targets, uint32_t k,
                                                       uint32_t index_offset, uint32_t* top_indices,
                                                       float* top_scores, ThreadPool* pool);

}  // namespace simile

#endif  // SIMILE_CORE_CPU_COSINE_H_
