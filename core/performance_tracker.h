// PerformanceTracker: what each backend has recently cost, per operation and per size class of
// work, for the dispatch decision (read on every request) and for metrics and the status RPC (read
// rarely).
//
// Cost model. A request's work is Q * N * D multiply-adds; its size class is floor(log2(work))
// clamped into kNumSizeClasses buckets (SizeClassOf). Each cell (backend x operation x size class)
// keeps a ring buffer of the last `window_size` calls: latency and outcome. The dispatcher compares
// the CPU's and the GPU's mean latency in the SAME cell (like with like); a global average would
// compare a CPU that ran small batches with a GPU that ran big ones. Each (backend, operation) also
// keeps the outcomes of its last `window_size` calls of any size, for its success rate.
//
// Latency statistics (mean, p50, p99) cover successful calls only: how long a failed call took says
// nothing about what the work costs. Counts and success rates cover every call; an out-of-memory
// outcome counts as a call that did not succeed (a GPU that keeps running out of memory is a GPU to
// avoid), and is also counted on its own.
//
// Read design (a seqlock over atomic words). Writers serialize on `mu_`; a Record updates the
// cell's ring buffer and a sorted copy of its successful latencies (so p50/p99 are two array reads,
// no sort), then publishes the cell's and the window's aggregates (about a dozen 64-bit words)
// between two increments of one sequence counter. A reader loads the counter, loads the words it
// wants, loads the counter again, and retries if it changed or was odd: what it returns was, all of
// it, true at one instant, across every cell it read (one counter for the whole tracker, so a CPU
// figure and a GPU figure always come from the same instant). Readers never write shared memory, so
// any number of them read without contending with one another; after a few failed attempts (a
// writer descheduled mid-publish) a reader takes `mu_` instead of spinning. Every published word is
// a std::atomic (stores `release`, loads `acquire`; see performance_tracker.cc), so the protocol is
// race-free in the C++ memory model and ThreadSanitizer understands it without fences. Snapshot()
// (metrics, status) reads every cell; it takes `mu_` only for that copy (a few kilobytes), and
// derives means and speedups after releasing it.
//
// Memory. Everything (ring buffers, sorted copies, published words) is allocated in Create();
// Record, EstimateFor and Snapshot never allocate. ReservedBytes() reports the fixed footprint.
//
// Staleness. Every cell records when it was last updated (from the injected Clock) so the policy
// can ignore estimates too old to trust.
//
// Thread safety: every method may be called concurrently from any thread.
#ifndef SIMILE_CORE_PERFORMANCE_TRACKER_H_
#define SIMILE_CORE_PERFORMANCE_TRACKER_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/backend_kind.h"
#include "core/clock.h"
#include "core/mutex.h"

namespace simile {

// Size classes: class 0 holds work below 2^(kSizeClassMinLog2 + 1) multiply-adds, class k holds
// [2^(kSizeClassMinLog2 + k), 2^(kSizeClassMinLog2 + k + 1)), and the last class everything from
// 2^(kSizeClassMinLog2 + kNumSizeClasses - 1) up. With 14 and 24: 32 Ki MACs (1 x 32 x 1024) and
// below share class 0, where the GPU never wins; 2^37 MACs (1000 queries x 1 Mi targets x 128) and
// above share class 23.
inline constexpr int kNumSizeClasses = 24;
inline constexpr int kSizeClassMinLog2 = 14;

// q * n * d, saturating at UINT64_MAX instead of overflowing.
[[nodiscard]] uint64_t WorkOf(uint64_t q, uint64_t n, uint64_t d);
// The size class of `work` multiply-adds, in [0, kNumSizeClasses).
[[nodiscard]] int SizeClassOfWork(uint64_t work);
// The size class of a request with q queries, n targets of dimension d.
[[nodiscard]] int SizeClassOf(uint64_t q, uint64_t n, uint64_t d);
// The smallest work in `size_class` (0 for class 0); for labels and documentation.
[[nodiscard]] uint64_t SizeClassLowerBound(int size_class);

enum class Outcome : uint8_t { kSuccess, kFailure, kOutOfMemory };

// Outcome counts over a window of calls.
struct OutcomeCounts {
  int64_t count = 0;  // Calls in the window: successes + failures + out_of_memory.
  int64_t successes = 0;
  int64_t failures = 0;
  int64_t out_of_memory = 0;

  // successes / count; 1.0 when count == 0 (no evidence against the backend: check `count`).
  [[nodiscard]] double success_rate() const {
    return count == 0 ? 1.0 : static_cast<double>(successes) / static_cast<double>(count);
  }
};

// One cell (backend x operation x size class) over its window.
struct CellStats {
  OutcomeCounts outcomes;
  // Over the window's successful calls; zero when there are none. p50/p99 are nearest-rank
  // percentiles.
  absl::Duration mean = absl::ZeroDuration();
  absl::Duration p50 = absl::ZeroDuration();
  absl::Duration p99 = absl::ZeroDuration();
  absl::Time last_update = absl::InfinitePast();  // InfinitePast: never recorded.
};

struct SizeClassSnapshot {
  std::array<CellStats, kNumBackendKinds> backends;  // Indexed by Index(BackendKind).
  // cpu mean / gpu mean in this size class: > 1 means the GPU is faster. 0 when either has no
  // successful call.
  double speedup = 0.0;
};

struct OperationSnapshot {
  std::array<OutcomeCounts, kNumBackendKinds>
      windows;  // Last window_size calls of any size, per backend.
  std::array<SizeClassSnapshot, kNumSizeClasses> size_classes;
};

// Everything the tracker knows, all of it from one instant. A plain value: copy it, keep it, no
// allocation.
struct PerformanceSnapshot {
  absl::Time taken_at = absl::InfinitePast();
  uint64_t records = 0;  // Record() calls since construction.
  std::array<OperationSnapshot, kNumOperations> operations;

  // `size_class` must be in [0, kNumSizeClasses). On a temporary snapshot, returns a copy (never a
  // dangling reference).
  [[nodiscard]] const CellStats& cell(BackendKind backend, Operation operation,
                                      int size_class) const& {
    return operations[Index(operation)].size_classes[size_class].backends[Index(backend)];
  }
  [[nodiscard]] CellStats cell(BackendKind backend, Operation operation, int size_class) && {
    return operations[Index(operation)].size_classes[size_class].backends[Index(backend)];
  }
};

// What the dispatch decision needs, for one operation and size class, from one instant.
struct BackendEstimate {
  int64_t samples = 0;  // Successful calls in the cell's window (the sample size behind `mean`).
  absl::Duration mean = absl::ZeroDuration();
  absl::Time last_update = absl::InfinitePast();
};
struct DispatchEstimate {
  BackendEstimate cpu;
  BackendEstimate gpu;
  OutcomeCounts gpu_window;  // The GPU's last window_size calls of this operation, any size.
};

class PerformanceTracker {
 public:
  // Window length. 128 calls: the mean's relative standard error is CV / sqrt(128) ~ 0.09 CV, so
  // with the latency noise seen on a quiet host (CV ~ 0.2-0.5) a 1.2x speedup threshold is resolved
  // with margin; p99 over 128 samples is the second-largest sample (coarse; fine for a dashboard).
  // After a change of regime, half the window is new after 64 calls of that cell. A calibration run
  // on the target hardware should confirm it.
  static constexpr int kDefaultWindowSize = 128;
  static constexpr int kMaxWindowSize = 65536;
  // Recorded latencies are clamped to [0, kMaxLatency] (keeps the window's sum far from int64
  // overflow).
  static constexpr absl::Duration kMaxLatency = absl::Hours(1);

  struct Options {
    int window_size = kDefaultWindowSize;  // Calls per window, in [1, kMaxWindowSize].

    // InvalidArgument naming the bad field.
    [[nodiscard]] absl::Status Validate() const;
  };

  // Allocates every buffer. `clock` is not owned and must outlive the tracker. InvalidArgument for
  // bad options or a null clock.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<PerformanceTracker>> Create(
      const Options& options, const Clock* clock);

  PerformanceTracker(const PerformanceTracker&) = delete;
  PerformanceTracker& operator=(const PerformanceTracker&) = delete;

  // Records one call. `size_class` outside [0, kNumSizeClasses) is clamped. No allocation; takes
  // `mu_`.
  void Record(BackendKind backend, Operation operation, int size_class, absl::Duration latency,
              Outcome outcome);

  // Both backends' figures for one cell and the GPU's window, from one consistent read. Lock-free
  // in the common case, no allocation. `size_class` is clamped.
  [[nodiscard]] DispatchEstimate EstimateFor(Operation operation, int size_class) const;

  // Every cell and window, from one instant, with derived speedups. No allocation.
  [[nodiscard]] PerformanceSnapshot Snapshot() const;

  // Bytes of storage reserved in Create(); never changes afterwards (Record does not allocate).
  [[nodiscard]] size_t ReservedBytes() const;

  [[nodiscard]] const Options& options() const { return options_; }

 private:
  static constexpr size_t kNumCells = kNumBackendKinds * kNumOperations * kNumSizeClasses;
  static constexpr size_t kNumWindows = kNumBackendKinds * kNumOperations;

  // The seqlock payload of one cell: written only by a writer holding mu_, read by anyone (see the
  // .cc).
  struct alignas(64) PublishedCell {
    std::atomic<int64_t> count{0};
    std::atomic<int64_t> successes{0};
    std::atomic<int64_t> failures{0};
    std::atomic<int64_t> out_of_memory{0};
    std::atomic<int64_t> mean_ns{0};
    std::atomic<int64_t> p50_ns{0};
    std::atomic<int64_t> p99_ns{0};
    std::atomic<int64_t> last_update_ns{0};  // Unix nanos of the absl::Time; INT64_MIN: never.
  };
  struct alignas(32) PublishedWindow {
    std::atomic<int64_t> count{0};
    std::atomic<int64_t> successes{0};
    std::atomic<int64_t> failures{0};
    std::atomic<int64_t> out_of_memory{0};
  };

  // Writer-side bookkeeping of one ring buffer (a cell's or a window's).
  struct RingState {
    uint32_t head = 0;         // Next slot to write.
    uint32_t size = 0;         // Filled slots, <= window_size.
    uint32_t sorted_size = 0;  // Cells only: successful latencies in the sorted copy.
    int64_t sum_ns = 0;        // Cells only: sum of those latencies.
    int64_t successes = 0;
    int64_t failures = 0;
    int64_t out_of_memory = 0;
    int64_t last_update_ns = 0;
  };

  PerformanceTracker(const Options& options, const Clock* clock);

  static size_t CellIndex(BackendKind backend, Operation operation, int size_class);
  static size_t WindowIndex(BackendKind backend, Operation operation);

  void PublishCell(size_t cell) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PublishWindow(size_t window) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Runs `read` (which loads published words with memory_order_acquire) until it saw one instant;
  // see the .cc.
  template <typename ReadFn>
  void ReadConsistent(ReadFn read) const;

  const Options options_;
  const Clock* const clock_;
  const size_t window_;  // options_.window_size, as an index type.

  mutable Mutex mu_;
  // Cell c's ring occupies [c * window_, (c + 1) * window_) of latency_ring_ and outcome_ring_, and
  // its sorted successful latencies the first sorted_size slots of the same range of sorted_.
  std::vector<int64_t> latency_ring_ ABSL_GUARDED_BY(mu_);
  std::vector<Outcome> outcome_ring_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> sorted_ ABSL_GUARDED_BY(mu_);
  std::vector<RingState> cells_ ABSL_GUARDED_BY(mu_);
  // Window w's ring occupies [w * window_, (w + 1) * window_).
  std::vector<Outcome> window_ring_ ABSL_GUARDED_BY(mu_);
  std::vector<RingState> windows_ ABSL_GUARDED_BY(mu_);
  uint64_t records_ ABSL_GUARDED_BY(mu_) = 0;

  // Seqlock sequence: odd while a writer (holding mu_) is publishing. Writers store it with
  // memory_order_relaxed (odd) then memory_order_release (even); readers load it with
  // memory_order_acquire before and memory_order_relaxed after their payload loads (which are
  // acquire). Written only under mu_.
  alignas(64) std::atomic<uint64_t> seq_{0};
  // Seqlock payload (not ABSL_GUARDED_BY: read without mu_ through the protocol above; written only
  // under mu_).
  std::array<PublishedCell, kNumCells> published_cells_;
  std::array<PublishedWindow, kNumWindows> published_windows_;
  std::atomic<uint64_t> published_records_{0};
};

}  // namespace simile

#endif  // SIMILE_CORE_PERFORMANCE_TRACKER_H_
