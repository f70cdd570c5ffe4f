// VramMonitor: how much GPU memory a request may plan to use right now, from one device-memory
// query (cudaMemGetInfo in the CUDA backend), with a fallback when the query fails.
//
// Every Budget() call queries the device once. On success the answer is cached with its time. On
// failure the cached answer is used while it is younger than cache_ttl; after that (or if no query
// ever succeeded) the budget is a pessimistic fraction of the limit, so a GPU whose driver has
// stopped answering is given only small work (or none: see insufficient_vram in
// core/dispatch_policy.h) rather than trusted blindly. Failures are counted.
//
//   usable = min(free * (1 - safety_margin_fraction), limit)     fresh or cached
//   usable = limit * pessimistic_fraction                        pessimistic
// where limit = limit_bytes, or the device's total memory when limit_bytes == 0 (the last known
// total; 0 if the device never answered, so the pessimistic budget is then 0).
//
// The budget is a snapshot, not a reservation: concurrent requests each see the same free memory.
// The executor must account for its own in-flight GPU requests (or rely on OOM recovery) when
// several run at once.
//
// Thread safety: every method may be called concurrently from any thread.
// DeviceMemoryQuery::Query() may be called concurrently (it runs outside the monitor's mutex, so a
// slow driver call never blocks other readers of the cache).
#ifndef SIMILE_CORE_VRAM_MONITOR_H_
#define SIMILE_CORE_VRAM_MONITOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/mutex.h"

namespace simile {

struct DeviceMemoryInfo {
  uint64_t free_bytes = 0;
  uint64_t total_bytes = 0;
};

// The one way core/ learns a GPU's memory. Implemented by the CUDA backend (cudaMemGetInfo) and by
// test doubles. Implementations must be safe to call from several threads at once.
class DeviceMemoryQuery {
 public:
  virtual ~DeviceMemoryQuery() = default;
  [[nodiscard]] virtual absl::StatusOr<DeviceMemoryInfo> Query() = 0;
};

// PROVISIONAL. The fraction of the reported free memory held back for what a request's plan does
// not count: cuBLAS workspace, allocator rounding and fragmentation, and other processes allocating
// meanwhile. It must be justified by a measurement on a real GPU (the GPU proof issue measures peak
// use against plan on the target GPU); until then it is a guess, and OOM recovery (split and retry)
// covers the error.
inline constexpr double kDefaultSafetyMarginFraction = 0.10;

enum class BudgetSource : uint8_t {
  kFresh,        // This call's query succeeded.
  kCached,       // The query failed; the last good answer, younger than cache_ttl, was used.
  kPessimistic,  // The query failed and no answer younger than cache_ttl exists.
};
// Label values: "fresh", "cached", "pessimistic".
[[nodiscard]] absl::string_view Name(BudgetSource source);

struct VramBudget {
  // What a request may plan to use (see the formulas above).
  uint64_t usable_bytes = 0;
  // As reported by the answer used (0 when pessimistic).
  uint64_t free_bytes = 0;
  // As reported by the answer used (the last known total when pessimistic).
  uint64_t total_bytes = 0;
  BudgetSource source = BudgetSource::kPessimistic;
  // Age of the answer used; InfiniteDuration if no query ever succeeded.
  absl::Duration age = absl::ZeroDuration();
};

class VramMonitor {
 public:
  struct Options {
    // How long a good answer may stand in for failing queries (> 0). Free memory changes as other
    // requests and processes allocate, so an old answer is soon wrong; 2 s covers a driver hiccup,
    // not an outage.
    absl::Duration cache_ttl = absl::Seconds(2);
    // Fraction of free memory held back, in [0, 1). See kDefaultSafetyMarginFraction.
    double safety_margin_fraction = kDefaultSafetyMarginFraction;
    // Fraction of the limit assumed usable once the cache is stale, in [0, 1] (the review's 10%).
    double pessimistic_fraction = 0.10;
    // The most device memory this process may plan to use; 0: the device's total.
    uint64_t limit_bytes = 0;

    // InvalidArgument naming the bad field.
    [[nodiscard]] absl::Status Validate() const;
  };

  // `query` and `clock` are not owned and must outlive the monitor. InvalidArgument for bad options
  // or nulls.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<VramMonitor>> Create(DeviceMemoryQuery* query,
                                                                           const Clock* clock,
                                                                           const Options& options);

  VramMonitor(const VramMonitor&) = delete;
  VramMonitor& operator=(const VramMonitor&) = delete;

  // Queries the device once and returns the budget (never fails: see the fallbacks above).
  [[nodiscard]] VramBudget Budget();

  // Queries that have failed since construction.
  [[nodiscard]] uint64_t query_failures() const;
  // The last query error (OK if none has failed).
  [[nodiscard]] absl::Status last_error() const;

  [[nodiscard]] const Options& options() const { return options_; }

 private:
  VramMonitor(DeviceMemoryQuery* query, const Clock* clock, const Options& options);

  [[nodiscard]] uint64_t LimitFor(uint64_t total_bytes) const;
  [[nodiscard]] VramBudget FromAnswer(const DeviceMemoryInfo& info, BudgetSource source,
                                      absl::Duration age) const;

  DeviceMemoryQuery* const query_;
  const Clock* const clock_;
  const Options options_;

  mutable Mutex mu_;
  bool has_good_ ABSL_GUARDED_BY(mu_) = false;
  DeviceMemoryInfo last_good_ ABSL_GUARDED_BY(mu_);
  absl::Time last_good_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();  // When that query started.
  uint64_t failures_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace simile

#endif  // SIMILE_CORE_VRAM_MONITOR_H_
