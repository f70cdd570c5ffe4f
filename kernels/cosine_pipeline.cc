// CUDA builds only: kernels/cosine_pipeline_internal.h.
#include <cublas_api.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/types/span.h"
#include "core/top_k.h"
#include "kernels/cosine_kernels_internal.h"
#include "kernels/cosine_pipeline_internal.h"
#include "kernels/cuda_check_internal.h"

namespace simile::kernels::internal {
namespace {

// Host copies are split into pieces of about this many bytes.
constexpr uint64_t kHostPieceBytes = uint64_t{1} << 20;

// fn(begin, end) over [0, n), on the pool when there is one and the work is worth splitting.
void ForRanges(ThreadPool* pool, uint64_t n, uint64_t bytes_per_item,
               absl::FunctionRef<void(size_t, size_t)> fn) {
  if (n == 0) return;
  const uint64_t grain = std::max<uint64_t>(1, kHostPieceBytes / std::max<uint64_t>(1, bytes_per_item));
  if (pool == nullptr || n <= grain) {
    fn(0, n);
    return;
  }
  pool->ParallelFor(n, grain, fn);
}

// rows of dim floats -> rows of padded_dim floats (zero padding).
void StageRows(const float* src, uint64_t rows, uint32_t dim, uint32_t padded_dim, float* dst,
               ThreadPool* pool) {
  const uint64_t row_bytes = uint64_t{padded_dim} * sizeof(float);
  ForRanges(pool, rows, row_bytes, [&](size_t begin, size_t end) {
    if (padded_dim == dim) {
      std::memcpy(dst + begin * dim, src + begin * dim, (end - begin) * dim * sizeof(float));
      return;
    }
    for (size_t r = begin; r < end; ++r) {
      float* out = dst + r * padded_dim;
      std::memcpy(out, src + r * dim, dim * sizeof(float));
      std::fill(out + dim, out + padded_dim, 0.0f);
    }
  });
}

template <typename T>
T* At(void* base, uint64_t offset) {
  return reinterpret_cast<T*>(static_cast<char*>(base) + offset);
}

// Host-side selection for k_eff > kMaxDeviceTopK: one accumulator per query.
class HostTopK {
 public:
  HostTopK(uint32_t q, uint32_t k) : k_(k), storage_(uint64_t{q} * k) {
    accumulators_.reserve(q);
    for (uint32_t j = 0; j < q; ++j) {
      accumulators_.emplace_back(absl::MakeSpan(storage_.data() + uint64_t{j} * k, k));
    }
  }
  // Scores of `rows` targets per query, query-major, with global indices index_base + t.
  void Push(const float* scores, uint32_t rows, uint32_t index_base, ThreadPool* pool) {
    ForRanges(pool, accumulators_.size(), uint64_t{rows} * sizeof(float),
              [&](size_t begin, size_t end) {
                for (size_t j = begin; j < end; ++j) {
                  const float* row = scores + j * rows;
                  for (uint32_t t = 0; t < rows; ++t) accumulators_[j].Push(row[t], index_base + t);
                }
              });
  }
  void Write(uint32_t* indices, float* scores) {
    for (size_t j = 0; j < accumulators_.size(); ++j) {
      const absl::Span<const ScoredIndex> best = accumulators_[j].SortBestFirst();
      for (size_t i = 0; i < best.size() && i < k_; ++i) {
        indices[j * k_ + i] = best[i].index;
        scores[j * k_ + i] = best[i].score;
      }
    }
  }

 private:
  const uint32_t k_;
  std::vector<ScoredIndex> storage_;
  std::vector<TopKAccumulator> accumulators_;
};

// Waits until everything enqueued on both of the lane's streams has run.
GpuError DrainLane(Lane& lane) {
  GpuError error;
  cudaStream_t streams[2] = {lane.compute, lane.copy};
  for (int i = 0; i < 2; ++i) {
    cudaError_t code = cudaEventRecord(lane.idle[i], streams[i]);
    if (code == cudaSuccess) code = cudaEventSynchronize(lane.idle[i]);
    if (code != cudaSuccess) {
      error = Combine(std::move(error), CudaError(code, "draining the lane", __FILE__, __LINE__));
    }
  }
  return error;
}

GpuError RunChunkOn(DeviceResources& resources, Lane& lane, const GpuCallPlan& plan,
                    const ChunkJob& job, void* device, void* pinned, ThreadPool* pool) {
  const uint32_t q = plan.q;
  const uint32_t dim = plan.dim;
  const uint32_t padded = plan.padded_dim;
  const uint64_t s = plan.sub_rows;
  const uint32_t k = plan.k_eff;
  const TopKMode mode = plan.top_k_mode;
  cudaStream_t compute = lane.compute;
  cudaStream_t copy = lane.copy;

  if (job.inject_illegal_address) SIMILE_GPU_RETURN_IF_ERROR(LaunchIllegalAddress(compute));

  // Queries: from pageable memory (the runtime stages them), padded, normalized in place.
  float* queries = At<float>(device, plan.device.queries);
  if (padded != dim) {
    SIMILE_CUDA_RETURN_IF_ERROR(
        cudaMemsetAsync(queries, 0, uint64_t{q} * padded * sizeof(float), compute));
  }
  SIMILE_CUDA_RETURN_IF_ERROR(cudaMemcpy2DAsync(queries, uint64_t{padded} * sizeof(float),
                                                job.queries, uint64_t{dim} * sizeof(float),
                                                uint64_t{dim} * sizeof(float), q,
                                                cudaMemcpyHostToDevice, compute));
  SIMILE_GPU_RETURN_IF_ERROR(LaunchNormalizeQueries(queries, q, padded, compute));
  if (mode == TopKMode::kDevice) {
    SIMILE_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(At<uint64_t>(device, plan.device.best), 0,
                                                uint64_t{q} * k * sizeof(uint64_t), compute));
  }

  float* staging[2] = {At<float>(pinned, plan.pinned.targets[0]),
                       At<float>(pinned, plan.pinned.targets[1])};
  float* results[2] = {nullptr, nullptr};
  if (mode != TopKMode::kDevice) {
    results[0] = At<float>(pinned, plan.pinned.results[0]);
    results[1] = At<float>(pinned, plan.pinned.results[1]);
  }
  std::optional<HostTopK> host_top_k;
  if (mode == TopKMode::kHost) host_top_k.emplace(q, k);

  // Takes sub-chunk i's scores out of pinned results[i % 2] once its computation is done.
  auto consume = [&](uint64_t i) -> GpuError {
    const int b = static_cast<int>(i & 1);
    SIMILE_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(lane.computed[b]));
    const uint64_t rows = plan.SubRows(i);
    const uint64_t begin = i * s;
    const float* src = results[b];
    if (mode == TopKMode::kHost) {
      host_top_k->Push(src, static_cast<uint32_t>(rows),
                         job.target_offset + static_cast<uint32_t>(begin), pool);
      return GpuError::Ok();
    }
    ForRanges(pool, q, rows * sizeof(float), [&](size_t j0, size_t j1) {
      for (size_t j = j0; j < j1; ++j) {
        std::memcpy(job.scores + j * job.ld + begin, src + j * rows, rows * sizeof(float));
      }
    });
    return GpuError::Ok();
  };

  for (uint64_t i = 0; i < plan.num_sub_chunks; ++i) {
    const int b = static_cast<int>(i & 1);
    const uint64_t begin = i * s;
    const uint64_t rows = plan.SubRows(i);
    SubChunkBuffers buffers = BuffersFor(plan, device, b);
    if (job.resident_targets != nullptr) {
      buffers.targets = job.resident_targets + begin * padded;  // Read in place.
    } else {
      // Host: staging[b] is free once sub-chunk i-2's upload is done.
      if (i >= 2) SIMILE_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(lane.uploaded[b]));
      StageRows(job.targets + begin * dim, rows, dim, padded, staging[b], pool);
      // Copy stream: device buffer b is free once sub-chunk i-2's computation is done.
      if (i >= 2) SIMILE_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(copy, lane.computed[b], 0));
      SIMILE_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(const_cast<float*>(buffers.targets), staging[b],
                                                  rows * padded * sizeof(float),
                                                  cudaMemcpyHostToDevice, copy));
      SIMILE_CUDA_RETURN_IF_ERROR(cudaEventRecord(lane.uploaded[b], copy));
      // Compute stream.
      SIMILE_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(compute, lane.uploaded[b], 0));
    }
    SIMILE_GPU_RETURN_IF_ERROR(ComputeSubChunk(resources.cublas(), lane, plan, buffers,
                                               static_cast<uint32_t>(rows),
                                               job.target_offset + static_cast<uint32_t>(begin)));
    if (mode != TopKMode::kDevice) {
      SIMILE_CUDA_RETURN_IF_ERROR(cudaMemcpy2DAsync(
          results[b], rows * sizeof(float), buffers.scores, s * sizeof(float), rows * sizeof(float),
          q, cudaMemcpyDeviceToHost, compute));
    }
    SIMILE_CUDA_RETURN_IF_ERROR(cudaEventRecord(lane.computed[b], compute));
    // Host: sub-chunk i-1's scores, while the device works on sub-chunk i.
    if (mode != TopKMode::kDevice && i >= 1) SIMILE_GPU_RETURN_IF_ERROR(consume(i - 1));
  }
  if (mode != TopKMode::kDevice) {
    SIMILE_GPU_RETURN_IF_ERROR(consume(plan.num_sub_chunks - 1));
    if (mode == TopKMode::kHost) host_top_k->Write(job.top_indices, job.top_scores);
    return GpuError::Ok();
  }

  // Device top-k: decode the best lists and copy Q * k_eff results out (to pageable memory: the
  // copies return once done).
  uint32_t* indices = At<uint32_t>(device, plan.device.out_indices);
  float* scores = At<float>(device, plan.device.out_scores);
  const uint64_t count = uint64_t{q} * k;
  SIMILE_GPU_RETURN_IF_ERROR(
      LaunchDecodeTopK(At<uint64_t>(device, plan.device.best), count, indices, scores, compute));
  SIMILE_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(job.top_indices, indices, count * sizeof(uint32_t),
                                              cudaMemcpyDeviceToHost, compute));
  SIMILE_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(job.top_scores, scores, count * sizeof(float),
                                              cudaMemcpyDeviceToHost, compute));
  return GpuError::Ok();
}

}  // namespace

SubChunkBuffers BuffersFor(const GpuCallPlan& plan, void* base, int b) {
  SubChunkBuffers buffers;
  buffers.queries = At<float>(base, plan.device.queries);
  buffers.targets = At<float>(base, plan.device.targets[b]);
  buffers.scores = At<float>(base, plan.device.scores);
  if (plan.score_path == ScorePath::kGemm) buffers.norms = At<float>(base, plan.device.norms);
  if (plan.top_k_mode == TopKMode::kDevice) {
    buffers.cand_a = At<uint64_t>(base, plan.device.cand_a);
    if (plan.cand_b_per_query > 0) buffers.cand_b = At<uint64_t>(base, plan.device.cand_b);
    buffers.best = At<uint64_t>(base, plan.device.best);
  }
  return buffers;
}

GpuError ComputeSubChunk(const CublasApi& cublas, Lane& lane, const GpuCallPlan& plan,
                         const SubChunkBuffers& buffers, uint32_t rows, uint32_t index_base) {
  const uint32_t q = plan.q;
  const uint32_t padded = plan.padded_dim;
  const uint64_t s = plan.sub_rows;
  cudaStream_t stream = lane.compute;
  if (rows == 0 || rows > s) {
    return GpuError::Make(GpuErrorKind::kInvalidArgument, "ComputeSubChunk: bad row count");
  }
  const bool gemm = plan.score_path == ScorePath::kGemm;
  if (!gemm) {
    SIMILE_GPU_RETURN_IF_ERROR(LaunchFusedScores(buffers.queries, q, buffers.targets, rows, padded,
                                                 buffers.scores, s, stream));
  } else {
    SIMILE_GPU_RETURN_IF_ERROR(
        LaunchTargetNorms(buffers.targets, rows, padded, buffers.norms, stream));
    // Row-major scores (q x s) are column-major (s x q): scores = targets^T-view * queries, i.e.
    // C(t, j) = sum_d T(d, t) Q(d, j) with T = targets as column-major padded x rows.
    const float one = 1.0f;
    const float zero = 0.0f;
    SIMILE_GPU_RETURN_IF_ERROR(CublasError(
        cublas,
        cublas.sgemm(lane.cublas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(rows),
                     static_cast<int>(q), static_cast<int>(padded), &one, buffers.targets,
                     static_cast<int>(padded), buffers.queries, static_cast<int>(padded), &zero,
                     buffers.scores, static_cast<int>(s)),
        "cublasSgemm"));
    if (plan.top_k_mode != TopKMode::kDevice) {
      SIMILE_GPU_RETURN_IF_ERROR(LaunchFinishScores(buffers.scores, s, q, rows, buffers.norms,
                                                    buffers.queries, buffers.targets, padded,
                                                    stream));
    }
  }
  if (plan.top_k_mode != TopKMode::kDevice) return GpuError::Ok();

  const uint32_t k = plan.k_eff;
  ScoreSource source;
  source.scores = buffers.scores;
  source.ld = s;
  source.norms = gemm ? buffers.norms : nullptr;  // SGEMM dots: finished inside the first pass.
  source.queries = buffers.queries;
  source.targets = buffers.targets;
  source.padded_dim = padded;
  auto buffer = [&](TopKPass::Buffer which) -> uint64_t* {
    switch (which) {
      case TopKPass::Buffer::kCandA:
        return buffers.cand_a;
      case TopKPass::Buffer::kCandB:
        return buffers.cand_b;
      case TopKPass::Buffer::kBest:
        return buffers.best;
      case TopKPass::Buffer::kScores:
        break;
    }
    return nullptr;
  };
  auto ld = [&](TopKPass::Buffer which) -> uint64_t {
    switch (which) {
      case TopKPass::Buffer::kCandA:
        return plan.cand_a_per_query;
      case TopKPass::Buffer::kCandB:
        return plan.cand_b_per_query;
      case TopKPass::Buffer::kBest:
        return k;
      case TopKPass::Buffer::kScores:
        break;
    }
    return 0;
  };
  for (const TopKPass& pass : PlanTopKPasses(rows, k)) {
    switch (pass.kind) {
      case TopKPass::Kind::kFirst:
        SIMILE_GPU_RETURN_IF_ERROR(LaunchTopKFirstPass(source, q, rows, index_base, k, pass.groups,
                                                       buffer(pass.output), ld(pass.output),
                                                       stream));
        break;
      case TopKPass::Kind::kReduce:
        SIMILE_GPU_RETURN_IF_ERROR(LaunchTopKMerge(buffer(pass.input), ld(pass.input),
                                                   pass.input_count, q, pass.groups, k,
                                                   buffer(pass.output), ld(pass.output), nullptr,
                                                   0, 0, stream));
        break;
      case TopKPass::Kind::kFinalMerge:
        SIMILE_GPU_RETURN_IF_ERROR(LaunchTopKMerge(buffer(pass.input), ld(pass.input),
                                                   pass.input_count, q, 1, k, buffers.best, k,
                                                   buffers.best, k, k, stream));
        break;
    }
  }
  return GpuError::Ok();
}

GpuError RunChunk(DeviceResources& resources, Lane& lane, const GpuCallPlan& plan,
                  const ChunkJob& job, ThreadPool* host_pool) {
  DeviceScope scope(resources.ordinal());
  SIMILE_GPU_RETURN_IF_ERROR(scope.status());
  // An error left on this thread by an earlier call: sticky ones mean the device is gone; others
  // belong to nobody now and are cleared.
  if (const cudaError_t stale = cudaGetLastError();
      ClassifyCudaError(static_cast<int>(stale)) == GpuErrorKind::kDeviceLost) {
    return CudaError(stale, "an earlier CUDA call on this thread", __FILE__, __LINE__);
  }
  CachingAllocator::Block device;
  CachingAllocator::Block pinned;
  SIMILE_GPU_RETURN_IF_ERROR(resources.device_pool().Acquire(plan.device.total_bytes, &device));
  SIMILE_GPU_RETURN_IF_ERROR(resources.pinned_pool().Acquire(plan.pinned.total_bytes, &pinned));
  GpuError error =
      RunChunkOn(resources, lane, plan, job, device.data(), pinned.data(), host_pool);
  // The blocks go back to the pools (at the end of this function) only after the drain.
  return Combine(std::move(error), DrainLane(lane));
}

}  // namespace simile::kernels::internal
