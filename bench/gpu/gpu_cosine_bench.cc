// GPU benchmarks of the CUDA backend, each beside its physical floor measured in the same run
// (bench/gpu/README.md says how to run it; it needs a GPU and builds anywhere CUDA is):
//
// - D2DCopy/N: cudaMemcpy device-to-device of the bytes of N x 768 float targets: the memory
//   floor, counted as bytes read + bytes written per second.
// - OneQuery/N/k: the fused one-pass kernel over N x 768 device-resident targets (plus the top-k
//   passes when k > 0); GB/s counts the target bytes read (+ scores written). "fraction_of_d2d" is
//   that over the copy rate measured in the same benchmark, alternating with it (goal >= 0.8 at
//   N >= 10^6).
// - ManyQueries/Q/k: norms + SGEMM + epilogue (or top-k) for Q x 2^18 targets of dim 768, against
//   cuBLAS SGEMM alone on the same shape and buffers: "fraction_of_sgemm" = t_sgemm / t_simile
//   (goal >= 0.9).
// - CpuVsGpu/Q/N: one Backend::Cosine call from host memory to host memory (top-10, dim 768) on
//   the GPU backend and on the CPU backend (all cores): the CPU/GPU crossover batch size.
// After the benchmarks: the VRAM safety margin (how much of cudaMemGetInfo's free memory could
// really be allocated and written) and a summary table, printed last.
//
// Device work is timed with CUDA events after a warm-up; small inputs are rotated across copies
// totalling >= 1 GiB so that the L2 cache (50 MB on an H100) does not serve them.
#include <cublas_api.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"
#include "core/cpu_backend.h"
#include "core/thread_pool.h"
#include "kernels/cosine_kernels_internal.h"
#include "kernels/cosine_pipeline_internal.h"
#include "kernels/cublas_loader_internal.h"
#include "kernels/device_resources_internal.h"
#include "kernels/gpu_backend.h"
#include "kernels/gpu_plan.h"

namespace simile::bench {
namespace {

using kernels::GpuCallPlan;
using kernels::GpuError;
namespace internal = kernels::internal;

constexpr uint32_t kDim = 768;
constexpr uint64_t kRotateBytes = uint64_t{1} << 30;

// --- Results kept for the summary (the last run of each configuration wins). -------------------
struct Row {
  std::map<std::string, double> values;
};
std::map<std::string, Row>& Results() {
  static auto* results = new std::map<std::string, Row>;
  return *results;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// --- The device. ---------------------------------------------------------------------------------
struct Device {
  bool ok = false;
  std::string reason;
  cudaDeviceProp props{};
  const internal::CublasApi* cublas = nullptr;
  internal::Lane lane;  // compute stream + cuBLAS handle (what ComputeSubChunk uses).
  cudaEvent_t start = nullptr;
  cudaEvent_t stop = nullptr;
};

Device& Dev() {
  static Device* const device = [] {
    auto* d = new Device;
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
      d->reason = std::string("no GPU: ") + cudaGetErrorName(e);
      return d;
    }
    if (cudaGetDeviceProperties(&d->props, 0) != cudaSuccess) {
      d->reason = "cudaGetDeviceProperties failed";
      return d;
    }
    std::string error;
    d->cublas = internal::LoadCublas(&error);
    if (d->cublas == nullptr) {
      d->reason = error;
      return d;
    }
    const bool cuda_ok =
        cudaSetDevice(0) == cudaSuccess &&
        cudaStreamCreateWithFlags(&d->lane.compute, cudaStreamNonBlocking) == cudaSuccess &&
        cudaEventCreate(&d->start) == cudaSuccess && cudaEventCreate(&d->stop) == cudaSuccess;
    d->lane.copy = d->lane.compute;
    const bool cublas_ok = cuda_ok && d->cublas->create(&d->lane.cublas) == CUBLAS_STATUS_SUCCESS &&
                           d->cublas->set_stream(d->lane.cublas, d->lane.compute) ==
                               CUBLAS_STATUS_SUCCESS;
    d->ok = cublas_ok && cudaGetLastError() == cudaSuccess;
    if (!d->ok) d->reason = cuda_ok ? "cuBLAS setup failed" : "CUDA setup failed";
    return d;
  }();
  return *device;
}

// Device memory for the benchmark (plain cudaMalloc; freed at scope end).
class DeviceBuffer {
 public:
  explicit DeviceBuffer(uint64_t bytes) {
    if (bytes > 0 && cudaMalloc(&ptr_, bytes) != cudaSuccess) {
      (void)cudaGetLastError();
      ptr_ = nullptr;
    }
  }
  ~DeviceBuffer() {
    if (ptr_ != nullptr) cudaFree(ptr_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  bool ok() const { return ptr_ != nullptr; }

 private:
  void* ptr_ = nullptr;
};

// A failed CUDA call in the benchmark's own code (timing, copies): the figures would be
// meaningless, so the run stops with the error.
void CheckCuda(cudaError_t code, const char* what) {
  if (code == cudaSuccess) return;
  std::fprintf(stderr, "simile-gpu-cosine-bench: %s failed: %s (%d): %s\n", what,
               cudaGetErrorName(code), static_cast<int>(code), cudaGetErrorString(code));
  std::exit(1);
}

// Seconds of device time of what `enqueue` puts on the compute stream. Errors of the enqueued
// work (and of launches in it) stop the run.
template <typename Fn>
double TimeOnDevice(Fn enqueue) {
  Device& d = Dev();
  CheckCuda(cudaEventRecord(d.start, d.lane.compute), "cudaEventRecord");
  enqueue();
  CheckCuda(cudaGetLastError(), "the timed work");
  CheckCuda(cudaEventRecord(d.stop, d.lane.compute), "cudaEventRecord");
  CheckCuda(cudaEventSynchronize(d.stop), "cudaEventSynchronize");
  float ms = 0;
  CheckCuda(cudaEventElapsedTime(&ms, d.start, d.stop), "cudaEventElapsedTime");
  return ms * 1e-3;
}

bool SkipWithoutGpu(benchmark::State& state) {
  if (Dev().ok) return false;
  state.SkipWithError(Dev().reason.c_str());
  return true;
}

void Check(benchmark::State& state, const GpuError& error) {
  if (!error.ok()) state.SkipWithError(error.message.c_str());
}

kernels::GpuPlanOptions OneSubChunk() {
  kernels::GpuPlanOptions options;
  options.sub_chunk_target_bytes = uint64_t{1} << 50;
  options.sub_chunk_score_bytes = uint64_t{1} << 50;
  return options;
}

// Device buffers for ComputeSubChunk over `sets` rotated copies of the targets.
struct Workspace {
  GpuCallPlan plan;
  std::unique_ptr<DeviceBuffer> queries, norms, scores, cand_a, cand_b, best;
  std::vector<std::unique_ptr<DeviceBuffer>> targets;
  bool ok = true;

  Workspace(uint32_t q, uint64_t n, uint32_t top_k, int sets) {
    absl::StatusOr<GpuCallPlan> p = kernels::PlanGpuCall(q, kDim, n, top_k, OneSubChunk());
    if (!p.ok()) {
      ok = false;
      return;
    }
    plan = *p;
    const uint64_t row = uint64_t{plan.padded_dim} * 4;
    queries = std::make_unique<DeviceBuffer>(q * row);
    norms = std::make_unique<DeviceBuffer>(n * 4);
    scores = std::make_unique<DeviceBuffer>(uint64_t{q} * n * 4);
    cand_a = std::make_unique<DeviceBuffer>(uint64_t{q} * std::max<uint64_t>(1, plan.cand_a_per_query) * 8);
    cand_b = std::make_unique<DeviceBuffer>(uint64_t{q} * std::max<uint64_t>(1, plan.cand_b_per_query) * 8);
    best = std::make_unique<DeviceBuffer>(uint64_t{q} * std::max<uint32_t>(1, plan.k_eff) * 8);
    ok = queries->ok() && norms->ok() && scores->ok() && cand_a->ok() && cand_b->ok() && best->ok();
    for (int s = 0; s < sets && ok; ++s) {
      targets.push_back(std::make_unique<DeviceBuffer>(n * row));
      ok = targets.back()->ok();
      if (ok) {
        ok = internal::LaunchFillRandom(targets.back()->as<float>(), n * kDim, 100 + s,
                                        Dev().lane.compute)
                 .ok();
      }
    }
    if (!ok) return;
    ok = internal::LaunchFillRandom(queries->as<float>(), uint64_t{q} * kDim, 7, Dev().lane.compute)
             .ok() &&
         internal::LaunchNormalizeQueries(queries->as<float>(), q, plan.padded_dim,
                                          Dev().lane.compute)
             .ok();
    CheckCuda(cudaStreamSynchronize(Dev().lane.compute), "filling the inputs");
  }

  internal::SubChunkBuffers Buffers(int set) const {
    internal::SubChunkBuffers b;
    b.queries = queries->as<float>();
    b.targets = targets[set]->as<float>();
    b.norms = norms->as<float>();
    b.scores = scores->as<float>();
    b.cand_a = cand_a->as<uint64_t>();
    b.cand_b = cand_b->as<uint64_t>();
    b.best = best->as<uint64_t>();
    return b;
  }
};

int RotationSets(uint64_t bytes) {
  return static_cast<int>(std::max<uint64_t>(1, (kRotateBytes + bytes - 1) / bytes));
}

// --- D2D copy floor. -----------------------------------------------------------------------------
void BM_D2DCopy(benchmark::State& state) {
  if (SkipWithoutGpu(state)) return;
  const uint64_t n = static_cast<uint64_t>(state.range(0));
  const uint64_t bytes = n * kDim * 4;
  const int sets = RotationSets(bytes);
  std::vector<std::unique_ptr<DeviceBuffer>> src, dst;
  for (int s = 0; s < sets; ++s) {
    src.push_back(std::make_unique<DeviceBuffer>(bytes));
    dst.push_back(std::make_unique<DeviceBuffer>(bytes));
    if (!src.back()->ok() || !dst.back()->ok()) {
      state.SkipWithError("not enough device memory");
      return;
    }
  }
  std::vector<double> times;
  int i = 0;
  for (auto _ : state) {
    const int s = i++ % sets;
    const double t = TimeOnDevice([&] {
      CheckCuda(cudaMemcpyAsync(dst[s]->as<char>(), src[s]->as<char>(), bytes,
                                cudaMemcpyDeviceToDevice, Dev().lane.compute),
                "cudaMemcpyAsync (device to device)");
    });
    state.SetIterationTime(t);
    times.push_back(t);
  }
  const double gbps = 2.0 * bytes / Median(times) / 1e9;
  state.counters["rw_GBps"] = gbps;
  Results()["d2d/" + std::to_string(n)].values = {{"GBps", gbps}};
}

// --- One query x N (memory bound). ---------------------------------------------------------------
void BM_OneQuery(benchmark::State& state) {
  if (SkipWithoutGpu(state)) return;
  const uint64_t n = static_cast<uint64_t>(state.range(0));
  const auto top_k = static_cast<uint32_t>(state.range(1));
  const uint64_t bytes = n * kDim * 4;
  const int sets = RotationSets(bytes);
  Workspace ws(1, n, top_k, sets);
  // The copy floor, measured in the same benchmark: into a second buffer when there is room,
  // else within the targets (first half to second half).
  size_t free_bytes = 0, total = 0;
  CheckCuda(cudaMemGetInfo(&free_bytes, &total), "cudaMemGetInfo");
  std::unique_ptr<DeviceBuffer> copy_dst;
  if (ws.ok && bytes + (uint64_t{1} << 30) < free_bytes) copy_dst = std::make_unique<DeviceBuffer>(bytes);
  if (!ws.ok) {
    state.SkipWithError("not enough device memory");
    return;
  }
  std::vector<double> kernel_times, copy_times;
  GpuError error;
  int i = 0;
  for (auto _ : state) {
    const int s = i++ % sets;
    char* src = ws.targets[s]->as<char>();
    const bool whole = copy_dst != nullptr && copy_dst->ok();
    const uint64_t copy_bytes = whole ? bytes : bytes / 2;
    copy_times.push_back(TimeOnDevice([&] {
      CheckCuda(cudaMemcpyAsync(whole ? copy_dst->as<char>() : src + copy_bytes, src, copy_bytes,
                                cudaMemcpyDeviceToDevice, Dev().lane.compute),
                "cudaMemcpyAsync (device to device)");
    }) * static_cast<double>(bytes) / copy_bytes);  // Scaled to the same bytes.
    const double t = TimeOnDevice([&] {
      error = internal::ComputeSubChunk(*Dev().cublas, Dev().lane, ws.plan, ws.Buffers(s),
                                        static_cast<uint32_t>(n), 0);
    });
    state.SetIterationTime(t);
    kernel_times.push_back(t);
    if (!error.ok()) break;
  }
  Check(state, error);
  const double kernel_gbps = (bytes + n * 4.0) / Median(kernel_times) / 1e9;
  const double d2d_gbps = 2.0 * bytes / Median(copy_times) / 1e9;
  state.counters["GBps"] = kernel_gbps;
  state.counters["d2d_rw_GBps"] = d2d_gbps;
  state.counters["fraction_of_d2d"] = kernel_gbps / d2d_gbps;
  Results()["one_query/" + std::to_string(n) + "/k" + std::to_string(top_k)].values = {
      {"GBps", kernel_gbps}, {"d2d", d2d_gbps}, {"fraction", kernel_gbps / d2d_gbps},
      {"ms", Median(kernel_times) * 1e3}};
}

// --- Q x N (compute bound) against cuBLAS SGEMM of the same shape. -------------------------------
void BM_ManyQueries(benchmark::State& state) {
  if (SkipWithoutGpu(state)) return;
  const auto q = static_cast<uint32_t>(state.range(0));
  const auto top_k = static_cast<uint32_t>(state.range(1));
  const uint64_t n = uint64_t{1} << 18;
  Workspace ws(q, n, top_k, 1);
  if (!ws.ok) {
    state.SkipWithError("not enough device memory");
    return;
  }
  const internal::SubChunkBuffers b = ws.Buffers(0);
  const int padded = static_cast<int>(ws.plan.padded_dim);
  std::vector<double> ours, sgemm;
  GpuError error;
  for (auto _ : state) {
    sgemm.push_back(TimeOnDevice([&] {
      const float one = 1, zero = 0;
      Dev().cublas->sgemm(Dev().lane.cublas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n),
                          static_cast<int>(q), padded, &one, b.targets, padded, b.queries, padded,
                          &zero, b.scores, static_cast<int>(n));
    }));
    const double t = TimeOnDevice([&] {
      error = internal::ComputeSubChunk(*Dev().cublas, Dev().lane, ws.plan, b,
                                        static_cast<uint32_t>(n), 0);
    });
    state.SetIterationTime(t);
    ours.push_back(t);
    if (!error.ok()) break;
  }
  Check(state, error);
  const double flops = 2.0 * q * n * kDim;
  const double ours_tf = flops / Median(ours) / 1e12;
  const double sgemm_tf = flops / Median(sgemm) / 1e12;
  state.counters["TFLOPs"] = ours_tf;
  state.counters["sgemm_TFLOPs"] = sgemm_tf;
  state.counters["fraction_of_sgemm"] = Median(sgemm) / Median(ours);
  Results()["many_queries/" + std::to_string(q) + "/k" + std::to_string(top_k)].values = {
      {"TF", ours_tf}, {"sgemm_TF", sgemm_tf}, {"fraction", Median(sgemm) / Median(ours)},
      {"ms", Median(ours) * 1e3}};
}

// --- CPU vs GPU, host to host. -------------------------------------------------------------------
ThreadPool& Pool() {
  static auto* pool =
      new ThreadPool(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  return *pool;
}

Backend* GpuBackend() {
  static kernels::GpuBackendSet* const set = [] {
    kernels::GpuBackendOptions options;
    options.host_pool = &Pool();
    absl::StatusOr<kernels::GpuBackendSet> s = kernels::CreateGpuBackends(options);
    return s.ok() ? new kernels::GpuBackendSet(*std::move(s)) : nullptr;
  }();
  return set == nullptr || set->backends.empty() ? nullptr : set->backends.front().get();
}

std::vector<float> HostRandom(uint64_t count, uint64_t seed) {
  std::vector<float> v(count);
  uint64_t x = seed;
  for (float& f : v) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    f = static_cast<float>(x >> 40) * 0x1p-23f - 1.0f;
  }
  return v;
}

void BM_CpuVsGpu(benchmark::State& state) {
  if (SkipWithoutGpu(state)) return;
  Backend* gpu = GpuBackend();
  if (gpu == nullptr) {
    state.SkipWithError("no GPU backend");
    return;
  }
  static CpuBackend* const cpu = new CpuBackend(&Pool());
  const auto q = static_cast<uint32_t>(state.range(0));
  const auto n = static_cast<uint32_t>(state.range(1));
  const uint32_t k = std::min<uint32_t>(10, n);
  const std::vector<float> queries = HostRandom(uint64_t{q} * kDim, 1);
  const std::vector<float> targets = HostRandom(uint64_t{n} * kDim, 2);
  std::vector<uint32_t> indices(uint64_t{q} * k);
  std::vector<float> scores(uint64_t{q} * k);
  ChunkArgs args;
  args.queries = MatrixView{queries.data(), q, kDim};
  args.targets = MatrixView{targets.data(), n, kDim};
  args.top_k = k;
  args.out.top_indices = indices.data();
  args.out.top_scores = scores.data();
  auto wall = [&](Backend* backend) {
    const auto t0 = std::chrono::steady_clock::now();
    absl::StatusOr<uint64_t> r = backend->Cosine(args);
    const auto t1 = std::chrono::steady_clock::now();
    if (!r.ok()) state.SkipWithError(std::string(r.status().message()).c_str());
    return std::chrono::duration<double>(t1 - t0).count();
  };
  (void)wall(gpu);  // Warm-up (pools, kernels, cuBLAS).
  (void)wall(cpu);
  std::vector<double> gpu_times, cpu_times;
  for (auto _ : state) {
    const double g = wall(gpu);
    cpu_times.push_back(wall(cpu));
    gpu_times.push_back(g);
    state.SetIterationTime(g);
  }
  const double g = Median(gpu_times) * 1e3;
  const double c = Median(cpu_times) * 1e3;
  state.counters["gpu_ms"] = g;
  state.counters["cpu_ms"] = c;
  state.counters["gpu_speedup"] = c / g;
  Results()["cpu_vs_gpu/" + std::to_string(q) + "/" + std::to_string(n)].values = {
      {"gpu_ms", g}, {"cpu_ms", c}, {"q", q}, {"n", n}};
}

BENCHMARK(BM_D2DCopy)->Arg(10'000)->Arg(100'000)->Arg(1'000'000)->Arg(10'000'000)
    ->UseManualTime()->Iterations(20)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_OneQuery)
    ->ArgsProduct({{10'000, 100'000, 1'000'000, 10'000'000}, {0, 10}})
    ->UseManualTime()->Iterations(20)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ManyQueries)
    ->ArgsProduct({{8, 16, 64, 256, 1024}, {0, 10}})
    ->UseManualTime()->Iterations(10)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CpuVsGpu)
    ->Args({1, 1'000})->Args({1, 10'000})->Args({1, 100'000})->Args({1, 1'000'000})
    ->Args({16, 1'000})->Args({16, 10'000})->Args({16, 100'000})->Args({16, 1'000'000})
    ->Args({256, 100})->Args({256, 1'000})->Args({256, 10'000})->Args({256, 100'000})
    ->UseManualTime()->Iterations(3)->Unit(benchmark::kMillisecond);

// --- VRAM safety margin. -------------------------------------------------------------------------
// How much of cudaMemGetInfo's free memory could really be allocated (cudaMalloc, 256 MiB then
// smaller blocks down to 2 MiB) and written (cudaMemset).
void MeasureVramMargin() {
  size_t free_bytes = 0, total = 0;
  if (cudaMemGetInfo(&free_bytes, &total) != cudaSuccess) return;
  std::vector<void*> blocks;
  uint64_t allocated = 0;
  for (uint64_t block = uint64_t{256} << 20; block >= (uint64_t{2} << 20);) {
    void* p = nullptr;
    if (cudaMalloc(&p, block) == cudaSuccess) {
      blocks.push_back(p);
      allocated += block;
    } else {
      (void)cudaGetLastError();
      block /= 2;
    }
  }
  bool written = true;
  for (void* p : blocks) written = written && cudaMemset(p, 1, 2 << 20) == cudaSuccess;
  written = written && cudaDeviceSynchronize() == cudaSuccess;
  for (void* p : blocks) cudaFree(p);
  Results()["vram"].values = {{"free_MiB", free_bytes / 1048576.0},
                              {"allocated_MiB", allocated / 1048576.0},
                              {"fraction", static_cast<double>(allocated) / free_bytes},
                              {"written", written ? 1 : 0}};
}

void PrintSummary() {
  const Device& d = Dev();
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  std::printf("\n==== simile GPU benchmark summary ====\n");
  std::printf("device: %s, %d SMs, L2 %.0f MB, %.1f GiB; driver API %d, runtime %d\n",
              d.props.name, d.props.multiProcessorCount, d.props.l2CacheSize / 1e6,
              d.props.totalGlobalMem / 1073741824.0, driver, runtime);
  auto& r = Results();
  std::printf("\n%-28s %12s %12s %10s\n", "one query x N (dim 768)", "GB/s", "D2D GB/s", "fraction");
  for (const auto& [name, row] : r) {
    if (name.rfind("one_query/", 0) != 0) continue;
    std::printf("%-28s %12.0f %12.0f %10.3f\n", name.c_str(), row.values.at("GBps"),
                row.values.at("d2d"), row.values.at("fraction"));
  }
  std::printf("(goal: fraction >= 0.8 at N >= 10^6)\n");
  std::printf("\n%-28s %12s %12s %10s\n", "Q x 2^18 (dim 768)", "TFLOP/s", "SGEMM TF/s", "fraction");
  for (const auto& [name, row] : r) {
    if (name.rfind("many_queries/", 0) != 0) continue;
    std::printf("%-28s %12.2f %12.2f %10.3f\n", name.c_str(), row.values.at("TF"),
                row.values.at("sgemm_TF"), row.values.at("fraction"));
  }
  std::printf("(goal: fraction >= 0.9 of cuBLAS SGEMM)\n");
  std::printf("\n%-28s %12s %12s %10s\n", "Cosine top-10, host to host", "GPU ms", "CPU ms", "CPU/GPU");
  std::map<double, std::vector<std::pair<double, double>>> by_q;  // q -> (n, cpu/gpu)
  for (const auto& [name, row] : r) {
    if (name.rfind("cpu_vs_gpu/", 0) != 0) continue;
    const double g = row.values.at("gpu_ms"), c = row.values.at("cpu_ms");
    std::printf("%-28s %12.3f %12.3f %10.2f\n", name.c_str(), g, c, c / g);
    by_q[row.values.at("q")].emplace_back(row.values.at("n"), c / g);
  }
  for (auto& [q, points] : by_q) {
    std::sort(points.begin(), points.end());
    std::string crossover = "GPU slower at every N measured";
    for (size_t i = 0; i < points.size(); ++i) {
      bool faster_from_here = true;
      for (size_t j = i; j < points.size(); ++j) faster_from_here &= points[j].second > 1.0;
      if (faster_from_here) {
        crossover = i == 0 ? "GPU faster at every N measured (>= " + std::to_string(static_cast<long>(points[0].first)) + ")"
                           : "between N = " + std::to_string(static_cast<long>(points[i - 1].first)) +
                                 " and N = " + std::to_string(static_cast<long>(points[i].first));
        break;
      }
    }
    std::printf("crossover Q=%.0f: %s\n", q, crossover.c_str());
  }
  if (r.count("vram") != 0) {
    const auto& v = r["vram"].values;
    std::printf("\nVRAM: %.0f MiB free per cudaMemGetInfo, %.0f MiB allocated (%.4f), written: %s\n",
                v.at("free_MiB"), v.at("allocated_MiB"), v.at("fraction"),
                v.at("written") != 0 ? "yes" : "NO");
  }
  for (const auto& [name, row] : r) {
    if (name.rfind("d2d/", 0) == 0) {
      std::printf("D2D copy %-19s %12.0f GB/s (read + write)\n", name.c_str() + 4, row.values.at("GBps"));
    }
  }
}

}  // namespace
}  // namespace simile::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  simile::bench::Device& d = simile::bench::Dev();
  if (!d.ok) {
    std::printf("simile-gpu-cosine-bench: no usable GPU (%s); nothing to measure\n", d.reason.c_str());
    return 2;
  }
  benchmark::RunSpecifiedBenchmarks();
  simile::bench::MeasureVramMargin();
  simile::bench::PrintSummary();
  benchmark::Shutdown();
  return 0;
}
