#include "core/circuit_breaker.h"

#include <catch2/catch.hpp>
#include <memory>
#include <vector>

#include "tests/core/fake_clock.h"

namespace simile {
namespace {

constexpr auto kClosed = BreakerState::kClosed;
constexpr auto kOpen = BreakerState::kOpen;
constexpr auto kHalfOpen = BreakerState::kHalfOpen;

// Options where only the consecutive-failure rule can trip (the rate rule is disabled with 1.0).
CircuitBreaker::Options ConsecutiveOnly() {
  CircuitBreaker::Options o;
  o.consecutive_failures_to_open = 3;
  o.window_failure_rate_to_open = 1.0;
  o.base_cool_down = absl::Seconds(1);
  o.cool_down_multiplier = 2.0;
  o.max_cool_down = absl::Seconds(5);
  o.half_open_probes = 2;
  o.probe_timeout = absl::Seconds(30);
  o.backoff_reset_after = absl::Minutes(10);
  return o;
}

struct Fixture {
  explicit Fixture(const CircuitBreaker::Options& options) {
    auto created = CircuitBreaker::Create(options, &clock, [this](const BreakerTransition& t) {
      transitions.push_back(t);  // Called under the breaker's mutex, from the test thread only.
    });
    REQUIRE(created.ok());
    breaker = *std::move(created);
  }
  BreakerState state() const { return breaker->Snapshot().state; }
  void Fail(int n, const char* error = "cudaErrorLaunchFailure") {
    for (int i = 0; i < n; ++i) breaker->RecordFailure(error);
  }
  // Trips a closed breaker (ConsecutiveOnly options).
  void Trip() { Fail(3); }
  // Waits out the cool-down and enters half-open with one probe.
  void ToHalfOpen() {
    clock.Advance(breaker->Snapshot().time_until_retry);
    REQUIRE(breaker->TryAcquirePermission());
    REQUIRE(state() == kHalfOpen);
  }

  FakeClock clock;
  std::vector<BreakerTransition> transitions;
  std::unique_ptr<CircuitBreaker> breaker;
};

TEST_CASE("Breaker trips after N consecutive failures - a success resets the run", "[breaker]") {
  Fixture f(ConsecutiveOnly());
  REQUIRE(f.state() == kClosed);
  REQUIRE(f.breaker->AllowsRequests());
  REQUIRE(f.breaker->TryAcquirePermission());

  f.Fail(2);
  f.breaker->RecordSuccess();
  f.Fail(2);
  REQUIRE(f.state() == kClosed);
  REQUIRE(f.breaker->Snapshot().consecutive_failures == 2);

  f.Fail(1, "cudaErrorIllegalAddress");
  const CircuitBreakerSnapshot s = f.breaker->Snapshot();
  REQUIRE(s.state == kOpen);
  REQUIRE(s.trips == 1);
  REQUIRE(s.consecutive_failures == 3);
  REQUIRE(s.time_until_retry == absl::Seconds(1));
  REQUIRE(s.last_error == "cudaErrorIllegalAddress");
  REQUIRE_FALSE(f.breaker->AllowsRequests());
  REQUIRE_FALSE(f.breaker->TryAcquirePermission());

  REQUIRE(f.transitions.size() == 1);
  REQUIRE(f.transitions[0].from == kClosed);
  REQUIRE(f.transitions[0].to == kOpen);
  REQUIRE(f.transitions[0].cool_down == absl::Seconds(1));
  REQUIRE(f.transitions[0].consecutive_failures == 3);
  REQUIRE(f.transitions[0].at == f.clock.Now());
}

TEST_CASE("A fatal failure trips a closed breaker at once - forced modes only count it",
          "[breaker]") {
  Fixture f(ConsecutiveOnly());
  f.breaker->RecordFatalFailure("cudaErrorIllegalAddress");
  const CircuitBreakerSnapshot s = f.breaker->Snapshot();
  REQUIRE(s.state == kOpen);
  REQUIRE(s.trips == 1);
  REQUIRE(s.failures == 1);
  REQUIRE(s.last_error == "cudaErrorIllegalAddress");
  REQUIRE(f.transitions.size() == 1);

  CircuitBreaker::Options forced = ConsecutiveOnly();
  forced.mode = BreakerMode::kForceClosed;
  Fixture g(forced);
  g.breaker->RecordFatalFailure("cudaErrorIllegalAddress");
  REQUIRE(g.state() == kClosed);
  REQUIRE(g.breaker->Snapshot().failures == 1);
}

TEST_CASE("Breaker trips on the failure rate over the window once it holds the minimum calls",
          "[breaker]") {
  CircuitBreaker::Options o;
  o.consecutive_failures_to_open = 100;  // Only the rate rule.
  o.window_size = 10;
  o.window_min_calls = 10;
  o.window_failure_rate_to_open = 0.5;
  Fixture f(o);

  // 9 calls, 6 failed (67%): above the rate, but below the minimum number of calls.
  for (int i = 0; i < 3; ++i) {
    f.breaker->RecordSuccess();
    f.Fail(2);
  }
  REQUIRE(f.state() == kClosed);
  REQUIRE(f.breaker->Snapshot().window_calls == 9);
  REQUIRE(f.breaker->Snapshot().window_failures == 6);

  SECTION("a failing 10th call trips") {
    f.Fail(1);  // 10 calls, 7 failed.
    REQUIRE(f.state() == kOpen);
    REQUIRE(f.breaker->Snapshot().trips == 1);
  }
  SECTION("a success never trips, even one that completes the minimum; the next failure does") {
    f.breaker->RecordSuccess();  // 10 calls, 6 failed.
    REQUIRE(f.state() == kClosed);
    f.Fail(1);  // The oldest call (a success) slides out: 10 calls, 7 failed.
    REQUIRE(f.state() == kOpen);
  }
}

TEST_CASE("Rate rule: exactly the threshold does not trip, above it does - old calls slide out",
          "[breaker]") {
  CircuitBreaker::Options o;
  o.consecutive_failures_to_open = 100;
  o.window_size = 10;
  o.window_min_calls = 4;
  o.window_failure_rate_to_open = 0.5;
  Fixture f(o);

  // F S F S: 4 calls, 50% failed: not above the threshold.
  f.Fail(1);
  f.breaker->RecordSuccess();
  f.Fail(1);
  f.breaker->RecordSuccess();
  REQUIRE(f.state() == kClosed);

  // Fill the window with successes: the old failures slide out.
  for (int i = 0; i < 10; ++i) f.breaker->RecordSuccess();
  REQUIRE(f.breaker->Snapshot().window_failures == 0);
  REQUIRE(f.breaker->Snapshot().window_calls == 10);

  // 5 of the last 10 failed: 50%, closed; the 6th makes 60%: open.
  for (int i = 0; i < 5; ++i) {
    f.breaker->RecordSuccess();
    f.Fail(1);
  }
  REQUIRE(f.breaker->Snapshot().window_failures == 5);
  REQUIRE(f.state() == kClosed);
  f.Fail(1);
  REQUIRE(f.state() == kOpen);
}

TEST_CASE("Open: no permission before the cool-down, half-open after it", "[breaker]") {
  Fixture f(ConsecutiveOnly());
  f.Trip();
  f.clock.Advance(absl::Seconds(1) - absl::Nanoseconds(1));
  REQUIRE_FALSE(f.breaker->AllowsRequests());
  REQUIRE_FALSE(f.breaker->TryAcquirePermission());
  REQUIRE(f.breaker->Snapshot().time_until_retry == absl::Nanoseconds(1));

  f.clock.Advance(absl::Nanoseconds(1));
  REQUIRE(f.breaker->AllowsRequests());
  REQUIRE(f.breaker->Snapshot().time_until_retry == absl::ZeroDuration());
  REQUIRE(f.state() == kOpen);  // Lazily: the next request moves it.
  REQUIRE(f.breaker->TryAcquirePermission());
  REQUIRE(f.state() == kHalfOpen);
  REQUIRE(f.transitions.back().from == kOpen);
  REQUIRE(f.transitions.back().to == kHalfOpen);
}

TEST_CASE("Half-open lets exactly the probe quota through - extra callers are refused",
          "[breaker]") {
  Fixture f(ConsecutiveOnly());  // 2 probes.
  f.Trip();
  f.ToHalfOpen();  // Probe 1.
  REQUIRE(f.breaker->AllowsRequests());
  REQUIRE(f.breaker->TryAcquirePermission());  // Probe 2.
  REQUIRE_FALSE(f.breaker->AllowsRequests());
  REQUIRE_FALSE(f.breaker->TryAcquirePermission());
  REQUIRE_FALSE(f.breaker->TryAcquirePermission());
  REQUIRE(f.breaker->Snapshot().probes_in_flight == 2);

  // A permit that produced no GPU outcome is given back, and another caller may probe.
  f.breaker->ReleasePermission();
  REQUIRE(f.breaker->Snapshot().probes_in_flight == 1);
  REQUIRE(f.breaker->AllowsRequests());
  REQUIRE(f.breaker->TryAcquirePermission());
  REQUIRE_FALSE(f.breaker->TryAcquirePermission());
}

TEST_CASE("All probes succeeding closes the breaker and clears its counters", "[breaker]") {
  Fixture f(ConsecutiveOnly());
  f.Trip();
  f.ToHalfOpen();
  REQUIRE(f.breaker->TryAcquirePermission());
  f.breaker->RecordSuccess();
  REQUIRE(f.state() == kHalfOpen);  // One of two.
  REQUIRE(f.breaker->Snapshot().probes_succeeded == 1);
  f.breaker->RecordSuccess();
  const CircuitBreakerSnapshot s = f.breaker->Snapshot();
  REQUIRE(s.state == kClosed);
  REQUIRE(s.consecutive_failures == 0);
  REQUIRE(s.window_calls == 0);
  REQUIRE(f.breaker->AllowsRequests());
  REQUIRE(f.breaker->TryAcquirePermission());
  REQUIRE(f.transitions.back().from == kHalfOpen);
  REQUIRE(f.transitions.back().to == kClosed);
}

TEST_CASE("A probe failure re-opens with a longer cool-down", "[breaker]") {
  Fixture f(ConsecutiveOnly());
  f.Trip();
  f.ToHalfOpen();
  f.breaker
      ->RecordSuccess();  // Success of the first probe does not protect against a failing second.
  REQUIRE(f.breaker->TryAcquirePermission());
  f.breaker->RecordFailure("cudaErrorECCUncorrectable");
  const CircuitBreakerSnapshot s = f.breaker->Snapshot();
  REQUIRE(s.state == kOpen);
  REQUIRE(s.trips == 2);
  REQUIRE(s.consecutive_trips == 2);
  REQUIRE(s.time_until_retry == absl::Seconds(2));
  REQUIRE(s.last_error == "cudaErrorECCUncorrectable");
  REQUIRE(f.transitions.back().from == kHalfOpen);
  REQUIRE(f.transitions.back().to == kOpen);
  REQUIRE(f.transitions.back().cool_down == absl::Seconds(2));
}

TEST_CASE("Cool-down grows base * multiplier^(trips-1) and is capped", "[breaker]") {
  Fixture f(ConsecutiveOnly());  // 1 s, x2, cap 5 s.
  f.Trip();
  std::vector<absl::Duration> cool_downs = {f.breaker->Snapshot().current_cool_down};
  for (int i = 0; i < 4; ++i) {
    f.ToHalfOpen();
    f.breaker->RecordFailure("still broken");
    cool_downs.push_back(f.breaker->Snapshot().time_until_retry);
  }
  REQUIRE(cool_downs == std::vector<absl::Duration>{absl::Seconds(1), absl::Seconds(2),
                                                    absl::Seconds(4), absl::Seconds(5),
                                                    absl::Seconds(5)});
  REQUIRE(f.breaker->Snapshot().trips == 5);
}

TEST_CASE("Back-off starts over after staying closed for backoff_reset_after", "[breaker]") {
  Fixture f(ConsecutiveOnly());
  f.Trip();
  f.ToHalfOpen();
  f.breaker->RecordFailure("x");  // 2nd trip: 2 s.
  f.ToHalfOpen();
  REQUIRE(f.breaker->TryAcquirePermission());
  f.breaker->RecordSuccess();
  f.breaker->RecordSuccess();
  REQUIRE(f.state() == kClosed);

  SECTION("tripping again soon continues the back-off") {
    f.clock.Advance(absl::Minutes(10) - absl::Seconds(1));
    f.Trip();
    REQUIRE(f.breaker->Snapshot().current_cool_down == absl::Seconds(4));
    REQUIRE(f.breaker->Snapshot().consecutive_trips == 3);
  }
  SECTION("tripping after a long healthy period starts from the base") {
    f.clock.Advance(absl::Minutes(10));
    f.Trip();
    REQUIRE(f.breaker->Snapshot().current_cool_down == absl::Seconds(1));
    REQUIRE(f.breaker->Snapshot().consecutive_trips == 1);
    REQUIRE(f.breaker->Snapshot().trips == 3);
  }
}

TEST_CASE("Probes that never report count as failed after probe_timeout", "[breaker]") {
  Fixture f(ConsecutiveOnly());
  f.Trip();
  f.ToHalfOpen();
  REQUIRE(f.breaker->TryAcquirePermission());  // Both permits out; neither reports.
  f.clock.Advance(absl::Seconds(30) - absl::Nanoseconds(1));
  REQUIRE_FALSE(f.breaker->AllowsRequests());
  REQUIRE_FALSE(f.breaker->TryAcquirePermission());
  REQUIRE(f.state() == kHalfOpen);
  f.clock.Advance(absl::Nanoseconds(1));
  REQUIRE(f.breaker->AllowsRequests());  // A caller may now come and find out.
  REQUIRE_FALSE(f.breaker->TryAcquirePermission());
  const CircuitBreakerSnapshot s = f.breaker->Snapshot();
  REQUIRE(s.state == kOpen);
  REQUIRE(s.trips == 2);
  REQUIRE(s.last_error.find("did not report") != std::string::npos);
}

TEST_CASE("Reports while open are counted but change nothing", "[breaker]") {
  Fixture f(ConsecutiveOnly());
  f.Trip();
  f.breaker->RecordSuccess();  // A late report from work admitted before the trip.
  f.breaker->RecordFailure("late");
  const CircuitBreakerSnapshot s = f.breaker->Snapshot();
  REQUIRE(s.state == kOpen);
  REQUIRE(s.trips == 1);
  REQUIRE(s.successes == 1);
  REQUIRE(s.failures == 4);
  REQUIRE(s.last_error == "late");
  f.breaker->ReleasePermission();  // Not half-open: no effect.
  REQUIRE(f.state() == kOpen);
}

TEST_CASE("Forced open: no GPU work, whatever happens", "[breaker]") {
  CircuitBreaker::Options o = ConsecutiveOnly();
  o.mode = BreakerMode::kForceOpen;
  Fixture f(o);
  const CircuitBreakerSnapshot s = f.breaker->Snapshot();
  REQUIRE(s.state == kOpen);
  REQUIRE(s.mode == BreakerMode::kForceOpen);
  REQUIRE(s.time_until_retry == absl::InfiniteDuration());
  REQUIRE(f.transitions.empty());
  f.clock.Advance(absl::Hours(24));
  f.breaker->RecordSuccess();
  REQUIRE_FALSE(f.breaker->AllowsRequests());
  REQUIRE_FALSE(f.breaker->TryAcquirePermission());
  REQUIRE(f.state() == kOpen);
}

TEST_CASE("Forced closed: never trips, but still records errors", "[breaker]") {
  CircuitBreaker::Options o = ConsecutiveOnly();
  o.mode = BreakerMode::kForceClosed;
  Fixture f(o);
  f.Fail(100, "ignored by the operator");
  const CircuitBreakerSnapshot s = f.breaker->Snapshot();
  REQUIRE(s.state == kClosed);
  REQUIRE(s.trips == 0);
  REQUIRE(s.failures == 100);
  REQUIRE(s.consecutive_failures == 100);
  REQUIRE(s.last_error == "ignored by the operator");
  REQUIRE(f.breaker->AllowsRequests());
  REQUIRE(f.breaker->TryAcquirePermission());
}

TEST_CASE("SetOptions switches modes at run time and keeps state otherwise", "[breaker]") {
  Fixture f(ConsecutiveOnly());
  CircuitBreaker::Options o = ConsecutiveOnly();
  o.mode = BreakerMode::kForceOpen;
  REQUIRE(f.breaker->SetOptions(o).ok());
  REQUIRE(f.state() == kOpen);
  REQUIRE_FALSE(f.breaker->AllowsRequests());
  REQUIRE(f.transitions.back().to == kOpen);
  REQUIRE(f.transitions.back().cool_down == absl::InfiniteDuration());

  // Back to auto: probe before trusting.
  o.mode = BreakerMode::kAuto;
  REQUIRE(f.breaker->SetOptions(o).ok());
  REQUIRE(f.state() == kHalfOpen);
  REQUIRE(f.breaker->TryAcquirePermission());

  o.mode = BreakerMode::kForceClosed;
  REQUIRE(f.breaker->SetOptions(o).ok());
  REQUIRE(f.state() == kClosed);
  f.Fail(10);
  REQUIRE(f.state() == kClosed);

  o.mode = BreakerMode::kAuto;
  REQUIRE(f.breaker->SetOptions(o).ok());
  REQUIRE(f.breaker->Snapshot().consecutive_failures == 0);  // Counting starts afresh.
  f.Fail(2);
  REQUIRE(f.state() == kClosed);
  f.Fail(1);
  REQUIRE(f.state() == kOpen);

  CircuitBreaker::Options bad = o;
  bad.half_open_probes = 0;
  REQUIRE(f.breaker->SetOptions(bad).code() == absl::StatusCode::kInvalidArgument);
  REQUIRE(f.state() == kOpen);  // Unchanged.
}

TEST_CASE("Snapshot reports transitions by (from, to), last error and times", "[breaker]") {
  Fixture f(ConsecutiveOnly());
  REQUIRE(f.breaker->Snapshot().last_transition_time == absl::InfinitePast());
  REQUIRE(f.breaker->Snapshot().last_error.empty());

  f.clock.Advance(absl::Seconds(7));
  const absl::Time trip_time = f.clock.Now();
  f.Trip();
  f.ToHalfOpen();
  f.breaker->RecordFailure("boom");  // half_open -> open
  f.ToHalfOpen();
  REQUIRE(f.breaker->TryAcquirePermission());
  f.breaker->RecordSuccess();
  f.clock.Advance(absl::Milliseconds(5));
  f.breaker->RecordSuccess();  // half_open -> closed
  const absl::Time close_time = f.clock.Now();

  const CircuitBreakerSnapshot s = f.breaker->Snapshot();
  const auto idx = [](BreakerState st) { return static_cast<size_t>(st); };
  REQUIRE(s.transitions[idx(kClosed)][idx(kOpen)] == 1);
  REQUIRE(s.transitions[idx(kOpen)][idx(kHalfOpen)] == 2);
  REQUIRE(s.transitions[idx(kHalfOpen)][idx(kOpen)] == 1);
  REQUIRE(s.transitions[idx(kHalfOpen)][idx(kClosed)] == 1);
  REQUIRE(s.transitions[idx(kClosed)][idx(kClosed)] == 0);
  REQUIRE(s.trips == 2);
  REQUIRE(s.last_error == "boom");
  REQUIRE(s.last_error_time > trip_time);
  REQUIRE(s.last_transition_time == close_time);
  REQUIRE(f.transitions.size() == 5);
  REQUIRE(s.successes == 2);
  REQUIRE(s.failures == 4);
  REQUIRE(Name(kHalfOpen) == "half_open");
  REQUIRE(Name(BreakerMode::kForceClosed) == "force_closed");
}

TEST_CASE("CircuitBreaker::Options::Validate names the bad field", "[breaker]") {
  REQUIRE(CircuitBreaker::Options().Validate().ok());
  auto check = [](CircuitBreaker::Options o, const char* field) {
    const absl::Status s = o.Validate();
    INFO(s.ToString());
    REQUIRE(s.code() == absl::StatusCode::kInvalidArgument);
    REQUIRE(s.message().find(field) != absl::string_view::npos);
    FakeClock clock;
    REQUIRE_FALSE(CircuitBreaker::Create(o, &clock).ok());
  };
  using O = CircuitBreaker::Options;
  O o;
  o.consecutive_failures_to_open = 0;
  check(o, "consecutive_failures_to_open");
  o = O();
  o.window_size = 0;
  check(o, "window_size");
  o = O();
  o.window_min_calls = o.window_size + 1;
  check(o, "window_min_calls");
  o = O();
  o.window_failure_rate_to_open = 1.01;
  check(o, "window_failure_rate_to_open");
  o = O();
  o.base_cool_down = absl::ZeroDuration();
  check(o, "base_cool_down");
  o = O();
  o.cool_down_multiplier = 0.5;
  check(o, "cool_down_multiplier");
  o = O();
  o.max_cool_down = o.base_cool_down - absl::Milliseconds(1);
  check(o, "max_cool_down");
  o = O();
  o.half_open_probes = 0;
  check(o, "half_open_probes");
  o = O();
  o.probe_timeout = absl::ZeroDuration();
  check(o, "probe_timeout");
  o = O();
  o.backoff_reset_after = -absl::Seconds(1);
  check(o, "backoff_reset_after");
  REQUIRE(CircuitBreaker::Create(O(), nullptr).status().code() ==
          absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace simile
