// FakeClock: a Clock for tests that only moves when told to (Advance / SetNow), so time-dependent
// behaviour (cool-downs, cache ages, staleness) is tested deterministically and without sleeping.
//
// Thread safety: every method may be called concurrently from any thread.
#ifndef SIMILE_TESTS_CORE_FAKE_CLOCK_H_
#define SIMILE_TESTS_CORE_FAKE_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/mutex.h"

namespace simile {

class FakeClock final : public Clock {
 public:
  // Starts at an arbitrary fixed instant (well away from the epoch, like a real steady clock after
  // boot).
  FakeClock() = default;
  explicit FakeClock(absl::Time start) : now_(start) {}

  FakeClock(const FakeClock&) = delete;
  FakeClock& operator=(const FakeClock&) = delete;

  [[nodiscard]] absl::Time Now() const override {
    MutexLock lock(&mu_);
    return now_;
  }

  // Moves time forward by `d` (a negative `d` is ignored: a Clock never goes backwards).
  void Advance(absl::Duration d) {
    MutexLock lock(&mu_);
    if (d > absl::ZeroDuration()) now_ += d;
  }

  // Jumps to `t` if it is later than now.
  void SetNow(absl::Time t) {
    MutexLock lock(&mu_);
    if (t > now_) now_ = t;
  }

 private:
  mutable Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_) = absl::UnixEpoch() + absl::Hours(1000);
};

}  // namespace simile

#endif  // SIMILE_TESTS_CORE_FAKE_CLOCK_H_
