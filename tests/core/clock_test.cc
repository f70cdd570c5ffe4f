#include "core/clock.h"

#include <catch2/catch.hpp>

#include "tests/core/fake_clock.h"

namespace simile {
namespace {

TEST_CASE("SteadyClock never goes backwards and Default is one shared instance", "[clock]") {
  Clock* clock = SteadyClock::Default();
  REQUIRE(clock == SteadyClock::Default());
  absl::Time previous = clock->Now();
  for (int i = 0; i < 1000; ++i) {
    const absl::Time now = clock->Now();
    REQUIRE(now >= previous);
    previous = now;
  }
}

TEST_CASE("FakeClock moves only when advanced, and never backwards", "[clock]") {
  FakeClock clock;
  const absl::Time start = clock.Now();
  REQUIRE(clock.Now() == start);
  clock.Advance(absl::Seconds(3));
  REQUIRE(clock.Now() == start + absl::Seconds(3));
  clock.Advance(-absl::Seconds(10));
  REQUIRE(clock.Now() == start + absl::Seconds(3));
  clock.SetNow(start);
  REQUIRE(clock.Now() == start + absl::Seconds(3));
  clock.SetNow(start + absl::Minutes(1));
  REQUIRE(clock.Now() == start + absl::Minutes(1));
}

}  // namespace
}  // namespace simile
