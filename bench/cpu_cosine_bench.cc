// Benchmarks of the CPU cosine kernel (core/cpu_cosine.h), each single-threaded (threaded:0) and on
// a ThreadPool with one thread per hardware thread (threaded:1).
//
//   BM_MemoryReadFloor/N     a vectorized sum over the same N x 768 targets: the memory-read floor
//                            that BM_OneQuery/N is read against (compare bytes_per_second of the
//                            two within one run, never with a remembered number).
//   BM_CheckFinite/N         the NaN/Inf scan every request's vectors get before the kernel (single-threaded,
//                            read against BM_MemoryReadFloor/N/threaded:0).
//   BM_OneQuery/N            one query x N targets (memory bound).
//   BM_OneQueryTopK/N        the same with top-10 selection.
//   BM_QueriesTargets/Q      Q x 10^4 targets (compute bound); FLOP/s counts 2 * Q * N * dim.
//   BM_QueriesTargetsTopK/Q  the same with top-10 selection per query.
//
// Run: simile-cpu-cosine-bench --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "bench/memory_floor.h"
#include "core/cpu_cosine.h"
#include "core/matrix_view.h"
#include "core/task_validation.h"
#include "core/thread_pool.h"

namespace simile {
namespace {

constexpr uint32_t kDim = 768;
constexpr size_t kMaxTargets = 1'000'000;

// One shared N x 768 matrix (3 GiB at N = 10^6), filled once with values in [-1, 1); benchmarks use
// prefixes.
const float* Targets() {
  static const float* const data = [] {
    auto* values = new float[kMaxTargets * kDim];  // Leaked on purpose: lives for the whole run.
    uint32_t state = 12345;
    for (size_t i = 0; i < kMaxTargets * kDim; ++i) {
      state = state * 1664525u + 1013904223u;
      values[i] = static_cast<float>(state >> 8) * (2.0f / 16777216.0f) - 1.0f;
    }
    return values;
  }();
  return data;
}

ThreadPool* Pool(bool threaded) {
  static ThreadPool* const pool =
      new ThreadPool(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  return threaded ? pool : nullptr;
}


void BM_MemoryReadFloor(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  ThreadPool* pool = Pool(state.range(1) != 0);
  const float* data = Targets();
  const size_t floats = n * kDim;
  constexpr size_t kChunk = size_t{1} << 20;  // Floats per ParallelFor chunk, as in the kernel.
  std::vector<float> partial((floats + kChunk - 1) / kChunk);
  for (auto _ : state) {
    const auto chunk = [&](size_t begin, size_t end) {
      for (size_t c = begin; c < end; ++c) {
        partial[c] = bench::MemoryFloorSum(data + c * kChunk, std::min(kChunk, floats - c * kChunk));
      }
    };
    if (pool != nullptr) {
      pool->ParallelFor(partial.size(), 1, chunk, pool->num_threads());
    } else {
      chunk(0, partial.size());
    }
    benchmark::DoNotOptimize(partial.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * floats * sizeof(float)));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
}

void BM_CheckFinite(benchmark::State& state) {
  const uint32_t n = static_cast<uint32_t>(state.range(0));
  const MatrixView targets{Targets(), n, kDim};
  for (auto _ : state) {
    absl::Status status = CheckFinite(targets, "targets");
    benchmark::DoNotOptimize(status);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * targets.bytes()));
}
BENCHMARK(BM_CheckFinite)->ArgName("N")->Arg(100'000)->Arg(1'000'000)->UseRealTime();

void BM_OneQuery(benchmark::State& state) {
  const uint32_t n = static_cast<uint32_t>(state.range(0));
  ThreadPool* pool = Pool(state.range(1) != 0);
  const float* data = Targets();
  std::vector<float> query(data + (kMaxTargets - 1) * kDim, data + kMaxTargets * kDim);
  std::vector<float> scores(n);
  for (auto _ : state) {
    CpuCosineScores(MatrixView{query.data(), 1, kDim}, MatrixView{data, n, kDim}, scores.data(), n,
                    pool);
    benchmark::DoNotOptimize(scores.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(
      static_cast<int64_t>(state.iterations() * size_t{n} * kDim * sizeof(float)));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
  state.SetLabel(CpuIsaName(BestCpuIsa()));
}

void BM_OneQueryTopK(benchmark::State& state) {
  const uint32_t n = static_cast<uint32_t>(state.range(0));
  ThreadPool* pool = Pool(state.range(1) != 0);
  const float* data = Targets();
  std::vector<float> query(data + (kMaxTargets - 1) * kDim, data + kMaxTargets * kDim);
  constexpr uint32_t kK = 10;
  uint32_t indices[kK];
  float scores[kK];
  for (auto _ : state) {
    CpuCosineTopK(MatrixView{query.data(), 1, kDim}, MatrixView{data, n, kDim}, kK, 0, indices,
                  scores, pool);
    benchmark::DoNotOptimize(indices);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(
      static_cast<int64_t>(state.iterations() * size_t{n} * kDim * sizeof(float)));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
}

void BM_QueriesTargets(benchmark::State& state) {
  const uint32_t nq = static_cast<uint32_t>(state.range(0));
  constexpr uint32_t kN = 10'000;
  ThreadPool* pool = Pool(state.range(1) != 0);
  const float* data = Targets();
  const MatrixView queries{data + size_t{500'000} * kDim, nq, kDim};  // Disjoint from the targets.
  std::vector<float> scores(size_t{nq} * kN);
  for (auto _ : state) {
    CpuCosineScores(queries, MatrixView{data, kN, kDim}, scores.data(), kN, pool);
    benchmark::DoNotOptimize(scores.data());
    benchmark::ClobberMemory();
  }
  const double pairs = static_cast<double>(nq) * kN;
  state.counters["FLOP/s"] =
      benchmark::Counter(2.0 * pairs * kDim, benchmark::Counter::kIsIterationInvariantRate);
  state.SetBytesProcessed(static_cast<int64_t>(
      state.iterations() * ((size_t{kN} + nq) * kDim + size_t{nq} * kN) * sizeof(float)));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * pairs));
  state.SetLabel(CpuIsaName(BestCpuIsa()));
}

void BM_QueriesTargetsTopK(benchmark::State& state) {
  const uint32_t nq = static_cast<uint32_t>(state.range(0));
  constexpr uint32_t kN = 10'000;
  constexpr uint32_t kK = 10;
  ThreadPool* pool = Pool(state.range(1) != 0);
  const float* data = Targets();
  const MatrixView queries{data + size_t{500'000} * kDim, nq, kDim};
  std::vector<uint32_t> indices(size_t{nq} * kK);
  std::vector<float> scores(size_t{nq} * kK);
  for (auto _ : state) {
    CpuCosineTopK(queries, MatrixView{data, kN, kDim}, kK, 0, indices.data(), scores.data(), pool);
    benchmark::DoNotOptimize(indices.data());
    benchmark::ClobberMemory();
  }
  const double pairs = static_cast<double>(nq) * kN;
  state.counters["FLOP/s"] =
      benchmark::Counter(2.0 * pairs * kDim, benchmark::Counter::kIsIterationInvariantRate);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * pairs));
}

void OneQueryArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"N", "threaded"});
  for (int threaded : {0, 1}) {
    for (int64_t n : {10'000, 100'000, 1'000'000}) b->Args({n, threaded});
  }
  b->UseRealTime();
}

void QueriesArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"Q", "threaded"});
  for (int threaded : {0, 1}) {
    for (int64_t q : {16, 64, 256}) b->Args({q, threaded});
  }
  b->UseRealTime();
}

BENCHMARK(BM_MemoryReadFloor)->Apply(OneQueryArgs);
BENCHMARK(BM_OneQuery)->Apply(OneQueryArgs);
BENCHMARK(BM_OneQueryTopK)->Apply(OneQueryArgs);
BENCHMARK(BM_QueriesTargets)->Apply(QueriesArgs);
BENCHMARK(BM_QueriesTargetsTopK)->Apply(QueriesArgs);

}  // namespace
}  // namespace simile
