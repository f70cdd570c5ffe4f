// CircuitBreaker: stops the dispatcher from sending work to a GPU that keeps failing, and lets a
// few probe requests test it again after a cool-down.
//
//   closed    -> open       N consecutive failures, or more than a threshold fraction of the
//                           last M calls failed (once the window holds window_min_calls calls)
//   open      -> half_open  the cool-down is over (on the next TryAcquirePermission)
//   half_open -> closed     all `half_open_probes` probes succeeded
//   half_open -> open       a probe failed, or the probes did not all report within
//                           probe_timeout (the next cool-down is longer)
//
// The cool-down after the k-th consecutive trip is base_cool_down * cool_down_multiplier^(k-1),
// capped at max_cool_down. Trips count as consecutive until the breaker has stayed closed for
// backoff_reset_after. An operator can force the breaker open (no GPU work) or closed (never trips)
// through Options::mode; outcomes are still counted in forced modes, but only kAuto changes state
// by itself. Leaving kForceOpen goes to half_open, so the GPU is probed before it is trusted again.
//
// Protocol for callers (the executor): before sending work to the GPU, TryAcquirePermission(); if
// it returns true, report the GPU's outcome with exactly one of RecordSuccess(),
// RecordFailure(error) or, when no GPU outcome resulted (the request was cancelled, or ran on the
// CPU after all), ReleasePermission(). Out-of-memory is not a GPU fault (the chunker shrinks and
// retries) and should be reported as ReleasePermission or success of the retried work, never as
// RecordFailure. Reports arriving while open only update the counters and the last error.
//
// Thread safety: every method may be called concurrently from any thread. State lives under one
// mutex; AllowsRequests() reads one atomic word (no lock) and is a hint for the dispatch decision:
// the authoritative check is TryAcquirePermission(). The transition listener runs with the
// breaker's mutex held, in transition order; it must be quick (log, count) and must not call back
// into the breaker.
#ifndef SIMILE_CORE_CIRCUIT_BREAKER_H_
#define SIMILE_CORE_CIRCUIT_BREAKER_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/mutex.h"

namespace simile {

enum class BreakerState : uint8_t { kClosed, kOpen, kHalfOpen };
inline constexpr size_t kNumBreakerStates = 3;

enum class BreakerMode : uint8_t {
  kAuto,         // The state machine above.
  kForceOpen,    // No GPU work at all (an operator has taken the GPU out of service).
  kForceClosed,  // Never trips (an operator overrides the breaker).
};

// Label values: "closed", "open", "half_open"; "auto", "force_open", "force_closed".
[[nodiscard]] absl::string_view Name(BreakerState state);
[[nodiscard]] absl::string_view Name(BreakerMode mode);

// One state change, as given to the listener.
struct BreakerTransition {
  BreakerState from = BreakerState::kClosed;
  BreakerState to = BreakerState::kClosed;
  absl::Time at = absl::InfinitePast();
  // to == kOpen: how long it stays open (InfiniteDuration when forced open); otherwise zero.
  absl::Duration cool_down = absl::ZeroDuration();
  int consecutive_failures = 0;
  absl::string_view last_error;  // Valid only during the listener call.
};

struct CircuitBreakerSnapshot {
  BreakerState state = BreakerState::kClosed;
  BreakerMode mode = BreakerMode::kAuto;
  // Open: until the next probe may start (zero once it may); forced open: InfiniteDuration; else
  // zero.
  absl::Duration time_until_retry = absl::ZeroDuration();
  absl::Duration current_cool_down = absl::ZeroDuration();  // Of the current or last open period.
  int consecutive_failures = 0;
  int window_calls = 0;       // Calls in the failure-rate window (closed state).
  int window_failures = 0;    // ...of which failed.
  int probes_in_flight = 0;   // Half-open: permits handed out and not yet reported.
  int probes_succeeded = 0;   // Half-open: probes that succeeded so far.
  int64_t trips = 0;          // Transitions to open, ever.
  int consecutive_trips = 0;  // Trips without a closed period of backoff_reset_after in between.
  int64_t successes = 0;      // Outcomes reported, ever.
  int64_t failures = 0;
  // transitions[Index(from)][Index(to)]: how many times each transition happened.
  std::array<std::array<int64_t, kNumBreakerStates>, kNumBreakerStates> transitions{};
  std::string last_error;  // The last RecordFailure message ("" if none).
  absl::Time last_error_time = absl::InfinitePast();
  absl::Time last_transition_time = absl::InfinitePast();  // InfinitePast: never changed state.
};

class CircuitBreaker {
 public:
  // Defaults are conservative starting points, to be revisited with production failure data: a
  // healthy GPU does not fail 5 times in a row, and a 50% failure rate over 20 calls is not noise;
  // 5 s is long enough for a transient driver/ECC hiccup, and the cap keeps a dead GPU from being
  // probed more than every 5 minutes.
  struct Options {
    BreakerMode mode = BreakerMode::kAuto;
    // Trip after this many failures in a row (>= 1).
    int consecutive_failures_to_open = 5;
    // The failure-rate window: the last `window_size` calls (>= 1)...
    int window_size = 20;
    // ...trip when it holds at least `window_min_calls` calls (in [1, window_size])...
    int window_min_calls = 10;
    // ...and failures / calls > this (in [0, 1]; 1 disables the rate rule).
    double window_failure_rate_to_open = 0.5;
    // Cool-down of the first trip (> 0), multiplied by cool_down_multiplier (>= 1) per consecutive
    // trip, capped at max_cool_down (>= base_cool_down).
    absl::Duration base_cool_down = absl::Seconds(5);
    double cool_down_multiplier = 2.0;
    absl::Duration max_cool_down = absl::Minutes(5);
    // Probe calls let through in half-open (>= 1); all must succeed to close.
    int half_open_probes = 3;
    // Probes that have not all reported this long after half-open began count as failed (> 0).
    // Guards against a lost permit wedging the breaker half-open forever.
    absl::Duration probe_timeout = absl::Seconds(60);
    // After staying closed this long (> 0), the next trip starts again at base_cool_down.
    absl::Duration backoff_reset_after = absl::Minutes(10);

    // InvalidArgument naming the bad field.
    [[nodiscard]] absl::Status Validate() const;
  };

  using TransitionListener = std::function<void(const BreakerTransition&)>;

  // `clock` is not owned and must outlive the breaker; `listener` may be empty. InvalidArgument for
  // bad options or a null clock.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<CircuitBreaker>> Create(
      const Options& options, const Clock* clock, TransitionListener listener = nullptr);

  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;

  // Whether a request sent to the GPU now would likely get a permission: closed, half-open with
  // probe permits left, or open with the cool-down over. Lock-free: one atomic load (and a clock
  // read only when open).
  [[nodiscard]] bool AllowsRequests() const;

  // Asks to send one request to the GPU. Closed: true. Open: false until the cool-down is over,
  // then the breaker goes half-open. Half-open: true for the first half_open_probes callers, false
  // for the rest until they report.
  [[nodiscard]] bool TryAcquirePermission();

  void RecordSuccess();
  // `error` (e.g. the CUDA error string) is kept as the last GPU error.
  void RecordFailure(absl::string_view error);
  // A failure after which the GPU cannot work again (a sticky CUDA error: the backend reports
  // Available() == false): counted like RecordFailure, but in kAuto it trips at once.
  void RecordFatalFailure(absl::string_view error);
  // Gives back a permission that produced no GPU outcome (frees a half-open probe slot).
  void ReleasePermission();

  // Applies new options (a configuration reload), keeping the current state and counters. A mode
  // change transitions at once (see the top of this file). InvalidArgument, with nothing changed,
  // for bad options.
  [[nodiscard]] absl::Status SetOptions(const Options& options);

  [[nodiscard]] CircuitBreakerSnapshot Snapshot() const;

 private:
  CircuitBreaker(const Options& options, const Clock* clock, TransitionListener listener);

  void Record(absl::string_view error, bool fatal) ABSL_LOCKS_EXCLUDED(mu_);
  void TransitionTo(BreakerState to, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Trip(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ResetWindow() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PushWindow(bool failed) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  [[nodiscard]] bool ShouldTrip() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  [[nodiscard]] absl::Duration CoolDownFor(int consecutive_trips) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Recomputes allowed_from_ns_ from the state.
  void PublishGate() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock* const clock_;
  const TransitionListener listener_;

  mutable Mutex mu_;
  Options options_ ABSL_GUARDED_BY(mu_);
  BreakerState state_ ABSL_GUARDED_BY(mu_) = BreakerState::kClosed;
  absl::Time state_since_ ABSL_GUARDED_BY(mu_);  // When the current state began.
  absl::Time retry_at_ ABSL_GUARDED_BY(mu_);     // Open: when probing may start.
  absl::Duration cool_down_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  int consecutive_failures_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<uint8_t> window_ ABSL_GUARDED_BY(mu_);  // Ring of the last calls: 1 = failed.
  size_t window_head_ ABSL_GUARDED_BY(mu_) = 0;
  int window_calls_ ABSL_GUARDED_BY(mu_) = 0;
  int window_failures_ ABSL_GUARDED_BY(mu_) = 0;
  int probes_issued_ ABSL_GUARDED_BY(mu_) = 0;
  int probes_succeeded_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t trips_ ABSL_GUARDED_BY(mu_) = 0;
  int consecutive_trips_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t successes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t failures_ ABSL_GUARDED_BY(mu_) = 0;
  std::array<std::array<int64_t, kNumBreakerStates>, kNumBreakerStates> transitions_
      ABSL_GUARDED_BY(mu_){};
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  absl::Time last_error_time_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time last_transition_time_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();

  // Unix nanoseconds from which AllowsRequests() answers true: INT64_MIN when requests are allowed
  // now (closed, forced closed, half-open with permits left), the end of the cool-down when open,
  // the probe deadline when half-open with every permit out, INT64_MAX when forced open. Written
  // only under mu_ (PublishGate), read without it. memory_order_relaxed both ways: it is one
  // self-contained word and a hint; no other data is read on the strength of it
  // (TryAcquirePermission re-checks under mu_).
  std::atomic<int64_t> allowed_from_ns_{INT64_MIN};
};

}  // namespace simile

#endif  // SIMILE_CORE_CIRCUIT_BREAKER_H_
