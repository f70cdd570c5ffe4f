#include "core/fault_injector.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"

namespace simile {
namespace {

// Draw streams: one per decision, so that the error and OOM draws of one call are independent.
constexpr uint64_t kStreamGpuError = 1;
constexpr uint64_t kStreamGpuOom = 2;
constexpr uint64_t kStreamVram = 3;

constexpr absl::Duration kMaxAddedLatency = absl::Seconds(10);

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

absl::Status CheckRate(absl::string_view field, double rate) {
  if (rate >= 0.0 && rate <= 1.0) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("fault_injection.", field, " must be in [0, 1], got ", rate));
}

}  // namespace

double FaultDraw(uint64_t seed, uint64_t stream, uint64_t n) {
  const uint64_t h = SplitMix64(SplitMix64(seed ^ (stream * 0xd1b54a32d192ed03ull)) + n);
  return static_cast<double>(h >> 11) * 0x1.0p-53;  // 53 random bits: uniform in [0, 1).
}

absl::string_view Name(FaultKind kind) {
  switch (kind) {
    case FaultKind::kGpuError:
      return "gpu_error";
    case FaultKind::kGpuOom:
      return "gpu_oom";
    case FaultKind::kGpuLatency:
      return "gpu_latency";
    case FaultKind::kVramQueryFailure:
      return "vram_query_failure";
  }
  return "unknown";
}

absl::Status FaultInjectionOptions::Validate() const {
  if (absl::Status s = CheckRate("gpu_error_rate", gpu_error_rate); !s.ok()) return s;
  if (absl::Status s = CheckRate("gpu_oom_rate", gpu_oom_rate); !s.ok()) return s;
  if (absl::Status s = CheckRate("vram_query_failure_rate", vram_query_failure_rate); !s.ok()) {
    return s;
  }
  if (gpu_added_latency < absl::ZeroDuration() || gpu_added_latency > kMaxAddedLatency) {
    return absl::InvalidArgumentError(absl::StrCat(
        "fault_injection.gpu_added_latency must be in [0, ", absl::FormatDuration(kMaxAddedLatency),
        "], got ", absl::FormatDuration(gpu_added_latency)));
  }
  if (simulate_gpu && simulated_gpu_memory_bytes == 0) {
    return absl::InvalidArgumentError("fault_injection.simulated_gpu_memory_bytes must be >= 1");
  }
  return absl::OkStatus();
}

bool FaultInjectionOptions::operator==(const FaultInjectionOptions& o) const {
  return gpu_error_rate == o.gpu_error_rate && gpu_oom_rate == o.gpu_oom_rate &&
         gpu_added_latency == o.gpu_added_latency &&
         vram_query_failure_rate == o.vram_query_failure_rate && seed == o.seed &&
         simulate_gpu == o.simulate_gpu &&
         simulated_gpu_memory_bytes == o.simulated_gpu_memory_bytes;
}

FaultInjector::FaultInjector(Sleeper sleeper)
    : sleeper_(sleeper != nullptr ? std::move(sleeper)
                                  : Sleeper([](absl::Duration d) { absl::SleepFor(d); })),
      state_(std::make_shared<State>()) {}

bool FaultInjector::Configure(const FaultInjectionOptions& options) {
  auto next = std::make_shared<State>();
  next->options = options;
  MutexLock lock(&mu_);
  if (state_->options == options) return false;
  state_ = std::move(next);
  enabled_.store(options.enabled(), std::memory_order_relaxed);
  return true;
}

std::shared_ptr<FaultInjector::State> FaultInjector::Current() const {
  MutexLock lock(&mu_);
  return state_;
}

absl::Status FaultInjector::BeforeGpuCall() {
  if (!enabled_.load(std::memory_order_relaxed)) return absl::OkStatus();
  const std::shared_ptr<State> state = Current();
  const FaultInjectionOptions& o = state->options;
  if (o.gpu_added_latency > absl::ZeroDuration()) {
    Count(FaultKind::kGpuLatency);
    sleeper_(o.gpu_added_latency);
  }
  const uint64_t n = state->gpu_calls.fetch_add(1, std::memory_order_relaxed);
  if (o.gpu_error_rate > 0 && FaultDraw(o.seed, kStreamGpuError, n) < o.gpu_error_rate) {
    Count(FaultKind::kGpuError);
    return absl::InternalError(absl::StrCat("injected GPU error (fault_injection.gpu_error_rate = ",
                                            o.gpu_error_rate, ", call ", n, ")"));
  }
  if (o.gpu_oom_rate > 0 && FaultDraw(o.seed, kStreamGpuOom, n) < o.gpu_oom_rate) {
    Count(FaultKind::kGpuOom);
    return absl::ResourceExhaustedError(
        absl::StrCat("injected GPU out-of-memory (fault_injection.gpu_oom_rate = ", o.gpu_oom_rate,
                     ", call ", n, ")"));
  }
  return absl::OkStatus();
}

absl::Status FaultInjector::BeforeVramQuery() {
  if (!enabled_.load(std::memory_order_relaxed)) return absl::OkStatus();
  const std::shared_ptr<State> state = Current();
  const FaultInjectionOptions& o = state->options;
  if (o.vram_query_failure_rate <= 0) return absl::OkStatus();
  const uint64_t n = state->vram_queries.fetch_add(1, std::memory_order_relaxed);
  if (FaultDraw(o.seed, kStreamVram, n) < o.vram_query_failure_rate) {
    Count(FaultKind::kVramQueryFailure);
    return absl::UnavailableError(
        absl::StrCat("injected VRAM query failure (fault_injection.vram_query_failure_rate = ",
                     o.vram_query_failure_rate, ", query ", n, ")"));
  }
  return absl::OkStatus();
}

FaultInjectionSnapshot FaultInjector::Snapshot() const {
  FaultInjectionSnapshot s;
  s.options = Current()->options;
  s.enabled = s.options.enabled();
  for (size_t i = 0; i < kNumFaultKinds; ++i) {
    s.injected[i] = injected_[i].load(std::memory_order_relaxed);
  }
  return s;
}

}  // namespace simile
