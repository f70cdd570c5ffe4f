#include "core/clock.h"

#include <chrono>

namespace simile {

Clock::~Clock() = default;

absl::Time SteadyClock::Now() const {
  return absl::UnixEpoch() + absl::FromChrono(std::chrono::steady_clock::now().time_since_epoch());
}

Clock* SteadyClock::Default() {
  static SteadyClock* const clock = new SteadyClock();
  return clock;
}

}  // namespace simile
