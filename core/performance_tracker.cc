#include "core/performance_tracker.h"

#include <algorithm>
#include <bit>
#include <limits>

#include "absl/strings/str_cat.h"

namespace simile {
namespace {

constexpr int64_t kNeverNs = std::numeric_limits<int64_t>::min();

// A reader retries this many times while writers keep publishing, then takes the writers' mutex
// instead of spinning on a writer that may have been descheduled mid-publish.
constexpr int kOptimisticReadAttempts = 32;

// Nearest-rank percentile `percent` (1..100) of `n` >= 1 sorted values: index ceil(percent / 100 *
// n) - 1.
size_t NearestRankIndex(size_t n, size_t percent) { return (n * percent + 99) / 100 - 1; }

absl::Time TimeFromNs(int64_t ns) {
  return ns == kNeverNs ? absl::InfinitePast() : absl::FromUnixNanos(ns);
}

// Plain copies of published words, loaded with memory_order_acquire (see ReadConsistent).
struct RawCell {
  int64_t count, successes, failures, out_of_memory, mean_ns, p50_ns, p99_ns, last_update_ns;
};

OutcomeCounts MakeCounts(int64_t count, int64_t successes, int64_t failures,
                         int64_t out_of_memory) {
  OutcomeCounts c;
  c.count = count;
  c.successes = successes;
  c.failures = failures;
  c.out_of_memory = out_of_memory;
  return c;
}

CellStats MakeCellStats(const RawCell& raw) {
  CellStats s;
  s.outcomes = MakeCounts(raw.count, raw.successes, raw.failures, raw.out_of_memory);
  s.mean = absl::Nanoseconds(raw.mean_ns);
  s.p50 = absl::Nanoseconds(raw.p50_ns);
  s.p99 = absl::Nanoseconds(raw.p99_ns);
  s.last_update = TimeFromNs(raw.last_update_ns);
  return s;
}

}  // namespace

uint64_t WorkOf(uint64_t q, uint64_t n, uint64_t d) {
  uint64_t qn = 0;
  uint64_t qnd = 0;
  if (__builtin_mul_overflow(q, n, &qn) || __builtin_mul_overflow(qn, d, &qnd)) {
    return std::numeric_limits<uint64_t>::max();
  }
  return qnd;
}

int SizeClassOfWork(uint64_t work) {
  if (work == 0) return 0;
  const int log2 = static_cast<int>(std::bit_width(work)) - 1;
  return std::clamp(log2 - kSizeClassMinLog2, 0, kNumSizeClasses - 1);
}

int SizeClassOf(uint64_t q, uint64_t n, uint64_t d) { return SizeClassOfWork(WorkOf(q, n, d)); }

uint64_t SizeClassLowerBound(int size_class) {
  if (size_class <= 0) return 0;
  return uint64_t{1} << (kSizeClassMinLog2 + std::min(size_class, kNumSizeClasses - 1));
}

absl::Status PerformanceTracker::Options::Validate() const {
  if (window_size < 1 || window_size > kMaxWindowSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "performance_tracker.window_size must be in [1, ", kMaxWindowSize, "], got ", window_size));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<PerformanceTracker>> PerformanceTracker::Create(
    const Options& options, const Clock* clock) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  if (clock == nullptr)
    return absl::InvalidArgumentError("performance_tracker: clock must not be null");
  return std::unique_ptr<PerformanceTracker>(new PerformanceTracker(options, clock));
}

PerformanceTracker::PerformanceTracker(const Options& options, const Clock* clock)
    : options_(options), clock_(clock), window_(static_cast<size_t>(options.window_size)) {
  MutexLock lock(&mu_);
  latency_ring_.assign(kNumCells * window_, 0);
  outcome_ring_.assign(kNumCells * window_, Outcome::kSuccess);
  sorted_.assign(kNumCells * window_, 0);
  cells_.assign(kNumCells, RingState{});
  window_ring_.assign(kNumWindows * window_, Outcome::kSuccess);
  windows_.assign(kNumWindows, RingState{});
  for (RingState& s : cells_) s.last_update_ns = kNeverNs;
  for (RingState& s : windows_) s.last_update_ns = kNeverNs;
  for (PublishedCell& p : published_cells_)
    p.last_update_ns.store(kNeverNs, std::memory_order_relaxed);
  // Construction happens-before any use of the object by another thread (it must be handed over
  // somehow), so relaxed stores suffice here.
}

size_t PerformanceTracker::CellIndex(BackendKind backend, Operation operation, int size_class) {
  const size_t b = std::min(Index(backend), kNumBackendKinds - 1);
  const size_t o = std::min(Index(operation), kNumOperations - 1);
  const size_t c = static_cast<size_t>(std::clamp(size_class, 0, kNumSizeClasses - 1));
  return (b * kNumOperations + o) * kNumSizeClasses + c;
}

size_t PerformanceTracker::WindowIndex(BackendKind backend, Operation operation) {
  const size_t b = std::min(Index(backend), kNumBackendKinds - 1);
  const size_t o = std::min(Index(operation), kNumOperations - 1);
  return b * kNumOperations + o;
}

namespace {

void CountOutcome(Outcome outcome, int64_t delta, int64_t* successes, int64_t* failures,
                  int64_t* out_of_memory) {
  switch (outcome) {
    case Outcome::kSuccess:
      *successes += delta;
      return;
    case Outcome::kFailure:
      *failures += delta;
      return;
    case Outcome::kOutOfMemory:
      *out_of_memory += delta;
      return;
  }
}

}  // namespace

void PerformanceTracker::Record(BackendKind backend, Operation operation, int size_class,
                                absl::Duration latency, Outcome outcome) {
  const int64_t now_ns = absl::ToUnixNanos(clock_->Now());
  const int64_t latency_ns =
      absl::ToInt64Nanoseconds(std::clamp(latency, absl::ZeroDuration(), kMaxLatency));
  const size_t c = CellIndex(backend, operation, size_class);
  const size_t w = WindowIndex(backend, operation);

  MutexLock lock(&mu_);

  // The cell's ring: evict the oldest call when full, then append this one.
  RingState& cell = cells_[c];
  const size_t base = c * window_;
  int64_t* sorted = &sorted_[base];
  if (cell.size == window_) {
    const Outcome old = outcome_ring_[base + cell.head];
    CountOutcome(old, -1, &cell.successes, &cell.failures, &cell.out_of_memory);
    if (old == Outcome::kSuccess) {
      const int64_t old_ns = latency_ring_[base + cell.head];
      int64_t* end = sorted + cell.sorted_size;
      int64_t* it = std::lower_bound(sorted, end, old_ns);  // Present: every success was inserted.
      std::move(it + 1, end, it);
      --cell.sorted_size;
      cell.sum_ns -= old_ns;
    }
  } else {
    ++cell.size;
  }
  latency_ring_[base + cell.head] = latency_ns;
  outcome_ring_[base + cell.head] = outcome;
  cell.head = static_cast<uint32_t>((cell.head + 1) % window_);
  CountOutcome(outcome, 1, &cell.successes, &cell.failures, &cell.out_of_memory);
  if (outcome == Outcome::kSuccess) {
    int64_t* end = sorted + cell.sorted_size;
    int64_t* it = std::upper_bound(sorted, end, latency_ns);
    std::move_backward(it, end, end + 1);
    *it = latency_ns;
    ++cell.sorted_size;
    cell.sum_ns += latency_ns;
  }
  cell.last_update_ns = std::max(cell.last_update_ns, now_ns);

  // The (backend, operation) window of outcomes.
  RingState& win = windows_[w];
  const size_t wbase = w * window_;
  if (win.size == window_) {
    CountOutcome(window_ring_[wbase + win.head], -1, &win.successes, &win.failures,
                 &win.out_of_memory);
  } else {
    ++win.size;
  }
  window_ring_[wbase + win.head] = outcome;
  win.head = static_cast<uint32_t>((win.head + 1) % window_);
  CountOutcome(outcome, 1, &win.successes, &win.failures, &win.out_of_memory);
  win.last_update_ns = std::max(win.last_update_ns, now_ns);
  ++records_;

  // Publish. Only writers holding mu_ store seq_, so the relaxed load sees the latest value. The
  // odd store is relaxed; every payload store after it is a release store, so a reader whose
  // acquire load sees any new payload word also sees seq_ odd or advanced when it re-reads seq_,
  // and retries.
  const uint64_t seq = seq_.load(std::memory_order_relaxed);
  seq_.store(seq + 1, std::memory_order_relaxed);
  PublishCell(c);
  PublishWindow(w);
  published_records_.store(records_, std::memory_order_release);
  // Release: a reader whose acquire load sees seq + 2 sees every payload store above.
  seq_.store(seq + 2, std::memory_order_release);
}

void PerformanceTracker::PublishCell(size_t c) {
  const RingState& s = cells_[c];
  const int64_t* sorted = &sorted_[c * window_];
  int64_t mean_ns = 0;
  int64_t p50_ns = 0;
  int64_t p99_ns = 0;
  if (s.sorted_size > 0) {
    mean_ns = s.sum_ns / static_cast<int64_t>(s.sorted_size);
    p50_ns = sorted[NearestRankIndex(s.sorted_size, 50)];
    p99_ns = sorted[NearestRankIndex(s.sorted_size, 99)];
  }
  PublishedCell& p = published_cells_[c];
  p.count.store(s.size, std::memory_order_release);
  p.successes.store(s.successes, std::memory_order_release);
  p.failures.store(s.failures, std::memory_order_release);
  p.out_of_memory.store(s.out_of_memory, std::memory_order_release);
  p.mean_ns.store(mean_ns, std::memory_order_release);
  p.p50_ns.store(p50_ns, std::memory_order_release);
  p.p99_ns.store(p99_ns, std::memory_order_release);
  p.last_update_ns.store(s.last_update_ns, std::memory_order_release);
}

void PerformanceTracker::PublishWindow(size_t w) {
  const RingState& s = windows_[w];
  PublishedWindow& p = published_windows_[w];
  p.count.store(s.size, std::memory_order_release);
  p.successes.store(s.successes, std::memory_order_release);
  p.failures.store(s.failures, std::memory_order_release);
  p.out_of_memory.store(s.out_of_memory, std::memory_order_release);
}

// The seqlock read. `read` loads payload words with memory_order_acquire, so no later load (the
// second load of seq_) can be reordered before them. If both loads of seq_ return the same even
// value, no writer published between them: had `read` seen any word of a later publish, the acquire
// load of that word would synchronize with its release store, which is sequenced after that
// publish's odd store of seq_, so the second load would have returned a different value. Under mu_
// (the fallback) no writer can publish at all.
template <typename ReadFn>
void PerformanceTracker::ReadConsistent(ReadFn read) const {
  for (int attempt = 0; attempt < kOptimisticReadAttempts; ++attempt) {
    const uint64_t before = seq_.load(std::memory_order_acquire);
    if ((before & 1) != 0) continue;  // A writer is mid-publish.
    read();
    if (seq_.load(std::memory_order_relaxed) == before) return;
  }
  MutexLock lock(&mu_);
  read();
}

DispatchEstimate PerformanceTracker::EstimateFor(Operation operation, int size_class) const {
  const PublishedCell& cpu = published_cells_[CellIndex(BackendKind::kCpu, operation, size_class)];
  const PublishedCell& gpu = published_cells_[CellIndex(BackendKind::kGpu, operation, size_class)];
  const PublishedWindow& win = published_windows_[WindowIndex(BackendKind::kGpu, operation)];
  int64_t words[10];
  ReadConsistent([&] {
    constexpr auto kAcq = std::memory_order_acquire;
    words[0] = cpu.successes.load(kAcq);
    words[1] = cpu.mean_ns.load(kAcq);
    words[2] = cpu.last_update_ns.load(kAcq);
    words[3] = gpu.successes.load(kAcq);
    words[4] = gpu.mean_ns.load(kAcq);
    words[5] = gpu.last_update_ns.load(kAcq);
    words[6] = win.count.load(kAcq);
    words[7] = win.successes.load(kAcq);
    words[8] = win.failures.load(kAcq);
    words[9] = win.out_of_memory.load(kAcq);
  });
  DispatchEstimate e;
  e.cpu.samples = words[0];
  e.cpu.mean = absl::Nanoseconds(words[1]);
  e.cpu.last_update = TimeFromNs(words[2]);
  e.gpu.samples = words[3];
  e.gpu.mean = absl::Nanoseconds(words[4]);
  e.gpu.last_update = TimeFromNs(words[5]);
  e.gpu_window = MakeCounts(words[6], words[7], words[8], words[9]);
  return e;
}

PerformanceSnapshot PerformanceTracker::Snapshot() const {
  std::array<RawCell, kNumCells> cells;
  std::array<OutcomeCounts, kNumWindows> windows;
  uint64_t records = 0;
  {
    // Writers publish only under mu_, so holding it makes every word below from one instant. The
    // copy is a few kilobytes; the derived values are computed after releasing the lock.
    MutexLock lock(&mu_);
    constexpr auto kAcq = std::memory_order_acquire;
    for (size_t i = 0; i < kNumCells; ++i) {
      const PublishedCell& p = published_cells_[i];
      cells[i] =
          RawCell{p.count.load(kAcq),         p.successes.load(kAcq),     p.failures.load(kAcq),
                  p.out_of_memory.load(kAcq), p.mean_ns.load(kAcq),       p.p50_ns.load(kAcq),
                  p.p99_ns.load(kAcq),        p.last_update_ns.load(kAcq)};
    }
    for (size_t i = 0; i < kNumWindows; ++i) {
      const PublishedWindow& p = published_windows_[i];
      windows[i] = MakeCounts(p.count.load(kAcq), p.successes.load(kAcq), p.failures.load(kAcq),
                              p.out_of_memory.load(kAcq));
    }
    records = published_records_.load(kAcq);
  }

  PerformanceSnapshot snap;
  snap.taken_at = clock_->Now();
  snap.records = records;
  for (size_t o = 0; o < kNumOperations; ++o) {
    const auto operation = static_cast<Operation>(o);
    OperationSnapshot& op = snap.operations[o];
    for (size_t b = 0; b < kNumBackendKinds; ++b) {
      op.windows[b] = windows[WindowIndex(static_cast<BackendKind>(b), operation)];
    }
    for (int sc = 0; sc < kNumSizeClasses; ++sc) {
      SizeClassSnapshot& size_class = op.size_classes[sc];
      for (size_t b = 0; b < kNumBackendKinds; ++b) {
        size_class.backends[b] =
            MakeCellStats(cells[CellIndex(static_cast<BackendKind>(b), operation, sc)]);
      }
      const CellStats& cpu = size_class.backends[Index(BackendKind::kCpu)];
      const CellStats& gpu = size_class.backends[Index(BackendKind::kGpu)];
      if (cpu.outcomes.successes > 0 && gpu.outcomes.successes > 0 &&
          gpu.mean > absl::ZeroDuration()) {
        size_class.speedup = absl::FDivDuration(cpu.mean, gpu.mean);
      }
    }
  }
  return snap;
}

size_t PerformanceTracker::ReservedBytes() const {
  MutexLock lock(&mu_);
  return latency_ring_.capacity() * sizeof(int64_t) + outcome_ring_.capacity() * sizeof(Outcome) +
         sorted_.capacity() * sizeof(int64_t) + cells_.capacity() * sizeof(RingState) +
         window_ring_.capacity() * sizeof(Outcome) + windows_.capacity() * sizeof(RingState) +
         sizeof(PerformanceTracker);
}

}  // namespace simile
