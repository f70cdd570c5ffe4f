// FaultInjector: decides, deterministically under a seed, which GPU calls and VRAM queries fail on
// purpose, so that the server's recovery (out-of-memory retry, CPU fallback, circuit breaker, VRAM
// cache) can be exercised end to end. Used by FaultInjectingBackend
// (core/fault_injecting_backend.h); configured from ServingConfig::fault_injection (the
// configuration file's `fault_injection` section), off by default. For testing and chaos drills
// only: never enable it in production.
//
// Draws: every GPU call and every VRAM query takes the next number of its own sequence (one atomic
// increment) and hashes (seed, kind, number) into a uniform value in [0, 1). The sequence restarts
// at 0 whenever Configure() changes the options, so one seed gives one sequence of faults; which
// concurrent request gets which number is up to the scheduler.
//
//   GPU call:   error  with probability gpu_error_rate                 -> kInternal ("this chunk
//                                                                          failed", backend.h)
//               else OOM with probability gpu_oom_rate                  -> kResourceExhausted
//               every call (before the draw) sleeps gpu_added_latency
//   VRAM query: failure with probability vram_query_failure_rate       -> kUnavailable
//
// Injected errors are kInternal, not kUnavailable: an injected fault must not mark the device lost
// for good (backend.h: kUnavailable means Available() is false from then on), or the breaker could
// never be seen closing again.
//
// Cost when off: one relaxed atomic load per call; no lock, no draw.
//
// Thread safety: every method may be called concurrently from any thread.
#ifndef SIMILE_CORE_FAULT_INJECTOR_H_
#define SIMILE_CORE_FAULT_INJECTOR_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/mutex.h"

namespace simile {

struct FaultInjectionOptions {
  // Probability that a GPU chunk call fails with an injected device error, in [0, 1]. Default 0.
  double gpu_error_rate = 0.0;
  // Probability that a GPU chunk call not failed by gpu_error_rate fails with an injected
  // out-of-memory error, in [0, 1]. Default 0.
  double gpu_oom_rate = 0.0;
  // Added to every GPU chunk call (a sleep before the call), in [0, 10 s]. Default 0.
  absl::Duration gpu_added_latency = absl::ZeroDuration();
  // Probability that a VRAM free-memory query fails, in [0, 1]. Default 0.
  double vram_query_failure_rate = 0.0;
  // Seed of the fault sequence.
  uint64_t seed = 1;

  // TEST ONLY, read at start-up (a reload that changes them is rejected): install a simulated GPU
  // (core/simulated_gpu_backend.h: the CPU kernel dispatched as a GPU with a fake memory size) when
  // no real GPU backend exists, so that the dispatcher, chunking, out-of-memory retry, fallback and
  // breaker run for real in a GPU-less process.
  bool simulate_gpu = false;
  // The simulated GPU's total (and free) memory in bytes. Default 1 GiB.
  uint64_t simulated_gpu_memory_bytes = uint64_t{1} << 30;

  // True when any fault is injected (rates or latency above zero).
  [[nodiscard]] bool enabled() const {
    return gpu_error_rate > 0 || gpu_oom_rate > 0 || gpu_added_latency > absl::ZeroDuration() ||
           vram_query_failure_rate > 0;
  }
  // InvalidArgument naming the bad field (fault_injection.*).
  [[nodiscard]] absl::Status Validate() const;
  bool operator==(const FaultInjectionOptions& o) const;
  bool operator!=(const FaultInjectionOptions& o) const { return !(*this == o); }
};

// What was injected, by kind (the `kind` label of simile_fault_injections_total).
enum class FaultKind : uint8_t { kGpuError, kGpuOom, kGpuLatency, kVramQueryFailure };
inline constexpr size_t kNumFaultKinds = 4;
// "gpu_error", "gpu_oom", "gpu_latency", "vram_query_failure".
[[nodiscard]] absl::string_view Name(FaultKind kind);

struct FaultInjectionSnapshot {
  bool enabled = false;
  FaultInjectionOptions options;
  // Faults injected since start, by FaultKind (monotonic across reconfigurations).
  std::array<uint64_t, kNumFaultKinds> injected{};
};

class FaultInjector {
 public:
  // How added latency is spent; absl::SleepFor by default (tests pass one that advances a fake
  // clock).
  using Sleeper = std::function<void(absl::Duration)>;

  explicit FaultInjector(Sleeper sleeper = nullptr);
  FaultInjector(const FaultInjector&) = delete;
  FaultInjector& operator=(const FaultInjector&) = delete;

  // Applies `options` (already validated) from now on. Returns true when they differ from the
  // previous ones (then the draw sequences restart at 0).
  bool Configure(const FaultInjectionOptions& options);

  // For one GPU chunk call: sleeps the added latency, then returns the injected error, or OK when
  // the call should go to the device.
  [[nodiscard]] absl::Status BeforeGpuCall();
  // For one VRAM query: the injected failure, or OK when the query should go to the device.
  [[nodiscard]] absl::Status BeforeVramQuery();

  [[nodiscard]] FaultInjectionSnapshot Snapshot() const;

 private:
  // The options in force with their draw sequences (replaced, never changed, on Configure).
  struct State {
    FaultInjectionOptions options;
    // Relaxed: only uniqueness of the numbers matters.
    std::atomic<uint64_t> gpu_calls{0};
    std::atomic<uint64_t> vram_queries{0};
  };

  [[nodiscard]] std::shared_ptr<State> Current() const;
  void Count(FaultKind kind) {
    injected_[static_cast<size_t>(kind)].fetch_add(1, std::memory_order_relaxed);
  }

  const Sleeper sleeper_;
  // Relaxed: a fast "off" check; a call racing with Configure may see either setting, then reads
  // the state under mu_.
  std::atomic<bool> enabled_{false};
  mutable Mutex mu_;
  std::shared_ptr<State> state_ ABSL_GUARDED_BY(mu_);
  // Relaxed: event counts only.
  std::array<std::atomic<uint64_t>, kNumFaultKinds> injected_{};
};

// The uniform value in [0, 1) of draw `n` of stream `stream` under `seed` (splitmix64). Exposed for
// tests.
[[nodiscard]] double FaultDraw(uint64_t seed, uint64_t stream, uint64_t n);

}  // namespace simile

#endif  // SIMILE_CORE_FAULT_INJECTOR_H_
