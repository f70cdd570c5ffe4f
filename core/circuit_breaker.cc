#include "core/circuit_breaker.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace simile {
namespace {

constexpr int64_t kAllowNow = std::numeric_limits<int64_t>::min();
constexpr int64_t kAllowNever = std::numeric_limits<int64_t>::max();

size_t StateIndex(BreakerState s) { return static_cast<size_t>(s); }

absl::Status Invalid(absl::string_view field, absl::string_view requirement) {
  return absl::InvalidArgumentError(absl::StrCat("circuit_breaker.", field, " ", requirement));
}

}  // namespace

absl::string_view Name(BreakerState state) {
  switch (state) {
    case BreakerState::kClosed:
      return "closed";
    case BreakerState::kOpen:
      return "open";
    case BreakerState::kHalfOpen:
      return "half_open";
  }
  return "unknown";
}

absl::string_view Name(BreakerMode mode) {
  switch (mode) {
    case BreakerMode::kAuto:
      return "auto";
    case BreakerMode::kForceOpen:
      return "force_open";
    case BreakerMode::kForceClosed:
      return "force_closed";
  }
  return "unknown";
}

absl::Status CircuitBreaker::Options::Validate() const {
  if (mode != BreakerMode::kAuto && mode != BreakerMode::kForceOpen &&
      mode != BreakerMode::kForceClosed) {
    return Invalid("mode", "must be auto, force_open or force_closed");
  }
  if (consecutive_failures_to_open < 1) {
    return Invalid("consecutive_failures_to_open",
                   absl::StrCat("must be >= 1, got ", consecutive_failures_to_open));
  }
  if (window_size < 1 || window_size > 1'000'000) {
    return Invalid("window_size", absl::StrCat("must be in [1, 1000000], got ", window_size));
  }
  if (window_min_calls < 1 || window_min_calls > window_size) {
    return Invalid("window_min_calls", absl::StrCat("must be in [1, window_size=", window_size,
                                                    "], got ", window_min_calls));
  }
  if (!(window_failure_rate_to_open >= 0.0 && window_failure_rate_to_open <= 1.0)) {
    return Invalid("window_failure_rate_to_open",
                   absl::StrCat("must be in [0, 1], got ", window_failure_rate_to_open));
  }
  if (base_cool_down <= absl::ZeroDuration() || base_cool_down == absl::InfiniteDuration()) {
    return Invalid("base_cool_down", "must be positive and finite");
  }
  if (!(cool_down_multiplier >= 1.0 && std::isfinite(cool_down_multiplier))) {
    return Invalid("cool_down_multiplier",
                   absl::StrCat("must be finite and >= 1, got ", cool_down_multiplier));
  }
  if (max_cool_down < base_cool_down || max_cool_down == absl::InfiniteDuration()) {
    return Invalid("max_cool_down", "must be finite and >= base_cool_down");
  }
  if (half_open_probes < 1) {
    return Invalid("half_open_probes", absl::StrCat("must be >= 1, got ", half_open_probes));
  }
  if (probe_timeout <= absl::ZeroDuration()) return Invalid("probe_timeout", "must be positive");
  if (backoff_reset_after <= absl::ZeroDuration())
    return Invalid("backoff_reset_after", "must be positive");
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<CircuitBreaker>> CircuitBreaker::Create(
    const Options& options, const Clock* clock, TransitionListener listener) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  if (clock == nullptr)
    return absl::InvalidArgumentError("circuit_breaker: clock must not be null");
  return std::unique_ptr<CircuitBreaker>(new CircuitBreaker(options, clock, std::move(listener)));
}

CircuitBreaker::CircuitBreaker(const Options& options, const Clock* clock,
                               TransitionListener listener)
    : clock_(clock), listener_(std::move(listener)) {
  MutexLock lock(&mu_);
  options_ = options;
  state_since_ = clock_->Now();
  retry_at_ = state_since_;
  window_.assign(static_cast<size_t>(options.window_size), 0);
  if (options.mode == BreakerMode::kForceOpen) {
    // Starts open without a transition: nothing was ever closed.
    state_ = BreakerState::kOpen;
    cool_down_ = absl::InfiniteDuration();
    retry_at_ = absl::InfiniteFuture();
  }
  PublishGate();
}

bool CircuitBreaker::AllowsRequests() const {
  // Relaxed: see the declaration of allowed_from_ns_.
  const int64_t allowed_from = allowed_from_ns_.load(std::memory_order_relaxed);
  if (allowed_from == kAllowNow) return true;
  if (allowed_from == kAllowNever) return false;
  return absl::ToUnixNanos(clock_->Now()) >= allowed_from;
}

bool CircuitBreaker::TryAcquirePermission() {
  const absl::Time now = clock_->Now();
  MutexLock lock(&mu_);
  if (options_.mode == BreakerMode::kForceOpen) return false;
  if (options_.mode == BreakerMode::kForceClosed) return true;
  switch (state_) {
    case BreakerState::kClosed:
      return true;
    case BreakerState::kOpen:
      if (now < retry_at_) return false;
      TransitionTo(BreakerState::kHalfOpen, now);
      break;
    case BreakerState::kHalfOpen:
      if (probes_issued_ >= options_.half_open_probes &&
          now - state_since_ >= options_.probe_timeout) {
        // The probes never all reported: treat the silence as a failure rather than stay half-open
        // forever.
        last_error_ = absl::StrCat("half-open probes did not report within ",
                                   absl::FormatDuration(options_.probe_timeout));
        last_error_time_ = now;
        Trip(now);
        return false;
      }
      break;
  }
  if (probes_issued_ >= options_.half_open_probes) return false;
  ++probes_issued_;
  PublishGate();
  return true;
}

void CircuitBreaker::RecordSuccess() {
  const absl::Time now = clock_->Now();
  MutexLock lock(&mu_);
  ++successes_;
  consecutive_failures_ = 0;
  if (options_.mode != BreakerMode::kAuto) return;
  switch (state_) {
    case BreakerState::kClosed:
      PushWindow(/*failed=*/false);
      return;
    case BreakerState::kOpen:
      return;  // A late report from before the trip: counted, no effect.
    case BreakerState::kHalfOpen:
      if (probes_succeeded_ < probes_issued_) ++probes_succeeded_;
      if (probes_succeeded_ >= options_.half_open_probes) TransitionTo(BreakerState::kClosed, now);
      return;
  }
}

void CircuitBreaker::RecordFailure(absl::string_view error) { Record(error, /*fatal=*/false); }

void CircuitBreaker::RecordFatalFailure(absl::string_view error) { Record(error, /*fatal=*/true); }

void CircuitBreaker::Record(absl::string_view error, bool fatal) {
  const absl::Time now = clock_->Now();
  MutexLock lock(&mu_);
  ++failures_;
  ++consecutive_failures_;
  last_error_.assign(error.data(), error.size());
  last_error_time_ = now;
  if (options_.mode != BreakerMode::kAuto) return;
  switch (state_) {
    case BreakerState::kClosed:
      PushWindow(/*failed=*/true);
      if (fatal || ShouldTrip()) Trip(now);
      return;
    case BreakerState::kOpen:
      return;  // Already open; the message is kept.
    case BreakerState::kHalfOpen:
      Trip(now);
      return;
  }
}

void CircuitBreaker::ReleasePermission() {
  MutexLock lock(&mu_);
  if (state_ == BreakerState::kHalfOpen && probes_issued_ > probes_succeeded_) {
    --probes_issued_;
    PublishGate();
  }
}

absl::Status CircuitBreaker::SetOptions(const Options& options) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  const absl::Time now = clock_->Now();
  MutexLock lock(&mu_);
  const BreakerMode old_mode = options_.mode;
  const bool window_changed = options.window_size != options_.window_size;
  options_ = options;
  if (window_changed) {
    window_.assign(static_cast<size_t>(options.window_size), 0);
    ResetWindow();
  }
  if (options.mode != old_mode) {
    switch (options.mode) {
      case BreakerMode::kForceOpen:
        cool_down_ = absl::InfiniteDuration();
        retry_at_ = absl::InfiniteFuture();
        if (state_ != BreakerState::kOpen) TransitionTo(BreakerState::kOpen, now);
        break;
      case BreakerMode::kForceClosed:
        if (state_ != BreakerState::kClosed) TransitionTo(BreakerState::kClosed, now);
        break;
      case BreakerMode::kAuto:
        // Out of forced-open, probe before trusting the GPU; out of forced-closed, start counting
        // afresh.
        if (old_mode == BreakerMode::kForceOpen) {
          TransitionTo(BreakerState::kHalfOpen, now);
        } else {
          consecutive_failures_ = 0;
          ResetWindow();
        }
        break;
    }
  }
  PublishGate();
  return absl::OkStatus();
}

CircuitBreakerSnapshot CircuitBreaker::Snapshot() const {
  const absl::Time now = clock_->Now();
  CircuitBreakerSnapshot s;
  MutexLock lock(&mu_);
  s.state = state_;
  s.mode = options_.mode;
  if (options_.mode == BreakerMode::kForceOpen) {
    s.time_until_retry = absl::InfiniteDuration();
  } else if (state_ == BreakerState::kOpen) {
    s.time_until_retry = std::max(retry_at_ - now, absl::ZeroDuration());
  }
  s.current_cool_down = cool_down_;
  s.consecutive_failures = consecutive_failures_;
  s.window_calls = window_calls_;
  s.window_failures = window_failures_;
  if (state_ == BreakerState::kHalfOpen) {
    s.probes_in_flight = probes_issued_ - probes_succeeded_;
    s.probes_succeeded = probes_succeeded_;
  }
  s.trips = trips_;
  s.consecutive_trips = consecutive_trips_;
  s.successes = successes_;
  s.failures = failures_;
  s.transitions = transitions_;
  s.last_error = last_error_;
  s.last_error_time = last_error_time_;
  s.last_transition_time = last_transition_time_;
  return s;
}

void CircuitBreaker::TransitionTo(BreakerState to, absl::Time now) {
  const BreakerState from = state_;
  state_ = to;
  state_since_ = now;
  probes_issued_ = 0;
  probes_succeeded_ = 0;
  if (to == BreakerState::kClosed) {
    consecutive_failures_ = 0;
    ResetWindow();
  }
  ++transitions_[StateIndex(from)][StateIndex(to)];
  last_transition_time_ = now;
  PublishGate();
  if (listener_) {
    BreakerTransition t;
    t.from = from;
    t.to = to;
    t.at = now;
    t.cool_down = to == BreakerState::kOpen ? cool_down_ : absl::ZeroDuration();
    t.consecutive_failures = consecutive_failures_;
    t.last_error = last_error_;
    listener_(t);
  }
}

void CircuitBreaker::Trip(absl::Time now) {
  // Coming from closed after a long healthy period, the back-off starts over.
  if (state_ == BreakerState::kClosed && now - state_since_ >= options_.backoff_reset_after) {
    consecutive_trips_ = 0;
  }
  ++trips_;
  ++consecutive_trips_;
  cool_down_ = CoolDownFor(consecutive_trips_);
  retry_at_ = now + cool_down_;
  TransitionTo(BreakerState::kOpen, now);
}

absl::Duration CircuitBreaker::CoolDownFor(int consecutive_trips) const {
  absl::Duration d = options_.base_cool_down;
  for (int i = 1; i < consecutive_trips && d < options_.max_cool_down; ++i) {
    d = d * options_.cool_down_multiplier;
  }
  return std::min(d, options_.max_cool_down);
}

void CircuitBreaker::ResetWindow() {
  std::fill(window_.begin(), window_.end(), 0);
  window_head_ = 0;
  window_calls_ = 0;
  window_failures_ = 0;
}

void CircuitBreaker::PushWindow(bool failed) {
  if (window_calls_ == static_cast<int>(window_.size())) {
    window_failures_ -= window_[window_head_];
  } else {
    ++window_calls_;
  }
  window_[window_head_] = failed ? 1 : 0;
  window_failures_ += failed ? 1 : 0;
  window_head_ = (window_head_ + 1) % window_.size();
}

bool CircuitBreaker::ShouldTrip() const {
  if (consecutive_failures_ >= options_.consecutive_failures_to_open) return true;
  if (window_calls_ < options_.window_min_calls) return false;
  return static_cast<double>(window_failures_) >
         options_.window_failure_rate_to_open * static_cast<double>(window_calls_);
}

void CircuitBreaker::PublishGate() {
  int64_t allowed_from = kAllowNow;
  if (options_.mode == BreakerMode::kForceOpen) {
    allowed_from = kAllowNever;
  } else if (options_.mode == BreakerMode::kForceClosed) {
    allowed_from = kAllowNow;
  } else if (state_ == BreakerState::kOpen) {
    allowed_from = absl::ToUnixNanos(retry_at_);
  } else if (state_ == BreakerState::kHalfOpen && probes_issued_ >= options_.half_open_probes) {
    allowed_from = absl::ToUnixNanos(state_since_ + options_.probe_timeout);
  }
  // Relaxed: see the declaration of allowed_from_ns_.
  allowed_from_ns_.store(allowed_from, std::memory_order_relaxed);
}

}  // namespace simile
