#include "core/dispatch_policy.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace simile {
namespace {

absl::Status Invalid(absl::string_view field, absl::string_view requirement) {
  return absl::InvalidArgumentError(absl::StrCat("dispatch_policy.", field, " ", requirement));
}

// A size-class estimate the comparison may use: enough successful samples, and not stale.
bool Usable(const BackendEstimate& e, const DispatchContext& ctx, const PolicyOptions& o) {
  if (e.samples < o.min_samples) return false;
  if (o.max_estimate_age == absl::InfiniteDuration() || ctx.now == absl::InfinitePast())
    return true;
  return e.last_update >= ctx.now - o.max_estimate_age;
}

bool PlacementCpu(const DispatchContext& ctx, const PolicyOptions&) {
  return ctx.placement == Placement::kCpu;
}
bool PlacementGpu(const DispatchContext& ctx, const PolicyOptions&) {
  return ctx.placement == Placement::kGpu;
}
bool GpuUnavailable(const DispatchContext& ctx, const PolicyOptions&) { return !ctx.gpu_available; }
bool CircuitOpen(const DispatchContext& ctx, const PolicyOptions&) { return !ctx.breaker_allows; }
bool BatchTooSmall(const DispatchContext& ctx, const PolicyOptions& o) {
  return ctx.n < o.MinGpuBatch(ctx.operation);
}
bool InsufficientVram(const DispatchContext& ctx, const PolicyOptions&) {
  return ctx.usable_vram_bytes < ctx.min_chunk_vram_bytes;
}
bool LowGpuSuccessRate(const DispatchContext& ctx, const PolicyOptions& o) {
  const OutcomeCounts& w = ctx.estimate.gpu_window;
  return w.count >= o.min_success_samples && w.success_rate() < o.min_success_rate;
}
// Exploration goes against what the measured evidence (the rules after it) would choose: to the GPU
// when its success rate or its estimates favour the CPU, to the CPU otherwise.
bool ExploreTowardsCpu(const DispatchContext& ctx, const PolicyOptions& o) {
  return ctx.explore && !TableDispatchPolicy::EvidenceFavoursCpu(ctx, o);
}
bool ExploreTowardsGpu(const DispatchContext& ctx, const PolicyOptions& o) {
  return ctx.explore && TableDispatchPolicy::EvidenceFavoursCpu(ctx, o);
}
bool GpuSlowerForThisSize(const DispatchContext& ctx, const PolicyOptions& o) {
  return TableDispatchPolicy::EstimatesFavourCpu(ctx, o);
}
bool Always(const DispatchContext&, const PolicyOptions&) { return true; }

using Rule = TableDispatchPolicy::Rule;
constexpr std::array<Rule, 11> kRules = {{
    {DispatchRule::kPlacementCpu, &PlacementCpu, BackendKind::kCpu},
    {DispatchRule::kPlacementGpu, &PlacementGpu, BackendKind::kGpu},
    {DispatchRule::kGpuUnavailable, &GpuUnavailable, BackendKind::kCpu},
    {DispatchRule::kCircuitOpen, &CircuitOpen, BackendKind::kCpu},
    {DispatchRule::kBatchTooSmall, &BatchTooSmall, BackendKind::kCpu},
    {DispatchRule::kInsufficientVram, &InsufficientVram, BackendKind::kCpu},
    {DispatchRule::kExplore, &ExploreTowardsCpu, BackendKind::kCpu},
    {DispatchRule::kExplore, &ExploreTowardsGpu, BackendKind::kGpu},
    {DispatchRule::kLowGpuSuccessRate, &LowGpuSuccessRate, BackendKind::kCpu},
    {DispatchRule::kGpuSlowerForThisSize, &GpuSlowerForThisSize, BackendKind::kCpu},
    {DispatchRule::kGpuFaster, &Always, BackendKind::kGpu},
}};

}  // namespace

absl::Status PolicyOptions::Validate() const {
  if (!(required_speedup > 0.0 && std::isfinite(required_speedup))) {
    return Invalid("required_speedup",
                   absl::StrCat("must be finite and > 0, got ", required_speedup));
  }
  if (min_samples < 1)
    return Invalid("min_samples", absl::StrCat("must be >= 1, got ", min_samples));
  if (!(min_success_rate >= 0.0 && min_success_rate <= 1.0)) {
    return Invalid("min_success_rate", absl::StrCat("must be in [0, 1], got ", min_success_rate));
  }
  if (min_success_samples < 1) {
    return Invalid("min_success_samples", absl::StrCat("must be >= 1, got ", min_success_samples));
  }
  if (!(explore_fraction >= 0.0 && explore_fraction <= 1.0)) {
    return Invalid("explore_fraction", absl::StrCat("must be in [0, 1], got ", explore_fraction));
  }
  if (max_estimate_age <= absl::ZeroDuration())
    return Invalid("max_estimate_age", "must be positive");
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TableDispatchPolicy>> TableDispatchPolicy::Create(
    const PolicyOptions& options) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  return std::unique_ptr<TableDispatchPolicy>(new TableDispatchPolicy(options));
}

absl::Span<const TableDispatchPolicy::Rule> TableDispatchPolicy::Rules() { return kRules; }

bool TableDispatchPolicy::EstimatesFavourCpu(const DispatchContext& ctx,
                                             const PolicyOptions& options) {
  const BackendEstimate& cpu = ctx.estimate.cpu;
  const BackendEstimate& gpu = ctx.estimate.gpu;
  if (!Usable(cpu, ctx, options) || !Usable(gpu, ctx, options)) return false;
  // GPU only when cpu_mean / gpu_mean >= required_speedup; written without a division (gpu_mean may
  // be 0).
  return absl::ToDoubleNanoseconds(cpu.mean) <
         options.required_speedup * absl::ToDoubleNanoseconds(gpu.mean);
}

bool TableDispatchPolicy::EvidenceFavoursCpu(const DispatchContext& ctx,
                                             const PolicyOptions& options) {
  return LowGpuSuccessRate(ctx, options) || EstimatesFavourCpu(ctx, options);
}

Decision TableDispatchPolicy::Decide(const DispatchContext& ctx) const {
  for (const Rule& r : kRules) {
    if (r.applies(ctx, options_)) return Decision{r.target, r.rule};
  }
  return Decision{BackendKind::kGpu,
                  DispatchRule::kGpuFaster};  // Unreachable: the last rule always applies.
}

bool TableDispatchPolicy::ExplorationEligible(const DispatchContext& ctx) const {
  for (const Rule& r : kRules) {
    if (r.rule == DispatchRule::kExplore) return true;
    if (r.applies(ctx, options_)) return false;
  }
  return true;
}

namespace {

// round(1 / fraction), at least 1; 0 for fraction <= 0 (or NaN); saturating for vanishing
// fractions.
uint64_t PeriodFor(double fraction) {
  if (!(fraction > 0.0)) return 0;
  const double period = std::max(1.0, std::round(1.0 / std::min(fraction, 1.0)));
  return period >= 9.2e18 ? uint64_t{9'200'000'000'000'000'000u} : static_cast<uint64_t>(period);
}

}  // namespace

ExplorationTicker::ExplorationTicker(double fraction) : period_(PeriodFor(fraction)) {}

bool ExplorationTicker::Tick() {
  if (period_ == 0) return false;
  // Relaxed: see the declaration of ticks_.
  const uint64_t ticket = ticks_.fetch_add(1, std::memory_order_relaxed) + 1;
  return ticket % period_ == 0;
}

Decision DecideWithExploration(const DispatchPolicy& policy, DispatchContext ctx,
                               ExplorationTicker* ticker) {
  ctx.explore = ticker != nullptr && policy.ExplorationEligible(ctx) && ticker->Tick();
  return policy.Decide(ctx);
}

}  // namespace simile
