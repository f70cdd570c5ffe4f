#include "core/performance_tracker.h"

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/core/fake_clock.h"

namespace simile {
namespace {

constexpr auto kCpu = BackendKind::kCpu;
constexpr auto kGpu = BackendKind::kGpu;
constexpr auto kOne = Operation::kOneQuery;
constexpr auto kMany = Operation::kManyQueries;

std::unique_ptr<PerformanceTracker> MakeTracker(const Clock* clock, int window = 128) {
  PerformanceTracker::Options options;
  options.window_size = window;
  auto tracker = PerformanceTracker::Create(options, clock);
  REQUIRE(tracker.ok());
  return *std::move(tracker);
}

TEST_CASE("Size classes are log2 buckets of Q*N*D, clamped at both ends", "[tracker]") {
  REQUIRE(WorkOf(2, 3, 4) == 24);
  REQUIRE(WorkOf(1ull << 40, 1ull << 30, 1) == std::numeric_limits<uint64_t>::max());  // Saturates.
  REQUIRE(WorkOf(0, 1ull << 63, 1ull << 63) == 0);

  REQUIRE(SizeClassOfWork(0) == 0);
  REQUIRE(SizeClassOfWork(1) == 0);
  REQUIRE(SizeClassOfWork((1ull << 15) - 1) == 0);
  REQUIRE(SizeClassOfWork(1ull << 15) == 1);
  REQUIRE(SizeClassOfWork((1ull << 16) - 1) == 1);
  REQUIRE(SizeClassOfWork(1ull << 16) == 2);
  REQUIRE(SizeClassOfWork((1ull << 37) - 1) == 22);
  REQUIRE(SizeClassOfWork(1ull << 37) == 23);
  REQUIRE(SizeClassOfWork(std::numeric_limits<uint64_t>::max()) == kNumSizeClasses - 1);
  REQUIRE(SizeClassOf(1, 1 << 20, 768) == SizeClassOfWork(768ull << 20));
  REQUIRE(SizeClassOf(1ull << 40, 1ull << 40, 1ull << 40) == kNumSizeClasses - 1);

  REQUIRE(SizeClassLowerBound(0) == 0);
  REQUIRE(SizeClassLowerBound(1) == 1ull << 15);
  for (int c = 1; c < kNumSizeClasses; ++c) {
    REQUIRE(SizeClassOfWork(SizeClassLowerBound(c)) == c);
    REQUIRE(SizeClassOfWork(SizeClassLowerBound(c) - 1) == c - 1);
  }
}

TEST_CASE("p50, p99 and mean on known data (nearest rank)", "[tracker]") {
  FakeClock clock;
  auto tracker = MakeTracker(&clock);
  // 1..100 ms in a scrambled order.
  std::vector<int> values(100);
  for (int i = 0; i < 100; ++i) values[i] = i + 1;
  std::shuffle(values.begin(), values.end(), std::mt19937(42));
  for (int v : values) tracker->Record(kGpu, kOne, 5, absl::Milliseconds(v), Outcome::kSuccess);

  const CellStats c = tracker->Snapshot().cell(kGpu, kOne, 5);
  REQUIRE(c.outcomes.count == 100);
  REQUIRE(c.outcomes.successes == 100);
  REQUIRE(c.p50 == absl::Milliseconds(50));
  REQUIRE(c.p99 == absl::Milliseconds(99));
  REQUIRE(c.mean == absl::Microseconds(50500));
  REQUIRE(c.outcomes.success_rate() == 1.0);

  // One sample: every percentile is that sample.
  tracker->Record(kCpu, kOne, 5, absl::Microseconds(7), Outcome::kSuccess);
  const CellStats one = tracker->Snapshot().cell(kCpu, kOne, 5);
  REQUIRE(one.p50 == absl::Microseconds(7));
  REQUIRE(one.p99 == absl::Microseconds(7));
  REQUIRE(one.mean == absl::Microseconds(7));
}

TEST_CASE("Failures count as calls but not as latency samples - OOM is counted apart", "[tracker]") {
  FakeClock clock;
  auto tracker = MakeTracker(&clock);
  tracker->Record(kGpu, kMany, 9, absl::Milliseconds(10), Outcome::kSuccess);
  tracker->Record(kGpu, kMany, 9, absl::Milliseconds(20), Outcome::kSuccess);
  tracker->Record(kGpu, kMany, 9, absl::Seconds(30),
                  Outcome::kFailure);  // A hang: not a cost figure.
  tracker->Record(kGpu, kMany, 9, absl::Milliseconds(1), Outcome::kOutOfMemory);

  const PerformanceSnapshot snap = tracker->Snapshot();
  const CellStats& c = snap.cell(kGpu, kMany, 9);
  REQUIRE(c.outcomes.count == 4);
  REQUIRE(c.outcomes.successes == 2);
  REQUIRE(c.outcomes.failures == 1);
  REQUIRE(c.outcomes.out_of_memory == 1);
  REQUIRE(c.outcomes.success_rate() == 0.5);
  REQUIRE(c.mean == absl::Milliseconds(15));
  REQUIRE(c.p99 == absl::Milliseconds(20));

  const OutcomeCounts& w = snap.operations[Index(kMany)].windows[Index(kGpu)];
  REQUIRE(w.count == 4);
  REQUIRE(w.successes == 2);
  REQUIRE(w.failures == 1);
  REQUIRE(w.out_of_memory == 1);

  const DispatchEstimate e = tracker->EstimateFor(kMany, 9);
  REQUIRE(e.gpu.samples == 2);
  REQUIRE(e.gpu.mean == absl::Milliseconds(15));
  REQUIRE(e.gpu_window.count == 4);
  REQUIRE(e.gpu_window.success_rate() == 0.5);
  REQUIRE(e.cpu.samples == 0);
  REQUIRE(e.cpu.mean == absl::ZeroDuration());
  REQUIRE(e.cpu.last_update == absl::InfinitePast());
}

TEST_CASE("Size classes and operations are kept apart - speedup compares the same class",
          "[tracker]") {
  FakeClock clock;
  auto tracker = MakeTracker(&clock);
  for (int i = 0; i < 10; ++i) {
    tracker->Record(kCpu, kOne, 3, absl::Milliseconds(8), Outcome::kSuccess);
    tracker->Record(kGpu, kOne, 3, absl::Milliseconds(2), Outcome::kSuccess);
    // A different class where the GPU is slow, and the other operation: must not leak into class 3.
    tracker->Record(kGpu, kOne, 4, absl::Milliseconds(100), Outcome::kSuccess);
    tracker->Record(kCpu, kMany, 3, absl::Milliseconds(500), Outcome::kSuccess);
  }
  const PerformanceSnapshot snap = tracker->Snapshot();
  REQUIRE(snap.operations[Index(kOne)].size_classes[3].speedup == Approx(4.0));
  REQUIRE(snap.operations[Index(kOne)].size_classes[4].speedup == 0.0);  // No CPU data there.
  REQUIRE(snap.operations[Index(kMany)].size_classes[3].speedup == 0.0);
  REQUIRE(snap.cell(kGpu, kOne, 3).mean == absl::Milliseconds(2));
  REQUIRE(snap.cell(kGpu, kOne, 4).mean == absl::Milliseconds(100));
  REQUIRE(snap.operations[Index(kOne)].windows[Index(kGpu)].count ==
          20);  // Window spans all classes.
  REQUIRE(snap.operations[Index(kMany)].windows[Index(kGpu)].count == 0);
  REQUIRE(snap.records == 40);

  const DispatchEstimate e = tracker->EstimateFor(kOne, 3);
  REQUIRE(e.cpu.mean == absl::Milliseconds(8));
  REQUIRE(e.gpu.mean == absl::Milliseconds(2));
  REQUIRE(e.cpu.samples == 10);
  REQUIRE(e.gpu.samples == 10);

  // Out-of-range classes are clamped, not out-of-bounds.
  tracker->Record(kCpu, kOne, 99, absl::Milliseconds(1), Outcome::kSuccess);
  tracker->Record(kCpu, kOne, -5, absl::Milliseconds(1), Outcome::kSuccess);
  REQUIRE(tracker->EstimateFor(kOne, kNumSizeClasses - 1).cpu.samples == 1);
  REQUIRE(tracker->EstimateFor(kOne, 1000).cpu.samples == 1);
  REQUIRE(tracker->EstimateFor(kOne, 0).cpu.samples == 1);
}

TEST_CASE("The window evicts the oldest calls, latencies and outcomes alike", "[tracker]") {
  FakeClock clock;
  auto tracker = MakeTracker(&clock, /*window=*/4);
  tracker->Record(kCpu, kOne, 0, absl::Milliseconds(100), Outcome::kFailure);
  for (int v : {1, 2, 3}) tracker->Record(kCpu, kOne, 0, absl::Milliseconds(v), Outcome::kSuccess);
  CellStats c = tracker->Snapshot().cell(kCpu, kOne, 0);
  REQUIRE(c.outcomes.count == 4);
  REQUIRE(c.outcomes.failures == 1);

  tracker->Record(kCpu, kOne, 0, absl::Milliseconds(4), Outcome::kSuccess);  // Evicts the failure.
  c = tracker->Snapshot().cell(kCpu, kOne, 0);
  REQUIRE(c.outcomes.count == 4);
  REQUIRE(c.outcomes.failures == 0);
  REQUIRE(c.mean == absl::Microseconds(2500));

  tracker->Record(kCpu, kOne, 0, absl::Milliseconds(50), Outcome::kSuccess);  // Evicts 1 ms.
  c = tracker->Snapshot().cell(kCpu, kOne, 0);
  REQUIRE(c.mean == absl::Microseconds(14750));  // (2 + 3 + 4 + 50) / 4
  REQUIRE(c.p50 == absl::Milliseconds(3));
  REQUIRE(c.p99 == absl::Milliseconds(50));

  for (int i = 0; i < 4; ++i)
    tracker->Record(kCpu, kOne, 0, absl::Milliseconds(9), Outcome::kOutOfMemory);
  c = tracker->Snapshot().cell(kCpu, kOne, 0);
  REQUIRE(c.outcomes.count == 4);
  REQUIRE(c.outcomes.out_of_memory == 4);
  REQUIRE(c.outcomes.successes == 0);
  REQUIRE(c.mean == absl::ZeroDuration());
  REQUIRE(c.p50 == absl::ZeroDuration());
  REQUIRE(tracker->Snapshot().operations[Index(kOne)].windows[Index(kCpu)].out_of_memory == 4);

  // Duplicate latencies evict one at a time.
  for (int i = 0; i < 4; ++i)
    tracker->Record(kGpu, kOne, 1, absl::Milliseconds(5), Outcome::kSuccess);
  tracker->Record(kGpu, kOne, 1, absl::Milliseconds(9), Outcome::kSuccess);
  c = tracker->Snapshot().cell(kGpu, kOne, 1);
  REQUIRE(c.outcomes.successes == 4);
  REQUIRE(c.mean == absl::Microseconds(6000));
}

TEST_CASE("Each cell records its last update time from the clock", "[tracker]") {
  FakeClock clock;
  auto tracker = MakeTracker(&clock);
  REQUIRE(tracker->Snapshot().cell(kGpu, kOne, 2).last_update == absl::InfinitePast());
  const absl::Time t1 = clock.Now();
  tracker->Record(kGpu, kOne, 2, absl::Milliseconds(1), Outcome::kSuccess);
  clock.Advance(absl::Minutes(3));
  tracker->Record(kCpu, kOne, 2, absl::Milliseconds(1), Outcome::kSuccess);
  const DispatchEstimate e = tracker->EstimateFor(kOne, 2);
  REQUIRE(e.gpu.last_update == t1);
  REQUIRE(e.cpu.last_update == t1 + absl::Minutes(3));
  REQUIRE(tracker->Snapshot().taken_at == clock.Now());
}

TEST_CASE("Latencies are clamped to [0, kMaxLatency]", "[tracker]") {
  FakeClock clock;
  auto tracker = MakeTracker(&clock);
  tracker->Record(kCpu, kOne, 0, -absl::Seconds(1), Outcome::kSuccess);
  tracker->Record(kCpu, kOne, 1, absl::InfiniteDuration(), Outcome::kSuccess);
  REQUIRE(tracker->EstimateFor(kOne, 0).cpu.mean == absl::ZeroDuration());
  REQUIRE(tracker->EstimateFor(kOne, 1).cpu.mean == PerformanceTracker::kMaxLatency);
}

TEST_CASE("No allocation after construction: reserved storage never changes", "[tracker]") {
  FakeClock clock;
  auto tracker = MakeTracker(&clock, 16);
  const size_t reserved = tracker->ReservedBytes();
  // Every cell, well past the window, every outcome.
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) {
    const auto backend = static_cast<BackendKind>(rng() % 2);
    const auto operation = static_cast<Operation>(rng() % 2);
    const auto outcome = static_cast<Outcome>(rng() % 3);
    tracker->Record(backend, operation, static_cast<int>(rng() % kNumSizeClasses),
                    absl::Microseconds(rng() % 1000), outcome);
    if (i % 1000 == 0) {
      (void)tracker->Snapshot();
      (void)tracker->EstimateFor(operation, 3);
    }
  }
  REQUIRE(tracker->ReservedBytes() == reserved);
  REQUIRE(tracker->Snapshot().records == 20000);
}

TEST_CASE("PerformanceTracker::Options::Validate names the bad field", "[tracker]") {
  FakeClock clock;
  PerformanceTracker::Options o;
  REQUIRE(o.Validate().ok());
  for (int bad : {0, -1, PerformanceTracker::kMaxWindowSize + 1}) {
    o.window_size = bad;
    const absl::Status s = o.Validate();
    REQUIRE(s.code() == absl::StatusCode::kInvalidArgument);
    REQUIRE(s.message().find("window_size") != absl::string_view::npos);
    REQUIRE_FALSE(PerformanceTracker::Create(o, &clock).ok());
  }
  REQUIRE_FALSE(PerformanceTracker::Create(PerformanceTracker::Options(), nullptr).ok());
}

// Writers record random calls while readers check, in every snapshot and estimate, invariants that
// hold only if everything read comes from one instant. The window is larger than the number of
// records, so nothing is evicted and the window counts must equal the sum of their cells' counts.
TEST_CASE("Snapshots and estimates are consistent under concurrent writers",
          "[tracker][concurrency]") {
  FakeClock clock;
  auto tracker = MakeTracker(&clock, 4096);
  constexpr int kWriters = 4;
  constexpr int kRecordsPerWriter = 3000;  // ~3000 per (backend, operation): below the window.
  const absl::Duration kMin = absl::Milliseconds(1);
  const absl::Duration kMax = absl::Milliseconds(9);

  std::atomic<bool> done{false};
  std::atomic<int> readers_ready{
      0};  // Writers start only once both readers run, so the two overlap.
  std::atomic<int> violations{0};
  std::atomic<int> snapshots{0};
  std::atomic<int> estimates{0};
  std::string first_violation;  // Written once, by the thread that bumps violations from 0.
  auto violate = [&](const std::string& what) {
    if (violations.fetch_add(1) == 0) first_violation = what;
  };

  auto check_cell = [&](const CellStats& c, const std::string& where) {
    const OutcomeCounts& o = c.outcomes;
    if (o.count != o.successes + o.failures + o.out_of_memory)
      violate(where + ": count != sum of outcomes");
    if ((o.successes == 0) != (c.mean == absl::ZeroDuration()))
      violate(where + ": success without latency");
    if (o.successes > 0) {
      if (c.mean < kMin || c.mean > kMax) violate(where + ": mean outside recorded range");
      if (c.p50 < kMin || c.p99 > kMax || c.p50 > c.p99)
        violate(where + ": percentiles out of order");
    }
  };

  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937 rng(w);
      while (readers_ready.load() < 2) std::this_thread::yield();
      for (int i = 0; i < kRecordsPerWriter; ++i) {
        if (i % 64 == 0) std::this_thread::yield();  // Let the readers in, even on one core.
        const auto backend = static_cast<BackendKind>(rng() % 2);
        const auto operation = static_cast<Operation>(rng() % 2);
        // The GPU's one-query calls all land in class 5, so its cell equals its window there.
        const int size_class =
            backend == kGpu && operation == kOne ? 5 : static_cast<int>(rng() % 8);
        const absl::Duration latency = kMin + absl::Microseconds(rng() % 8001);
        tracker->Record(backend, operation, size_class, latency, static_cast<Outcome>(rng() % 3));
      }
    });
  }
  threads.emplace_back([&] {  // Full snapshots.
    readers_ready.fetch_add(1);
    do {
      const PerformanceSnapshot snap = tracker->Snapshot();
      int64_t total = 0;
      for (size_t o = 0; o < kNumOperations; ++o) {
        for (size_t b = 0; b < kNumBackendKinds; ++b) {
          OutcomeCounts sum;
          for (int sc = 0; sc < kNumSizeClasses; ++sc) {
            const CellStats& c = snap.operations[o].size_classes[sc].backends[b];
            check_cell(c, "snapshot cell");
            sum.count += c.outcomes.count;
            sum.successes += c.outcomes.successes;
            sum.failures += c.outcomes.failures;
          }
          const OutcomeCounts& w = snap.operations[o].windows[b];
          if (w.count != sum.count || w.successes != sum.successes || w.failures != sum.failures) {
            violate("window != sum of its cells");
          }
          total += w.count;
        }
      }
      if (static_cast<uint64_t>(total) != snap.records) violate("records != sum of windows");
      snapshots.fetch_add(1);
    } while (!done.load());
  });
  threads.emplace_back([&] {  // Estimates, as the dispatcher reads them.
    readers_ready.fetch_add(1);
    do {
      const DispatchEstimate e = tracker->EstimateFor(kOne, 5);
      if (e.gpu.samples != e.gpu_window.successes)
        violate("estimate: gpu cell and window torn apart");
      const OutcomeCounts& w = e.gpu_window;
      if (w.count != w.successes + w.failures + w.out_of_memory) violate("estimate: window count");
      for (const BackendEstimate* b : {&e.cpu, &e.gpu}) {
        if ((b->samples == 0) != (b->mean == absl::ZeroDuration()))
          violate("estimate: sample without mean");
        if (b->samples > 0 && (b->mean < kMin || b->mean > kMax))
          violate("estimate: mean out of range");
      }
      estimates.fetch_add(1);
    } while (!done.load());
  });

  for (int w = 0; w < kWriters; ++w) threads[w].join();
  done.store(true);
  for (size_t t = kWriters; t < threads.size(); ++t) threads[t].join();

  INFO(first_violation);
  REQUIRE(violations.load() == 0);
  REQUIRE(snapshots.load() > 0);
  REQUIRE(estimates.load() > 0);
  REQUIRE(tracker->Snapshot().records == kWriters * kRecordsPerWriter);
}

}  // namespace
}  // namespace simile
