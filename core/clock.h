// Clock: the one source of time for core/ (the circuit breaker, the performance tracker, the VRAM
// monitor and the executor's deadlines), injected so that tests advance a fake clock instead of
// sleeping.
//
// SteadyClock reads std::chrono::steady_clock: it never jumps backwards or with wall-clock changes
// (NTP, DST). Its absl::Time values are steady-clock readings placed at absl::UnixEpoch() + time
// since the steady clock's epoch (usually boot): only differences between them mean anything. Never
// compare them with absl::Now().
//
// Thread safety: Now() may be called concurrently from any thread, on every implementation.
#ifndef SIMILE_CORE_CLOCK_H_
#define SIMILE_CORE_CLOCK_H_

#include "absl/time/time.h"

namespace simile {

class Clock {
 public:
  virtual ~Clock();

  // The current time. Monotonic: never earlier than a value returned before.
  [[nodiscard]] virtual absl::Time Now() const = 0;
};

class SteadyClock final : public Clock {
 public:
  SteadyClock() = default;
  SteadyClock(const SteadyClock&) = delete;
  SteadyClock& operator=(const SteadyClock&) = delete;

  [[nodiscard]] absl::Time Now() const override;

  // The process-wide SteadyClock. Never destroyed, so it may be used during static destruction.
  [[nodiscard]] static Clock* Default();
};

}  // namespace simile

#endif  // SIMILE_CORE_CLOCK_H_
