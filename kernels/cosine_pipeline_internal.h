// Internal to kernels/ (CUDA builds only): one Backend::Cosine chunk on one lane, from host inputs
// to host outputs, following a GpuCallPlan (kernels/gpu_plan.h).
//
// Pipeline (two target buffers b = i % 2 on the device and in pinned staging memory):
//   host:    wait until staging[b]'s previous upload is done; copy sub-chunk i's rows into
//            staging[b] (padded to padded_dim with zeros; split across the host pool)
//   copy:    wait until the previous computation on device buffer b is done; upload staging[b]
//            to device buffer b; record uploaded[b]
//   compute: wait for uploaded[b]; scores (fused kernel, or norms + SGEMM [+ epilogue]); top-k
//            passes into the running best list, or a copy of the scores to pinned results[b];
//            record computed[b]
//   host:    (scores back) wait for computed[b of i-1] and copy sub-chunk i-1's scores out of
//            pinned results (or push them into the host top-k accumulators)
// so the upload of sub-chunk i+1 and the host copies overlap the kernels of sub-chunk i. Queries
// are uploaded once per call and normalized in place; top-k results are decoded on the device and
// copied out once at the end (Q * k_eff values).
//
// With resident targets (ChunkJob::resident_targets) the host and copy steps for the targets vanish: each
// sub-chunk's computation reads its rows in place.
//
// Whatever happens, RunChunk drains both streams before it returns, so no work of the call is left
// running when its buffers go back to the pools.
//
// Thread safety: RunChunk may be called concurrently with different lanes; the pools and the host
// ThreadPool are shared safely.
#ifndef SIMILE_KERNELS_COSINE_PIPELINE_INTERNAL_H_
#define SIMILE_KERNELS_COSINE_PIPELINE_INTERNAL_H_

#include <cstdint>

#include "core/thread_pool.h"
#include "kernels/cublas_loader_internal.h"
#include "kernels/device_resources_internal.h"
#include "kernels/gpu_error.h"
#include "kernels/gpu_plan.h"

namespace simile::kernels::internal {

struct ChunkJob {
  const float* queries = nullptr;  // q * dim floats (host, any memory).
  const float* targets = nullptr;  // rows * dim floats (host, any memory).
  // Set for a resident target set (plan.resident_targets): the chunk's first row in device memory, padded_dim
  // floats per row. The targets are then read in place: no staging, no upload.
  const float* resident_targets = nullptr;
  uint32_t target_offset = 0;      // Global index of target row 0.
  // top_k == 0: scores[j * ld + t]. Else top_indices / top_scores[j * k_eff + i].
  float* scores = nullptr;
  uint64_t ld = 0;
  uint32_t* top_indices = nullptr;
  float* top_scores = nullptr;
  // Fault injection: launch a kernel that writes to an unmapped address first.
  bool inject_illegal_address = false;
};

// Runs the chunk synchronously. `host_pool` (may be null) splits the host-side copies.
GpuError RunChunk(DeviceResources& resources, Lane& lane, const GpuCallPlan& plan,
                  const ChunkJob& job, ThreadPool* host_pool);

// Device pointers of one sub-chunk's computation (regions of a DeviceLayout).
struct SubChunkBuffers {
  const float* queries = nullptr;  // Normalized (LaunchNormalizeQueries), padded_dim per row.
  const float* targets = nullptr;  // rows * padded_dim.
  float* norms = nullptr;          // kGemm.
  float* scores = nullptr;         // q * plan.sub_rows.
  uint64_t* cand_a = nullptr;      // kDevice top-k.
  uint64_t* cand_b = nullptr;
  uint64_t* best = nullptr;        // q * k_eff, the running best list (zeros before the first).
};

// The buffers of workspace `base` laid out by plan.device, with target buffer `b` (0 or 1).
SubChunkBuffers BuffersFor(const GpuCallPlan& plan, void* base, int b);

// Enqueues one sub-chunk's computation of `rows` (<= plan.sub_rows) rows on lane.compute: scores,
// and the top-k passes when plan.top_k_mode is kDevice (keys carry index_base + row). Also used by
// the GPU benchmark over device-resident data.
GpuError ComputeSubChunk(const CublasApi& cublas, Lane& lane, const GpuCallPlan& plan,
                         const SubChunkBuffers& buffers, uint32_t rows, uint32_t index_base);

}  // namespace simile::kernels::internal

#endif  // SIMILE_KERNELS_COSINE_PIPELINE_INTERNAL_H_
