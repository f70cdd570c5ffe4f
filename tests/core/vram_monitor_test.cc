#include "core/vram_monitor.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "tests/core/fake_clock.h"

namespace simile {
namespace {

constexpr uint64_t kGiB = 1ull << 30;

// A device whose answer the test sets; fails while `failing` is set. Thread-safe.
class FakeDeviceMemory final : public DeviceMemoryQuery {
 public:
  absl::StatusOr<DeviceMemoryInfo> Query() override {
    absl::MutexLock lock(&mu_);
    ++calls_;
    if (failing_) return absl::UnavailableError("cudaErrorDevicesUnavailable");
    return info_;
  }
  void Set(uint64_t free_bytes, uint64_t total_bytes) {
    absl::MutexLock lock(&mu_);
    info_ = DeviceMemoryInfo{free_bytes, total_bytes};
  }
  void SetFailing(bool failing) {
    absl::MutexLock lock(&mu_);
    failing_ = failing;
  }
  int calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }

 private:
  mutable absl::Mutex mu_;
  DeviceMemoryInfo info_ ABSL_GUARDED_BY(mu_);
  bool failing_ ABSL_GUARDED_BY(mu_) = false;
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
};

VramMonitor::Options TestOptions() {
  VramMonitor::Options o;
  o.cache_ttl = absl::Seconds(2);
  o.safety_margin_fraction = 0.10;
  o.pessimistic_fraction = 0.10;
  o.limit_bytes = 0;
  return o;
}

std::unique_ptr<VramMonitor> MakeMonitor(FakeDeviceMemory* device, FakeClock* clock,
                                         const VramMonitor::Options& o = TestOptions()) {
  auto monitor = VramMonitor::Create(device, clock, o);
  REQUIRE(monitor.ok());
  return *std::move(monitor);
}

TEST_CASE("A fresh answer, minus the safety margin, capped by the limit", "[vram]") {
  FakeClock clock;
  FakeDeviceMemory device;
  device.Set(10 * kGiB, 80 * kGiB);
  auto monitor = MakeMonitor(&device, &clock);

  const VramBudget b = monitor->Budget();
  REQUIRE(b.source == BudgetSource::kFresh);
  REQUIRE(b.free_bytes == 10 * kGiB);
  REQUIRE(b.total_bytes == 80 * kGiB);
  REQUIRE(b.usable_bytes == 9 * kGiB);
  REQUIRE(b.age == absl::ZeroDuration());
  REQUIRE(device.calls() == 1);  // One query per Budget().
  REQUIRE(monitor->query_failures() == 0);
  REQUIRE(monitor->last_error().ok());

  VramMonitor::Options limited = TestOptions();
  limited.limit_bytes = 4 * kGiB;
  REQUIRE(MakeMonitor(&device, &clock, limited)->Budget().usable_bytes == 4 * kGiB);

  VramMonitor::Options no_margin = TestOptions();
  no_margin.safety_margin_fraction = 0.0;
  REQUIRE(MakeMonitor(&device, &clock, no_margin)->Budget().usable_bytes == 10 * kGiB);

  // No overflow at the extremes.
  device.Set(std::numeric_limits<uint64_t>::max(), std::numeric_limits<uint64_t>::max());
  const VramBudget huge = MakeMonitor(&device, &clock)->Budget();
  REQUIRE(huge.usable_bytes <= huge.free_bytes);
  REQUIRE(huge.usable_bytes > huge.free_bytes / 10 * 8);
  device.Set(0, 80 * kGiB);
  REQUIRE(MakeMonitor(&device, &clock)->Budget().usable_bytes == 0);
}

TEST_CASE("A failed query uses the last good answer while younger than cache_ttl", "[vram]") {
  FakeClock clock;
  FakeDeviceMemory device;
  device.Set(10 * kGiB, 80 * kGiB);
  auto monitor = MakeMonitor(&device, &clock);
  REQUIRE(monitor->Budget().source == BudgetSource::kFresh);

  device.SetFailing(true);
  clock.Advance(absl::Seconds(2) - absl::Nanoseconds(1));
  const VramBudget cached = monitor->Budget();
  REQUIRE(cached.source == BudgetSource::kCached);
  REQUIRE(cached.usable_bytes == 9 * kGiB);
  REQUIRE(cached.free_bytes == 10 * kGiB);
  REQUIRE(cached.age == absl::Seconds(2) - absl::Nanoseconds(1));
  REQUIRE(monitor->query_failures() == 1);
  REQUIRE(monitor->last_error().code() == absl::StatusCode::kUnavailable);

  // At exactly cache_ttl the answer is stale: pessimistic, 10% of the total.
  clock.Advance(absl::Nanoseconds(1));
  const VramBudget stale = monitor->Budget();
  REQUIRE(stale.source == BudgetSource::kPessimistic);
  REQUIRE(stale.usable_bytes == 8 * kGiB);
  REQUIRE(stale.total_bytes == 80 * kGiB);
  REQUIRE(stale.free_bytes == 0);
  REQUIRE(stale.age == absl::Seconds(2));
  REQUIRE(monitor->query_failures() == 2);

  // The device answers again: fresh, and the cache restarts from now.
  device.SetFailing(false);
  device.Set(20 * kGiB, 80 * kGiB);
  REQUIRE(monitor->Budget().usable_bytes == 18 * kGiB);
  device.SetFailing(true);
  clock.Advance(absl::Seconds(1));
  REQUIRE(monitor->Budget().usable_bytes == 18 * kGiB);
  REQUIRE(monitor->query_failures() == 3);
}

TEST_CASE("Pessimistic budget uses the configured limit, and is 0 if nothing is known", "[vram]") {
  FakeClock clock;
  FakeDeviceMemory device;
  device.SetFailing(true);

  const VramBudget unknown = MakeMonitor(&device, &clock)->Budget();
  REQUIRE(unknown.source == BudgetSource::kPessimistic);
  REQUIRE(unknown.usable_bytes == 0);
  REQUIRE(unknown.total_bytes == 0);
  REQUIRE(unknown.age == absl::InfiniteDuration());

  VramMonitor::Options limited = TestOptions();
  limited.limit_bytes = 40 * kGiB;
  limited.pessimistic_fraction = 0.25;
  const VramBudget b = MakeMonitor(&device, &clock, limited)->Budget();
  REQUIRE(b.source == BudgetSource::kPessimistic);
  REQUIRE(b.usable_bytes == 10 * kGiB);
}

TEST_CASE("VramMonitor::Options::Validate names the bad field", "[vram]") {
  FakeClock clock;
  FakeDeviceMemory device;
  REQUIRE(VramMonitor::Options().Validate().ok());
  REQUIRE(VramMonitor::Options().safety_margin_fraction == kDefaultSafetyMarginFraction);
  auto check = [&](VramMonitor::Options o, const char* field) {
    const absl::Status s = o.Validate();
    INFO(s.ToString());
    REQUIRE(s.code() == absl::StatusCode::kInvalidArgument);
    REQUIRE(s.message().find(field) != absl::string_view::npos);
    REQUIRE_FALSE(VramMonitor::Create(&device, &clock, o).ok());
  };
  VramMonitor::Options o;
  o.cache_ttl = absl::ZeroDuration();
  check(o, "cache_ttl");
  o = VramMonitor::Options();
  o.safety_margin_fraction = 1.0;
  check(o, "safety_margin_fraction");
  o = VramMonitor::Options();
  o.safety_margin_fraction = -0.1;
  check(o, "safety_margin_fraction");
  o = VramMonitor::Options();
  o.pessimistic_fraction = 1.5;
  check(o, "pessimistic_fraction");
  REQUIRE_FALSE(VramMonitor::Create(nullptr, &clock, VramMonitor::Options()).ok());
  REQUIRE_FALSE(VramMonitor::Create(&device, nullptr, VramMonitor::Options()).ok());
  REQUIRE(Name(BudgetSource::kPessimistic) == "pessimistic");
}

}  // namespace
}  // namespace simile
