// simile's CPU kernel beside the anchors a user would otherwise reach for, in one binary and one run, so that
// every comparison is a ratio of two figures measured side by side (these machines are noisy):
//
//   Floor/D/N/threaded        a vectorized sum over the same N x D target bytes: the memory-read floor.
//   Simile/D/N/threaded       simile's cosine, one query x N (core/cpu_cosine.h).
//   BlasSgemv/D/N/threaded    OpenBLAS: cblas_sgemv for the dot products, then one cblas_sdot per target row for
//                             its norm, then the division: full cosine, as a user with BLAS would write it.
//   BlasDotsOnly/...          cblas_sgemv alone (no norms): a lower bound no BLAS cosine can beat.
//   Eigen/D/N/0               Eigen 3: (T * q) and T.rowwise().norm(), then the division (single-threaded).
//   SimileTopK/D/N/threaded   simile's top-10 by cosine.
//   FaissTopK/D/N/threaded    Faiss IndexFlatIP::search, top-10 by inner product over targets normalized
//                             once before timing (so Faiss is NOT charged for the norms simile computes).
//   Q x N (N = 10^4, D = 768), FLOP/s = 2 Q N D:
//   SimileQxN/Q/threaded, BlasSgemmQxN/Q/threaded (cblas_sgemm plus the norms and the scaling pass),
//   EigenQxN/Q/0, SimileQxNTopK/Q/threaded, FaissQxNTopK/Q/threaded.
//
// threaded:0 is one thread for every library; threaded:1 is one thread per hardware thread for every library
// (simile's ThreadPool, openblas_set_num_threads, omp_set_num_threads for Faiss). Eigen runs single-threaded.
//
// Run: simile-cpu-anchors-bench --benchmark_min_time=0.2   (see bench/RESULTS.md for the recorded run)
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <faiss/IndexFlat.h>
#include <omp.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <utility>
#include <thread>
#include <vector>

#include "bench/memory_floor.h"
#include "core/cpu_cosine.h"
#include "core/matrix_view.h"
#include "core/thread_pool.h"

namespace simile {
namespace {

constexpr size_t kCapacityFloats = size_t{1'000'000} * 768;  // 3 GiB, shared by every shape.
constexpr uint32_t kTopK = 10;
constexpr uint32_t kQxNTargets = 10'000;
constexpr uint32_t kQxNDim = 768;

// One buffer of values in [-1, 1), filled once; an N x D matrix is its first N * D floats.
const float* Data() {
  static const float* const data = [] {
    auto* values = new float[kCapacityFloats];  // Leaked on purpose: lives for the whole run.
    uint32_t state = 12345;
    for (size_t i = 0; i < kCapacityFloats; ++i) {
      state = state * 1664525u + 1013904223u;
      values[i] = static_cast<float>(state >> 8) * (2.0f / 16777216.0f) - 1.0f;
    }
    return values;
  }();
  return data;
}

// Filled before main(), so that no benchmark's first run pays for the 3 GiB fill and its page faults.
[[maybe_unused]] const bool kDataReady = Data() != nullptr;

// Queries come from the end of the buffer, disjoint from every target prefix used here.
const float* Queries(uint32_t q, uint32_t dim) { return Data() + kCapacityFloats - size_t{q} * dim; }

int HardwareThreads() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

// Sets every library's thread count for one benchmark; returns simile's pool (null: run inline).
ThreadPool* UseThreads(bool threaded) {
  static ThreadPool* const pool = new ThreadPool(HardwareThreads());
  const int threads = threaded ? HardwareThreads() : 1;
  openblas_set_num_threads(threads);
  omp_set_num_threads(threads);
  return threaded ? pool : nullptr;
}


struct Shape {
  uint32_t dim;
  uint32_t n;
  bool threaded;
};
Shape ShapeOf(const benchmark::State& state) {
  return {static_cast<uint32_t>(state.range(0)), static_cast<uint32_t>(state.range(1)), state.range(2) != 0};
}
void SetTargetBytes(benchmark::State& state, const Shape& s) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size_t{s.n} * s.dim * sizeof(float)));
}

void BM_Floor(benchmark::State& state) {
  const Shape s = ShapeOf(state);
  ThreadPool* pool = UseThreads(s.threaded);
  const size_t floats = size_t{s.n} * s.dim;
  constexpr size_t kChunk = size_t{1} << 20;
  std::vector<float> partial((floats + kChunk - 1) / kChunk);
  for (auto _ : state) {
    const auto chunk = [&](size_t begin, size_t end) {
      for (size_t c = begin; c < end; ++c) {
        partial[c] = bench::MemoryFloorSum(Data() + c * kChunk, std::min(kChunk, floats - c * kChunk));
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
  SetTargetBytes(state, s);
}

void BM_Simile(benchmark::State& state) {
  const Shape s = ShapeOf(state);
  ThreadPool* pool = UseThreads(s.threaded);
  std::vector<float> scores(s.n);
  for (auto _ : state) {
    CpuCosineScores(MatrixView{Queries(1, s.dim), 1, s.dim}, MatrixView{Data(), s.n, s.dim}, scores.data(), s.n,
                    pool);
    benchmark::DoNotOptimize(scores.data());
    benchmark::ClobberMemory();
  }
  SetTargetBytes(state, s);
}

// Cosine from dot products and squared norms, zero vectors scoring 0 (simile's definition).
void DivideByNorms(const float* dots, const float* target_sq_norms, float query_norm, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) {
    const float denom = std::sqrt(target_sq_norms[i]) * query_norm;
    out[i] = denom > 0.0f ? dots[i] / denom : 0.0f;
  }
}

void BM_BlasSgemv(benchmark::State& state) {
  const Shape s = ShapeOf(state);
  UseThreads(s.threaded);
  const float* q = Queries(1, s.dim);
  const float query_norm = cblas_snrm2(static_cast<int>(s.dim), q, 1);
  std::vector<float> dots(s.n), norms(s.n), scores(s.n);
  for (auto _ : state) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(s.n), static_cast<int>(s.dim), 1.0f, Data(),
                static_cast<int>(s.dim), q, 1, 0.0f, dots.data(), 1);
    for (uint32_t i = 0; i < s.n; ++i) {
      const float* row = Data() + size_t{i} * s.dim;
      norms[i] = cblas_sdot(static_cast<int>(s.dim), row, 1, row, 1);
    }
    DivideByNorms(dots.data(), norms.data(), query_norm, s.n, scores.data());
    benchmark::DoNotOptimize(scores.data());
    benchmark::ClobberMemory();
  }
  SetTargetBytes(state, s);
}

void BM_BlasDotsOnly(benchmark::State& state) {
  const Shape s = ShapeOf(state);
  UseThreads(s.threaded);
  std::vector<float> dots(s.n);
  for (auto _ : state) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(s.n), static_cast<int>(s.dim), 1.0f, Data(),
                static_cast<int>(s.dim), Queries(1, s.dim), 1, 0.0f, dots.data(), 1);
    benchmark::DoNotOptimize(dots.data());
    benchmark::ClobberMemory();
  }
  SetTargetBytes(state, s);
}

using RowMajorMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

void BM_Eigen(benchmark::State& state) {
  const Shape s = ShapeOf(state);
  UseThreads(false);
  const Eigen::Map<const RowMajorMatrix> targets(Data(), s.n, s.dim);
  const Eigen::Map<const Eigen::VectorXf> query(Queries(1, s.dim), s.dim);
  Eigen::VectorXf scores(s.n);
  for (auto _ : state) {
    const float query_norm = query.norm();
    scores.noalias() = targets * query;
    const Eigen::VectorXf norms = targets.rowwise().norm();
    scores = (norms.array() * query_norm > 0.0f).select(scores.array() / (norms.array() * query_norm), 0.0f);
    benchmark::DoNotOptimize(scores.data());
    benchmark::ClobberMemory();
  }
  SetTargetBytes(state, s);
}

void BM_SimileTopK(benchmark::State& state) {
  const Shape s = ShapeOf(state);
  ThreadPool* pool = UseThreads(s.threaded);
  uint32_t indices[kTopK];
  float scores[kTopK];
  for (auto _ : state) {
    CpuCosineTopK(MatrixView{Queries(1, s.dim), 1, s.dim}, MatrixView{Data(), s.n, s.dim}, kTopK, 0, indices,
                  scores, pool);
    benchmark::DoNotOptimize(indices);
    benchmark::ClobberMemory();
  }
  SetTargetBytes(state, s);
}

// A Faiss flat inner-product index over the n x dim targets normalized to unit length, built once per shape
// before timing and kept for the run (the benchmark library calls each benchmark function several times).
const faiss::IndexFlatIP* NormalizedIndex(uint32_t n, uint32_t dim) {
  static auto* const cache = new std::map<std::pair<uint32_t, uint32_t>, std::unique_ptr<faiss::IndexFlatIP>>();
  std::unique_ptr<faiss::IndexFlatIP>& cached = (*cache)[{n, dim}];
  if (cached != nullptr) return cached.get();
  auto index = std::make_unique<faiss::IndexFlatIP>(dim);
  std::vector<float> block;
  constexpr uint32_t kBlockRows = 65'536;
  for (uint32_t begin = 0; begin < n; begin += kBlockRows) {
    const uint32_t rows = std::min(kBlockRows, n - begin);
    block.assign(Data() + size_t{begin} * dim, Data() + size_t{begin + rows} * dim);
    for (uint32_t r = 0; r < rows; ++r) {
      float* row = block.data() + size_t{r} * dim;
      const float norm = cblas_snrm2(static_cast<int>(dim), row, 1);
      if (norm > 0.0f) cblas_sscal(static_cast<int>(dim), 1.0f / norm, row, 1);
    }
    index->add(rows, block.data());
  }
  cached = std::move(index);
  return cached.get();
}

std::vector<float> NormalizedQueries(uint32_t q, uint32_t dim) {
  std::vector<float> out(Queries(q, dim), Queries(q, dim) + size_t{q} * dim);
  for (uint32_t r = 0; r < q; ++r) {
    float* row = out.data() + size_t{r} * dim;
    const float norm = cblas_snrm2(static_cast<int>(dim), row, 1);
    if (norm > 0.0f) cblas_sscal(static_cast<int>(dim), 1.0f / norm, row, 1);
  }
  return out;
}

void BM_FaissTopK(benchmark::State& state) {
  const Shape s = ShapeOf(state);
  UseThreads(s.threaded);
  const faiss::IndexFlatIP* index = NormalizedIndex(s.n, s.dim);
  const std::vector<float> query = NormalizedQueries(1, s.dim);
  std::vector<float> distances(kTopK);
  std::vector<faiss::Index::idx_t> labels(kTopK);
  for (auto _ : state) {
    index->search(1, query.data(), kTopK, distances.data(), labels.data());
    benchmark::DoNotOptimize(labels.data());
    benchmark::ClobberMemory();
  }
  SetTargetBytes(state, s);
}

// --- Q x N ---

void SetFlops(benchmark::State& state, uint32_t q) {
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * q * kQxNTargets * kQxNDim,
                                                benchmark::Counter::kIsIterationInvariantRate);
}

void BM_SimileQxN(benchmark::State& state) {
  const uint32_t q = static_cast<uint32_t>(state.range(0));
  ThreadPool* pool = UseThreads(state.range(1) != 0);
  std::vector<float> scores(size_t{q} * kQxNTargets);
  for (auto _ : state) {
    CpuCosineScores(MatrixView{Queries(q, kQxNDim), q, kQxNDim}, MatrixView{Data(), kQxNTargets, kQxNDim},
                    scores.data(), kQxNTargets, pool);
    benchmark::DoNotOptimize(scores.data());
    benchmark::ClobberMemory();
  }
  SetFlops(state, q);
}

void BM_BlasSgemmQxN(benchmark::State& state) {
  const uint32_t q = static_cast<uint32_t>(state.range(0));
  UseThreads(state.range(1) != 0);
  const float* queries = Queries(q, kQxNDim);
  std::vector<float> scores(size_t{q} * kQxNTargets), target_norms(kQxNTargets), query_norms(q);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(q), kQxNTargets, kQxNDim, 1.0f,
                queries, kQxNDim, Data(), kQxNDim, 0.0f, scores.data(), kQxNTargets);
    for (uint32_t t = 0; t < kQxNTargets; ++t) {
      target_norms[t] = cblas_snrm2(kQxNDim, Data() + size_t{t} * kQxNDim, 1);
    }
    for (uint32_t r = 0; r < q; ++r) query_norms[r] = cblas_snrm2(kQxNDim, queries + size_t{r} * kQxNDim, 1);
    for (uint32_t r = 0; r < q; ++r) {
      float* row = scores.data() + size_t{r} * kQxNTargets;
      for (uint32_t t = 0; t < kQxNTargets; ++t) {
        const float denom = query_norms[r] * target_norms[t];
        row[t] = denom > 0.0f ? row[t] / denom : 0.0f;
      }
    }
    benchmark::DoNotOptimize(scores.data());
    benchmark::ClobberMemory();
  }
  SetFlops(state, q);
}

void BM_EigenQxN(benchmark::State& state) {
  const uint32_t q = static_cast<uint32_t>(state.range(0));
  UseThreads(false);
  const Eigen::Map<const RowMajorMatrix> targets(Data(), kQxNTargets, kQxNDim);
  const Eigen::Map<const RowMajorMatrix> queries(Queries(q, kQxNDim), q, kQxNDim);
  RowMajorMatrix scores(q, kQxNTargets);
  for (auto _ : state) {
    scores.noalias() = queries * targets.transpose();
    const Eigen::VectorXf tn = targets.rowwise().norm();
    const Eigen::VectorXf qn = queries.rowwise().norm();
    const Eigen::ArrayXXf denom = (qn * tn.transpose()).array();
    scores = (denom > 0.0f).select(scores.array() / denom, 0.0f).matrix();
    benchmark::DoNotOptimize(scores.data());
    benchmark::ClobberMemory();
  }
  SetFlops(state, q);
}

void BM_SimileQxNTopK(benchmark::State& state) {
  const uint32_t q = static_cast<uint32_t>(state.range(0));
  ThreadPool* pool = UseThreads(state.range(1) != 0);
  std::vector<uint32_t> indices(size_t{q} * kTopK);
  std::vector<float> scores(size_t{q} * kTopK);
  for (auto _ : state) {
    CpuCosineTopK(MatrixView{Queries(q, kQxNDim), q, kQxNDim}, MatrixView{Data(), kQxNTargets, kQxNDim}, kTopK,
                  0, indices.data(), scores.data(), pool);
    benchmark::DoNotOptimize(indices.data());
    benchmark::ClobberMemory();
  }
  SetFlops(state, q);
}

void BM_FaissQxNTopK(benchmark::State& state) {
  const uint32_t q = static_cast<uint32_t>(state.range(0));
  UseThreads(state.range(1) != 0);
  const faiss::IndexFlatIP* index = NormalizedIndex(kQxNTargets, kQxNDim);
  const std::vector<float> queries = NormalizedQueries(q, kQxNDim);
  std::vector<float> distances(size_t{q} * kTopK);
  std::vector<faiss::Index::idx_t> labels(size_t{q} * kTopK);
  for (auto _ : state) {
    index->search(q, queries.data(), kTopK, distances.data(), labels.data());
    benchmark::DoNotOptimize(labels.data());
    benchmark::ClobberMemory();
  }
  SetFlops(state, q);
}

void OneQueryArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"D", "N", "threaded"});
  for (int threaded : {0, 1}) {
    b->Args({768, 100'000, threaded});
    b->Args({768, 1'000'000, threaded});
    b->Args({128, 1'000'000, threaded});
    b->Args({1536, 100'000, threaded});
  }
  b->UseRealTime();
}
void SingleThreadOneQueryArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"D", "N", "threaded"});
  b->Args({768, 100'000, 0});
  b->Args({768, 1'000'000, 0});
  b->Args({128, 1'000'000, 0});
  b->Args({1536, 100'000, 0});
  b->UseRealTime();
}
void QxNArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"Q", "threaded"});
  for (int threaded : {0, 1}) {
    for (int64_t q : {16, 64, 256}) b->Args({q, threaded});
  }
  b->UseRealTime();
}
void SingleThreadQxNArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"Q", "threaded"});
  for (int64_t q : {16, 64, 256}) b->Args({q, 0});
  b->UseRealTime();
}

BENCHMARK(BM_Floor)->Apply(OneQueryArgs);
BENCHMARK(BM_Simile)->Apply(OneQueryArgs);
BENCHMARK(BM_BlasSgemv)->Apply(OneQueryArgs);
BENCHMARK(BM_BlasDotsOnly)->Apply(OneQueryArgs);
BENCHMARK(BM_Eigen)->Apply(SingleThreadOneQueryArgs);
BENCHMARK(BM_SimileTopK)->Apply(OneQueryArgs);
BENCHMARK(BM_FaissTopK)->Apply(OneQueryArgs);
BENCHMARK(BM_SimileQxN)->Apply(QxNArgs);
BENCHMARK(BM_BlasSgemmQxN)->Apply(QxNArgs);
BENCHMARK(BM_EigenQxN)->Apply(SingleThreadQxNArgs);
BENCHMARK(BM_SimileQxNTopK)->Apply(QxNArgs);
BENCHMARK(BM_FaissQxNTopK)->Apply(QxNArgs);

}  // namespace
}  // namespace simile
