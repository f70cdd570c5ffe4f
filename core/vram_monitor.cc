#include "core/vram_monitor.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace simile {
namespace {

// floor(bytes * fraction) for fraction in [0, 1], without overflow (the product is computed in
// double, whose rounding error at 2^64 is far below a byte of any real budget that matters).
uint64_t FractionOf(uint64_t bytes, double fraction) {
  if (fraction <= 0.0) return 0;
  if (fraction >= 1.0) return bytes;
  const double product = std::floor(static_cast<double>(bytes) * fraction);
  if (product >= 18446744073709551616.0) return bytes;  // 2^64: rounded up past the range.
  return std::min(bytes, static_cast<uint64_t>(product));
}

}  // namespace

absl::string_view Name(BudgetSource source) {
  switch (source) {
    case BudgetSource::kFresh:
      return "fresh";
    case BudgetSource::kCached:
      return "cached";
    case BudgetSource::kPessimistic:
      return "pessimistic";
  }
  return "unknown";
}

absl::Status VramMonitor::Options::Validate() const {
  if (cache_ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("vram_monitor.cache_ttl must be positive");
  }
  if (!(safety_margin_fraction >= 0.0 && safety_margin_fraction < 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "vram_monitor.safety_margin_fraction must be in [0, 1), got ", safety_margin_fraction));
  }
  if (!(pessimistic_fraction >= 0.0 && pessimistic_fraction <= 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "vram_monitor.pessimistic_fraction must be in [0, 1], got ", pessimistic_fraction));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<VramMonitor>> VramMonitor::Create(DeviceMemoryQuery* query,
                                                                 const Clock* clock,
                                                                 const Options& options) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  if (query == nullptr) return absl::InvalidArgumentError("vram_monitor: query must not be null");
  if (clock == nullptr) return absl::InvalidArgumentError("vram_monitor: clock must not be null");
  return std::unique_ptr<VramMonitor>(new VramMonitor(query, clock, options));
}

VramMonitor::VramMonitor(DeviceMemoryQuery* query, const Clock* clock, const Options& options)
    : query_(query), clock_(clock), options_(options) {}

uint64_t VramMonitor::LimitFor(uint64_t total_bytes) const {
  return options_.limit_bytes != 0 ? options_.limit_bytes : total_bytes;
}

VramBudget VramMonitor::FromAnswer(const DeviceMemoryInfo& info, BudgetSource source,
                                   absl::Duration age) const {
  VramBudget b;
  b.free_bytes = info.free_bytes;
  b.total_bytes = info.total_bytes;
  b.source = source;
  b.age = age;
  const uint64_t after_margin =
      info.free_bytes - FractionOf(info.free_bytes, options_.safety_margin_fraction);
  b.usable_bytes = std::min(after_margin, LimitFor(info.total_bytes));
  return b;
}

VramBudget VramMonitor::Budget() {
  const absl::Time started = clock_->Now();
  // Outside mu_: a slow or hung driver call must not block other threads' budgets behind this
  // one's.
  const absl::StatusOr<DeviceMemoryInfo> answer = query_->Query();

  MutexLock lock(&mu_);
  if (answer.ok()) {
    // Concurrent queries may finish out of order; keep the one that started last.
    if (!has_good_ || started >= last_good_at_) {
      has_good_ = true;
      last_good_ = *answer;
      last_good_at_ = started;
    }
    return FromAnswer(*answer, BudgetSource::kFresh, absl::ZeroDuration());
  }

  ++failures_;
  last_error_ = answer.status();
  const absl::Time now = clock_->Now();
  if (has_good_ && now - last_good_at_ < options_.cache_ttl) {
    return FromAnswer(last_good_, BudgetSource::kCached, now - last_good_at_);
  }
  VramBudget b;
  b.source = BudgetSource::kPessimistic;
  b.total_bytes = has_good_ ? last_good_.total_bytes : 0;
  b.age = has_good_ ? now - last_good_at_ : absl::InfiniteDuration();
  b.usable_bytes = FractionOf(LimitFor(b.total_bytes), options_.pessimistic_fraction);
  return b;
}

uint64_t VramMonitor::query_failures() const {
  MutexLock lock(&mu_);
  return failures_;
}

absl::Status VramMonitor::last_error() const {
  MutexLock lock(&mu_);
  return last_error_;
}

}  // namespace simile
