#include "core/dispatch_policy.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <limits>
#include <memory>
#include <thread>
#include <vector>

namespace simile {
namespace {

const absl::Time kNow = absl::UnixEpoch() + absl::Hours(1000);

// A request that no constraint rule touches, whose estimates favour neither side yet: decides
// gpu_faster.
DispatchContext BaseContext() {
  DispatchContext ctx;
  ctx.placement = Placement::kAuto;
  ctx.gpu_available = true;
  ctx.breaker_allows = true;
  ctx.q = 1;
  ctx.n = 100'000;
  ctx.d = 768;
  ctx.operation = Operation::kOneQuery;
  ctx.size_class = SizeClassOf(ctx.q, ctx.n, ctx.d);
  ctx.usable_vram_bytes = 1ull << 30;
  ctx.min_chunk_vram_bytes = 1ull << 20;
  ctx.now = kNow;
  return ctx;
}

BackendEstimate Estimate(int64_t samples, absl::Duration mean, absl::Time last_update = kNow) {
  BackendEstimate e;
  e.samples = samples;
  e.mean = mean;
  e.last_update = last_update;
  return e;
}

std::unique_ptr<TableDispatchPolicy> MakePolicy(const PolicyOptions& options = PolicyOptions()) {
  auto policy = TableDispatchPolicy::Create(options);
  REQUIRE(policy.ok());
  return *std::move(policy);
}

void RequireDecision(const Decision& d, BackendKind backend, DispatchRule rule) {
  INFO("rule " << Name(d.rule) << " backend " << Name(d.backend));
  REQUIRE(d.rule == rule);
  REQUIRE(d.backend == backend);
}

TEST_CASE("Every rule fires on its own condition", "[dispatch]") {
  const auto policy = MakePolicy();
  const PolicyOptions& o = policy->options();

  RequireDecision(policy->Decide(BaseContext()), BackendKind::kGpu, DispatchRule::kGpuFaster);

  DispatchContext ctx = BaseContext();
  ctx.placement = Placement::kCpu;
  RequireDecision(policy->Decide(ctx), BackendKind::kCpu, DispatchRule::kPlacementCpu);

  ctx = BaseContext();
  ctx.placement = Placement::kGpu;
  RequireDecision(policy->Decide(ctx), BackendKind::kGpu, DispatchRule::kPlacementGpu);

  ctx = BaseContext();
  ctx.gpu_available = false;
  RequireDecision(policy->Decide(ctx), BackendKind::kCpu, DispatchRule::kGpuUnavailable);

  ctx = BaseContext();
  ctx.breaker_allows = false;
  RequireDecision(policy->Decide(ctx), BackendKind::kCpu, DispatchRule::kCircuitOpen);

  ctx = BaseContext();
  ctx.n = o.min_gpu_batch_one_query - 1;
  RequireDecision(policy->Decide(ctx), BackendKind::kCpu, DispatchRule::kBatchTooSmall);

  ctx = BaseContext();
  ctx.usable_vram_bytes = ctx.min_chunk_vram_bytes - 1;
  RequireDecision(policy->Decide(ctx), BackendKind::kCpu, DispatchRule::kInsufficientVram);

  ctx = BaseContext();
  ctx.estimate.gpu_window.count = 100;
  ctx.estimate.gpu_window.successes = 50;
  ctx.estimate.gpu_window.failures = 50;
  RequireDecision(policy->Decide(ctx), BackendKind::kCpu, DispatchRule::kLowGpuSuccessRate);

  ctx = BaseContext();
  ctx.explore = true;
  RequireDecision(policy->Decide(ctx), BackendKind::kCpu, DispatchRule::kExplore);

  ctx = BaseContext();
  ctx.estimate.cpu = Estimate(o.min_samples, absl::Milliseconds(10));
  ctx.estimate.gpu = Estimate(o.min_samples, absl::Milliseconds(10));
  RequireDecision(policy->Decide(ctx), BackendKind::kCpu, DispatchRule::kGpuSlowerForThisSize);

  ctx.estimate.gpu = Estimate(o.min_samples, absl::Milliseconds(5));
  RequireDecision(policy->Decide(ctx), BackendKind::kGpu, DispatchRule::kGpuFaster);
}

TEST_CASE("Rules apply in the documented order: the first match wins", "[dispatch]") {
  const auto policy = MakePolicy();
  // Every condition true at once; then remove them one by one, from the top of the table.
  DispatchContext ctx = BaseContext();
  ctx.placement = Placement::kCpu;
  ctx.gpu_available = false;
  ctx.breaker_allows = false;
  ctx.n = 1;
  ctx.usable_vram_bytes = 0;
  ctx.estimate.gpu_window.count = 100;  // 0% success.
  ctx.explore = true;
  ctx.estimate.cpu = Estimate(100, absl::Milliseconds(1));
  ctx.estimate.gpu = Estimate(100, absl::Milliseconds(10));

  RequireDecision(policy->Decide(ctx), BackendKind::kCpu, DispatchRule::kPlacementCpu);
  ctx.placement = Placement::kGpu;  // Even with no GPU and the breaker open: the executor fails it.
  RequireDecision(policy->Decide(ctx), BackendKind::kGpu, DispatchRule::kPlacementGpu);
  ctx.placement = Placement::kAuto;
  RequireDecision(policy->Decide(ctx), BackendKind::kCpu, DispatchRule::kGpuUnavailable);
  ctx.gpu_available = true;
  RequireDecision(policy->Decide(ctx), BackendKind::kCpu, DispatchRule::kCircuitOpen);
  ctx.breaker_allows = true;
  RequireDecision(policy->Decide(ctx), BackendKind::kCpu, DispatchRule::kBatchTooSmall);
  ctx.n = 1'000'000;
  RequireDecision(policy->Decide(ctx), BackendKind::kCpu, DispatchRule::kInsufficientVram);
  ctx.usable_vram_bytes = 1ull << 40;
  // The evidence (success rate and estimates) favours the CPU, so exploration goes to the GPU.
  RequireDecision(policy->Decide(ctx), BackendKind::kGpu, DispatchRule::kExplore);
  ctx.explore = false;
  RequireDecision(policy->Decide(ctx), BackendKind::kCpu, DispatchRule::kLowGpuSuccessRate);
  ctx.estimate.gpu_window.successes = 100;
  RequireDecision(policy->Decide(ctx), BackendKind::kCpu, DispatchRule::kGpuSlowerForThisSize);
  ctx.estimate.gpu.mean = absl::Microseconds(100);
  RequireDecision(policy->Decide(ctx), BackendKind::kGpu, DispatchRule::kGpuFaster);
}

TEST_CASE("The rule table matches the documented order", "[dispatch]") {
  const DispatchRule expected[] = {
      DispatchRule::kPlacementCpu,      DispatchRule::kPlacementGpu,
      DispatchRule::kGpuUnavailable,    DispatchRule::kCircuitOpen,
      DispatchRule::kBatchTooSmall,     DispatchRule::kInsufficientVram,
      DispatchRule::kExplore,           DispatchRule::kExplore,
      DispatchRule::kLowGpuSuccessRate, DispatchRule::kGpuSlowerForThisSize,
      DispatchRule::kGpuFaster};
  const auto rules = TableDispatchPolicy::Rules();
  REQUIRE(rules.size() == std::size(expected));
  for (size_t i = 0; i < rules.size(); ++i) REQUIRE(rules[i].rule == expected[i]);
  REQUIRE(rules.back().applies(DispatchContext(), PolicyOptions()));  // The default always applies.
}

TEST_CASE("batch_too_small boundaries are per operation", "[dispatch]") {
  PolicyOptions o;
  o.min_gpu_batch_one_query = 1000;
  o.min_gpu_batch_many_queries = 10;
  const auto policy = MakePolicy(o);
  DispatchContext ctx = BaseContext();
  ctx.n = 999;
  REQUIRE(policy->Decide(ctx).rule == DispatchRule::kBatchTooSmall);
  ctx.n = 1000;
  REQUIRE(policy->Decide(ctx).rule == DispatchRule::kGpuFaster);
  ctx.operation = Operation::kManyQueries;
  ctx.q = 8;
  ctx.n = 9;
  REQUIRE(policy->Decide(ctx).rule == DispatchRule::kBatchTooSmall);
  ctx.n = 10;
  REQUIRE(policy->Decide(ctx).rule == DispatchRule::kGpuFaster);
}

TEST_CASE("insufficient_vram boundary: exactly enough is enough", "[dispatch]") {
  const auto policy = MakePolicy();
  DispatchContext ctx = BaseContext();
  ctx.usable_vram_bytes = ctx.min_chunk_vram_bytes;
  REQUIRE(policy->Decide(ctx).rule == DispatchRule::kGpuFaster);
  ctx.usable_vram_bytes = ctx.min_chunk_vram_bytes - 1;
  REQUIRE(policy->Decide(ctx).rule == DispatchRule::kInsufficientVram);
  ctx.usable_vram_bytes = 0;
  ctx.min_chunk_vram_bytes = 0;
  REQUIRE(policy->Decide(ctx).rule == DispatchRule::kGpuFaster);
}

TEST_CASE("low_gpu_success_rate needs enough samples and fires strictly below the threshold",
          "[dispatch]") {
  PolicyOptions o;
  o.min_success_rate = 0.9;
  o.min_success_samples = 20;
  const auto policy = MakePolicy(o);
  DispatchContext ctx = BaseContext();
  OutcomeCounts& w = ctx.estimate.gpu_window;

  w.count = 19;  // All failed, but too few calls to judge.
  w.failures = 19;
  REQUIRE(policy->Decide(ctx).rule == DispatchRule::kGpuFaster);

  w.count = 20;
  w.failures = 2;
  w.successes = 18;  // Exactly 90%.
  REQUIRE(policy->Decide(ctx).rule == DispatchRule::kGpuFaster);

  w.failures = 2;
  w.out_of_memory = 1;
  w.successes = 17;  // 85%: out-of-memory counts against the rate.
  REQUIRE(policy->Decide(ctx).rule == DispatchRule::kLowGpuSuccessRate);
}

TEST_CASE("gpu_slower_for_this_size: exact inequality, sample floor and staleness", "[dispatch]") {
  PolicyOptions o;
  o.required_speedup = 1.5;
  o.min_samples = 10;
  o.max_estimate_age = absl::Minutes(10);
  const auto policy = MakePolicy(o);
  DispatchContext ctx = BaseContext();

  // cpu / gpu == 1.5 exactly: the GPU qualifies.
  ctx.estimate.cpu = Estimate(10, absl::Microseconds(1500));
  ctx.estimate.gpu = Estimate(10, absl::Microseconds(1000));
  REQUIRE(policy->Decide(ctx).rule == DispatchRule::kGpuFaster);
  REQUIRE_FALSE(TableDispatchPolicy::EstimatesFavourCpu(ctx, o));

  // Just below 1.5: the CPU.
  ctx.estimate.cpu.mean = absl::Microseconds(1499);
  REQUIRE(policy->Decide(ctx).rule == DispatchRule::kGpuSlowerForThisSize);

  // One backend one sample short: no comparison, the GPU (not yet measured enough).
  ctx.estimate.cpu.samples = 9;
  REQUIRE(policy->Decide(ctx).rule == DispatchRule::kGpuFaster);
  ctx.estimate.cpu.samples = 10;
  ctx.estimate.gpu.samples = 9;
  REQUIRE(policy->Decide(ctx).rule == DispatchRule::kGpuFaster);
  ctx.estimate.gpu.samples = 0;
  ctx.estimate.gpu.mean = absl::ZeroDuration();
  REQUIRE(policy->Decide(ctx).rule == DispatchRule::kGpuFaster);

  // Staleness: exactly max age old is still fresh; older is ignored.
  ctx.estimate.gpu = Estimate(10, absl::Microseconds(1000));
  ctx.estimate.cpu = Estimate(10, absl::Microseconds(1000), kNow - absl::Minutes(10));
  REQUIRE(policy->Decide(ctx).rule == DispatchRule::kGpuSlowerForThisSize);
  ctx.estimate.cpu.last_update = kNow - absl::Minutes(10) - absl::Nanoseconds(1);
  REQUIRE(policy->Decide(ctx).rule == DispatchRule::kGpuFaster);
  ctx.now = absl::InfinitePast();  // Staleness check disabled.
  REQUIRE(policy->Decide(ctx).rule == DispatchRule::kGpuSlowerForThisSize);
}

TEST_CASE("explore goes to the backend the estimates do not favour", "[dispatch]") {
  const auto policy = MakePolicy();
  const int64_t n = policy->options().min_samples;
  DispatchContext ctx = BaseContext();
  ctx.explore = true;

  // No data: the estimates default to the GPU, so exploring measures the CPU.
  RequireDecision(policy->Decide(ctx), BackendKind::kCpu, DispatchRule::kExplore);

  ctx.estimate.cpu = Estimate(n, absl::Milliseconds(10));
  ctx.estimate.gpu = Estimate(n, absl::Milliseconds(1));
  RequireDecision(policy->Decide(ctx), BackendKind::kCpu, DispatchRule::kExplore);

  ctx.estimate.gpu = Estimate(n, absl::Milliseconds(20));
  RequireDecision(policy->Decide(ctx), BackendKind::kGpu, DispatchRule::kExplore);
}

TEST_CASE("Only requests no constraint rule decides are eligible for exploration", "[dispatch]") {
  const auto policy = MakePolicy();
  REQUIRE(policy->ExplorationEligible(BaseContext()));

  DispatchContext favour_cpu = BaseContext();
  favour_cpu.estimate.cpu = Estimate(100, absl::Milliseconds(1));
  favour_cpu.estimate.gpu = Estimate(100, absl::Milliseconds(10));
  REQUIRE(policy->ExplorationEligible(favour_cpu));  // The comparison is not a constraint...

  DispatchContext low_rate = BaseContext();
  low_rate.estimate.gpu_window.count = 1000;  // 0% success.
  REQUIRE(policy->ExplorationEligible(
      low_rate));  // ...and neither is the success rate (see the header).
  low_rate.explore = true;
  RequireDecision(policy->Decide(low_rate), BackendKind::kGpu, DispatchRule::kExplore);

  std::vector<DispatchContext> ineligible(6, BaseContext());
  ineligible[0].placement = Placement::kCpu;
  ineligible[1].placement = Placement::kGpu;
  ineligible[2].gpu_available = false;
  ineligible[3].breaker_allows = false;
  ineligible[4].n = 1;
  ineligible[5].usable_vram_bytes = 0;
  for (DispatchContext& ctx : ineligible) {
    REQUIRE_FALSE(policy->ExplorationEligible(ctx));
    ctx.explore = true;  // Even when asked to explore, the constraint decides.
    REQUIRE(policy->Decide(ctx).rule != DispatchRule::kExplore);
  }
}

TEST_CASE("ExplorationTicker explores exactly every round(1/fraction)-th tick", "[dispatch]") {
  ExplorationTicker ticker(0.02);
  REQUIRE(ticker.period() == 50);
  int explored = 0;
  for (int i = 1; i <= 1000; ++i) {
    const bool tick = ticker.Tick();
    REQUIRE(tick == (i % 50 == 0));
    explored += tick ? 1 : 0;
  }
  REQUIRE(explored == 20);

  REQUIRE(ExplorationTicker(0.3).period() == 3);  // round(3.33)
  REQUIRE(ExplorationTicker(1.0).period() == 1);
  REQUIRE(ExplorationTicker(7.0).period() == 1);    // Clamped to 1.
  REQUIRE(ExplorationTicker(1e-300).period() > 0);  // No overflow.

  ExplorationTicker never(0.0);
  ExplorationTicker always(1.0);
  for (int i = 0; i < 100; ++i) {
    REQUIRE_FALSE(never.Tick());
    REQUIRE(always.Tick());
  }
}

TEST_CASE("ExplorationTicker gives an exact count across threads", "[dispatch][concurrency]") {
  ExplorationTicker ticker(0.1);
  std::atomic<int> explored{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        if (ticker.Tick()) explored.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  REQUIRE(explored.load() == 800);
}

TEST_CASE("DecideWithExploration ticks only eligible requests", "[dispatch]") {
  const auto policy = MakePolicy();
  ExplorationTicker ticker(0.5);  // Every 2nd eligible request.
  DispatchContext small = BaseContext();
  small.n = 1;  // batch_too_small: never eligible.
  int explored = 0;
  for (int i = 0; i < 100; ++i) {
    // Interleaving ineligible requests must not steal the exploring ticks.
    REQUIRE(DecideWithExploration(*policy, small, &ticker).rule == DispatchRule::kBatchTooSmall);
    explored +=
        DecideWithExploration(*policy, BaseContext(), &ticker).rule == DispatchRule::kExplore ? 1
                                                                                              : 0;
  }
  REQUIRE(explored == 50);
  REQUIRE(DecideWithExploration(*policy, BaseContext(), nullptr).rule == DispatchRule::kGpuFaster);
}

// The liveness property behind explore's place in the table: a GPU avoided for its success rate
// gets fresh calls through exploration, and is trusted again once they succeed.
TEST_CASE("A GPU avoided for a low success rate recovers through exploration",
          "[dispatch][tracker]") {
  PolicyOptions o;
  o.min_success_rate = 0.9;
  o.min_success_samples = 20;
  o.explore_fraction = 0.1;
  const auto policy = MakePolicy(o);
  ExplorationTicker ticker(o.explore_fraction);
  auto tracker = *PerformanceTracker::Create(PerformanceTracker::Options{/*window_size=*/40},
                                             SteadyClock::Default());

  DispatchContext ctx = BaseContext();
  ctx.now = absl::InfinitePast();  // No staleness in this test.
  // A bad spell: 40 calls, half failed.
  for (int i = 0; i < 40; ++i) {
    tracker->Record(BackendKind::kGpu, ctx.operation, ctx.size_class, absl::Milliseconds(1),
                    i % 2 == 0 ? Outcome::kSuccess : Outcome::kFailure);
  }
  ctx.estimate = tracker->EstimateFor(ctx.operation, ctx.size_class);
  REQUIRE(policy->Decide(ctx).rule == DispatchRule::kLowGpuSuccessRate);

  // The GPU has recovered: every call it gets now succeeds.
  int requests = 0;
  int explored_to_gpu = 0;
  while (requests < 10000) {
    ++requests;
    ctx.estimate = tracker->EstimateFor(ctx.operation, ctx.size_class);
    const Decision d = DecideWithExploration(*policy, ctx, &ticker);
    if (d.rule == DispatchRule::kGpuFaster) break;  // Trusted again.
    if (d.backend == BackendKind::kGpu) {
      REQUIRE(d.rule == DispatchRule::kExplore);
      ++explored_to_gpu;
      tracker->Record(BackendKind::kGpu, ctx.operation, ctx.size_class, absl::Milliseconds(1),
                      Outcome::kSuccess);
    } else {
      REQUIRE(d.rule == DispatchRule::kLowGpuSuccessRate);
    }
  }
  // 36 of the last 40 must succeed (90%): 32 new successes evict the oldest 32 calls, 16 of them
  // failures; one eligible request in 10 explores.
  REQUIRE(explored_to_gpu == 32);
  REQUIRE(requests == 32 * 10 + 1);
}

TEST_CASE("PolicyOptions::Validate names the bad field", "[dispatch]") {
  REQUIRE(PolicyOptions().Validate().ok());
  auto check = [](PolicyOptions o, const char* field) {
    const absl::Status s = o.Validate();
    INFO(s.ToString());
    REQUIRE(s.code() == absl::StatusCode::kInvalidArgument);
    REQUIRE(s.message().find(field) != absl::string_view::npos);
    REQUIRE_FALSE(TableDispatchPolicy::Create(o).ok());
  };
  PolicyOptions o;
  o.required_speedup = 0;
  check(o, "required_speedup");
  o = PolicyOptions();
  o.required_speedup = std::numeric_limits<double>::quiet_NaN();
  check(o, "required_speedup");
  o = PolicyOptions();
  o.min_samples = 0;
  check(o, "min_samples");
  o = PolicyOptions();
  o.min_success_rate = 1.5;
  check(o, "min_success_rate");
  o = PolicyOptions();
  o.min_success_samples = 0;
  check(o, "min_success_samples");
  o = PolicyOptions();
  o.explore_fraction = -0.1;
  check(o, "explore_fraction");
  o = PolicyOptions();
  o.max_estimate_age = absl::ZeroDuration();
  check(o, "max_estimate_age");
}

}  // namespace
}  // namespace simile
