// FaultInjector and FaultInjectingBackend: off costs nothing and injects nothing; rates 0 and 1 are
// exact; a seed gives one sequence; each fault has the code the Backend contract gives it; latency
// goes through the sleeper (no real sleep here); reconfiguration restarts the sequence; counts by
// kind; concurrent use while reconfiguring (for TSan).
#include "core/fault_injector.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <cmath>
#include <thread>
#include <vector>

#include "core/cpu_backend.h"
#include "core/fault_injecting_backend.h"
#include "core/simulated_gpu_backend.h"

namespace simile {
namespace {

FaultInjectionOptions Rates(double error, double oom, double vram = 0.0, uint64_t seed = 1) {
  FaultInjectionOptions o;
  o.gpu_error_rate = error;
  o.gpu_oom_rate = oom;
  o.vram_query_failure_rate = vram;
  o.seed = seed;
  return o;
}

// The codes of `n` GPU calls.
std::vector<absl::StatusCode> GpuCodes(FaultInjector& f, int n) {
  std::vector<absl::StatusCode> codes;
  for (int i = 0; i < n; ++i) codes.push_back(f.BeforeGpuCall().code());
  return codes;
}

TEST_CASE("FaultInjector: off by default, injects nothing and never sleeps", "[fault_injection]") {
  int sleeps = 0;
  FaultInjector f([&](absl::Duration) { ++sleeps; });
  for (int i = 0; i < 1000; ++i) {
    CHECK(f.BeforeGpuCall().ok());
    CHECK(f.BeforeVramQuery().ok());
  }
  CHECK(sleeps == 0);
  const FaultInjectionSnapshot s = f.Snapshot();
  CHECK_FALSE(s.enabled);
  for (uint64_t n : s.injected) CHECK(n == 0);
  CHECK_FALSE(FaultInjectionOptions().enabled());
}

TEST_CASE("FaultInjector: rate 1 always and rate 0 never injects, with the contract's codes",
          "[fault_injection]") {
  FaultInjector f([](absl::Duration) {});
  REQUIRE(f.Configure(Rates(1.0, 0.0, 1.0)));
  for (int i = 0; i < 200; ++i) {
    const absl::Status s = f.BeforeGpuCall();
    CHECK(s.code() == absl::StatusCode::kInternal);  // "This chunk failed"; the device is not lost.
    CHECK(s.message().find("injected GPU error") != absl::string_view::npos);
    CHECK(f.BeforeVramQuery().code() == absl::StatusCode::kUnavailable);
  }
  REQUIRE(f.Configure(Rates(0.0, 1.0)));
  for (int i = 0; i < 200; ++i) {
    CHECK(f.BeforeGpuCall().code() == absl::StatusCode::kResourceExhausted);  // Retried smaller.
    CHECK(f.BeforeVramQuery().ok());
  }
  const FaultInjectionSnapshot s = f.Snapshot();
  CHECK(s.injected[static_cast<size_t>(FaultKind::kGpuError)] == 200);
  CHECK(s.injected[static_cast<size_t>(FaultKind::kGpuOom)] == 200);
  CHECK(s.injected[static_cast<size_t>(FaultKind::kVramQueryFailure)] == 200);
  CHECK(s.injected[static_cast<size_t>(FaultKind::kGpuLatency)] == 0);
}

TEST_CASE("FaultInjector: a seed gives one sequence, and a reconfiguration restarts it",
          "[fault_injection]") {
  FaultInjector a([](absl::Duration) {});
  FaultInjector b([](absl::Duration) {});
  REQUIRE(a.Configure(Rates(0.3, 0.3, 0.0, 42)));
  REQUIRE(b.Configure(Rates(0.3, 0.3, 0.0, 42)));
  const std::vector<absl::StatusCode> first = GpuCodes(a, 500);
  CHECK(GpuCodes(b, 500) == first);
  // The same options again change nothing (the sequence goes on)...
  CHECK_FALSE(a.Configure(Rates(0.3, 0.3, 0.0, 42)));
  // ...other options restart it, and the old seed back gives the first sequence again.
  REQUIRE(a.Configure(Rates(0.3, 0.3, 0.0, 43)));
  CHECK(GpuCodes(a, 500) != first);
  REQUIRE(a.Configure(Rates(0.3, 0.3, 0.0, 42)));
  CHECK(GpuCodes(a, 500) == first);
}

TEST_CASE("FaultInjector: rates hold over many draws", "[fault_injection]") {
  const double error = GENERATE(0.1, 0.5);
  FaultInjector f([](absl::Duration) {});
  REQUIRE(f.Configure(Rates(error, 0.5)));
  int errors = 0;
  int ooms = 0;
  constexpr int kCalls = 20000;
  for (absl::StatusCode c : GpuCodes(f, kCalls)) {
    errors += c == absl::StatusCode::kInternal;
    ooms += c == absl::StatusCode::kResourceExhausted;
  }
  // Deterministic for the seed; the bounds are > 6 standard deviations wide.
  CHECK(std::abs(errors / double{kCalls} - error) < 0.03);
  CHECK(std::abs(ooms / double{kCalls} - (1 - error) * 0.5) < 0.03);
}

TEST_CASE("FaultInjector: added latency goes through the sleeper on every GPU call",
          "[fault_injection]") {
  std::vector<absl::Duration> slept;
  FaultInjector f([&](absl::Duration d) { slept.push_back(d); });
  FaultInjectionOptions o;
  o.gpu_added_latency = absl::Milliseconds(7);
  REQUIRE(o.enabled());
  REQUIRE(f.Configure(o));
  for (int i = 0; i < 3; ++i) CHECK(f.BeforeGpuCall().ok());
  CHECK(f.BeforeVramQuery().ok());
  CHECK(slept == std::vector<absl::Duration>(3, absl::Milliseconds(7)));
  CHECK(f.Snapshot().injected[static_cast<size_t>(FaultKind::kGpuLatency)] == 3);
}

TEST_CASE("FaultInjectionOptions: Validate names the bad field", "[fault_injection]") {
  CHECK(FaultInjectionOptions().Validate().ok());
  FaultInjectionOptions o;
  o.gpu_error_rate = 1.5;
  CHECK(o.Validate().message().find("fault_injection.gpu_error_rate") != absl::string_view::npos);
  o = FaultInjectionOptions();
  o.vram_query_failure_rate = -0.1;
  CHECK(o.Validate().message().find("fault_injection.vram_query_failure_rate") !=
        absl::string_view::npos);
  o = FaultInjectionOptions();
  o.gpu_added_latency = absl::Seconds(11);
  CHECK(o.Validate().message().find("fault_injection.gpu_added_latency") !=
        absl::string_view::npos);
  o = FaultInjectionOptions();
  o.simulate_gpu = true;
  o.simulated_gpu_memory_bytes = 0;
  CHECK(o.Validate().message().find("simulated_gpu_memory_bytes") != absl::string_view::npos);
}

TEST_CASE("FaultInjectingBackend: forwards to the device unless a fault is injected",
          "[fault_injection]") {
  CpuBackend cpu(nullptr);
  SimulatedGpuBackend gpu(&cpu, 1 << 20);
  FaultInjector f([](absl::Duration) {});
  FaultInjectingBackend backend(&gpu, &f);
  CHECK(backend.kind() == BackendKind::kGpu);
  CHECK(backend.Available());
  CHECK(backend.description() == gpu.description());
  REQUIRE(backend.memory_query() != nullptr);

  const std::vector<float> queries = {1, 0, 0, 1};
  const std::vector<float> targets = {1, 0, 0, 2, 3, 4};
  std::vector<float> scores(6, -7.0f);
  ChunkArgs args;
  args.queries = MatrixView{queries.data(), 2, 2};
  args.targets = MatrixView{targets.data(), 3, 2};
  args.out.scores = scores.data();
  args.out.ld = 3;
  absl::StatusOr<uint64_t> written = backend.Cosine(args);
  REQUIRE(written.ok());
  CHECK(*written == 6);
  CHECK(scores[0] == Approx(1.0));
  CHECK(scores[1] == Approx(0.0));
  CHECK(scores[2] == Approx(0.6));
  CHECK(scores[5] == Approx(0.8));
  absl::StatusOr<DeviceMemoryInfo> info = backend.memory_query()->Query();
  REQUIRE(info.ok());
  CHECK(info->free_bytes == 1 << 20);
  CHECK(info->total_bytes == 1 << 20);

  REQUIRE(f.Configure(Rates(1.0, 0.0, 1.0)));
  std::fill(scores.begin(), scores.end(), -7.0f);
  CHECK(backend.Cosine(args).status().code() == absl::StatusCode::kInternal);
  CHECK(scores[0] == -7.0f);  // The device was never called.
  CHECK(backend.memory_query()->Query().status().code() == absl::StatusCode::kUnavailable);
  CHECK(backend.Available());  // An injected error does not mark the device lost.
}

TEST_CASE("SimulatedGpuBackend: a chunk larger than its memory runs out of memory",
          "[fault_injection]") {
  CpuBackend cpu(nullptr);
  SimulatedGpuBackend gpu(&cpu, 1024);
  const std::vector<float> queries(4, 1.0f);
  const std::vector<float> targets(4 * 100, 1.0f);
  std::vector<float> scores(100);
  ChunkArgs args;
  args.queries = MatrixView{queries.data(), 1, 4};
  args.targets = MatrixView{targets.data(), 100, 4};
  args.out.scores = scores.data();
  args.out.ld = 100;
  CHECK(gpu.Cosine(args).status().code() == absl::StatusCode::kResourceExhausted);
  args.targets = MatrixView{targets.data(), 10, 4};
  CHECK(gpu.Cosine(args).ok());
}

TEST_CASE("FaultInjector: concurrent calls while reconfiguring", "[fault_injection][concurrency]") {
  FaultInjector f([](absl::Duration) {});
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> faults{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      while (!stop.load()) {
        faults += !f.BeforeGpuCall().ok();
        faults += !f.BeforeVramQuery().ok();
        (void)f.Snapshot();
      }
    });
  }
  for (int i = 0; i < 200; ++i) {
    (void)f.Configure(i % 2 == 0 ? Rates(0.5, 0.5, 0.5, i) : FaultInjectionOptions());
  }
  stop = true;
  for (std::thread& t : threads) t.join();
  const FaultInjectionSnapshot s = f.Snapshot();
  CHECK(s.injected[0] + s.injected[1] + s.injected[3] == faults.load());
}

}  // namespace
}  // namespace simile
