// A small Prometheus metrics library: counters, gauges and histograms in families with fixed label names,
// rendered in the text exposition format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/).
// prometheus-cpp is not packaged for the platforms simile targets; this is the part of it simile needs.
//
// Model. A Registry owns families, registered up front with a name, help text and label names. A family's
// children (one per combination of label values) are created with Add() -- at start-up for metrics recorded on
// the hot path, at scrape time for values mirrored from elsewhere -- and the caller keeps the pointer Add()
// returns: recording through it is one or two relaxed atomic operations; it never locks or allocates. Label
// values must come from bounded sets (enum names, configuration), never from requests.
//
//   Registry registry;
//   Family<Counter>* requests = registry.AddCounter("app_requests_total", "Requests handled.", {"code"});
//   Counter* ok = requests->Add({"OK"});  // at start-up
//   ok->Increment();                      // on the hot path
//   std::string text = registry.Render(); // GET /metrics
//
// Names are checked when a family is registered (Prometheus' name and label-name syntax, `_total` on counters
// and only on counters, no reserved `le` label outside histograms, no duplicate family); a violation is a
// programming error and aborts with a message.
//
// Thread safety: Counter, Gauge and Histogram methods are lock-free and may run concurrently with anything,
// Render included. Family::Add/Clear and Render take the family's lock. Registration (Add*) must finish before
// the registry is shared between threads.
#ifndef SIMILE_SERVER_METRICS_REGISTRY_H_
#define SIMILE_SERVER_METRICS_REGISTRY_H_

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "core/mutex.h"

namespace simile::server::metrics {

inline constexpr size_t kCacheLineBytes = 64;

// Counters and histograms are striped: kShards copies of their values, each on cache lines of its own, and
// each thread records into one copy (assigned round-robin on its first record), so that threads recording the
// same child rarely contend for a cache line. Reads add the copies up.
inline constexpr size_t kShards = 8;

namespace internal {
size_t NextShard();
// This thread's shard, in [0, kShards).
inline size_t ThreadShard() {
  thread_local size_t shard = kShards;  // kShards: not assigned yet.
  if (shard == kShards) shard = NextShard();
  return shard;
}
}  // namespace internal

// A monotonically increasing count.
class Counter {
 public:
  void Increment(uint64_t n = 1) {
    cells_[internal::ThreadShard()].value.fetch_add(n, std::memory_order_relaxed);
  }
  // Mirrors a monotonic count kept elsewhere (read at scrape time), for counters that are never incremented;
  // the caller never moves it backwards.
  void Set(uint64_t value) {
    cells_[0].value.store(value, std::memory_order_relaxed);
    for (size_t k = 1; k < kShards; ++k) cells_[k].value.store(0, std::memory_order_relaxed);
  }
  [[nodiscard]] uint64_t Value() const {
    uint64_t sum = 0;
    for (const Cell& c : cells_) sum += c.value.load(std::memory_order_relaxed);
    return sum;
  }

 private:
  // Relaxed: independent counts; nothing else is published through them.
  struct alignas(kCacheLineBytes) Cell {
    std::atomic<uint64_t> value{0};
  };
  Cell cells_[kShards];
};

// A value that goes up and down (on its own cache line).
class alignas(kCacheLineBytes) Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  [[nodiscard]] double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  // Relaxed: an independent value; nothing else is published through it.
  std::atomic<double> value_{0.0};
};

// Observations counted in buckets with fixed upper bounds (`le`, inclusive), plus their sum and count.
//
// Striped like Counter: each shard holds the per-bucket counts and the sum.
class Histogram {
 public:
  // `bounds`: strictly increasing finite upper bounds, not owned (the family's); +Inf is implicit.
  explicit Histogram(const std::vector<double>* bounds);

  // Lock-free: a scan of the bounds (a few compares), a relaxed add to the bucket's count and a relaxed
  // compare-exchange loop on the sum, both in this thread's shard. NaN counts in +Inf.
  void Observe(double value) {
    const std::vector<double>& b = *bounds_;
    size_t i = 0;
    while (i < b.size() && !(value <= b[i])) ++i;
    std::atomic<uint64_t>* shard = Shard(internal::ThreadShard());
    shard[i].fetch_add(1, std::memory_order_relaxed);
    std::atomic<uint64_t>& sum = shard[b.size() + 1];
    uint64_t old = sum.load(std::memory_order_relaxed);
    while (!sum.compare_exchange_weak(old, std::bit_cast<uint64_t>(std::bit_cast<double>(old) + value),
                                      std::memory_order_relaxed)) {
    }
  }

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // cumulative[i]: observations <= bounds[i]; last: all (+Inf).
    double sum = 0.0;
    uint64_t count = 0;  // == cumulative.back().
  };
  // Buckets are read one by one while others may observe: the cumulative counts are consistent among
  // themselves (count is derived from them) but the sum may include an observation the buckets do not yet.
  [[nodiscard]] Snapshot Read() const;

 private:
  static constexpr size_t kWordsPerLine = kCacheLineBytes / sizeof(uint64_t);
  struct alignas(kCacheLineBytes) Line {
    std::atomic<uint64_t> words[kWordsPerLine];
  };

  // Shard k: bounds_->size() + 1 per-bucket counts (not cumulative), then the sum (a double's bits), on whole
  // cache lines of its own. Relaxed, like Counter: independent counts, nothing published through them.
  [[nodiscard]] std::atomic<uint64_t>* Shard(size_t k) const { return lines_[k * lines_per_shard_].words; }

  const std::vector<double>* const bounds_;
  const size_t lines_per_shard_;
  const std::unique_ptr<Line[]> lines_;  // kShards * lines_per_shard_.
};

enum class MetricType { kCounter, kGauge, kHistogram };

// What every family has: a name, help text, a type and label names. Rendering is per kind of child.
class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, MetricType type, std::vector<std::string> label_names);
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] const std::vector<std::string>& label_names() const { return label_names_; }

  // Appends this family in the text format: HELP and TYPE lines, then one line per sample. A family without
  // children writes nothing (as the official client libraries do).
  virtual void Render(std::string* out) const = 0;

 protected:
  // HELP and TYPE lines.
  void RenderHeader(std::string* out) const;

  const std::string name_;
  const std::string help_;
  const MetricType type_;
  const std::vector<std::string> label_names_;
};

// The children of one family. Metric is Counter, Gauge or Histogram.
template <typename Metric>
class Family final : public FamilyBase {
 public:
  // `bounds` only for histograms.
  Family(std::string name, std::string help, MetricType type, std::vector<std::string> label_names,
         std::vector<double> bounds = {});

  // The child with these label values (one per label name, in order), created if new. The pointer stays valid
  // for the family's life (or until Clear). Takes the family's lock and may allocate: call it at start-up, or
  // at scrape time, never per request.
  Metric* Add(std::initializer_list<absl::string_view> label_values);
  Metric* Add(const std::vector<std::string>& label_values);

  // Removes every child, invalidating their pointers. Only for families filled at scrape time (whose series
  // come and go with what they mirror), never for ones recorded on the hot path.
  void Clear();

  void Render(std::string* out) const override;

 private:
  struct Child {
    std::vector<std::string> label_values;
    std::unique_ptr<Metric> metric;
  };

  const std::vector<double> bounds_;  // Histograms: the children's bucket bounds.
  mutable Mutex mu_;
  std::vector<Child> children_ ABSL_GUARDED_BY(mu_);  // In creation order.
};

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Each returns the new family, owned by the registry. `name` of a counter ends in _total.
  Family<Counter>* AddCounter(absl::string_view name, absl::string_view help,
                              std::vector<std::string> label_names = {});
  // A counter whose value is a float read from elsewhere at scrape time (e.g. CPU seconds from /proc):
  // exposed as TYPE counter; the caller only ever sets non-decreasing values.
  Family<Gauge>* AddFloatCounter(absl::string_view name, absl::string_view help,
                                 std::vector<std::string> label_names = {});
  Family<Gauge>* AddGauge(absl::string_view name, absl::string_view help,
                          std::vector<std::string> label_names = {});
  // `bounds`: strictly increasing, finite; the +Inf bucket is added implicitly.
  Family<Histogram>* AddHistogram(absl::string_view name, absl::string_view help,
                                  std::vector<std::string> label_names, std::vector<double> bounds);

  // Appends every family, in registration order, in the text exposition format 0.0.4.
  void Render(std::string* out) const;
  [[nodiscard]] std::string Render() const;

 private:
  void CheckNew(absl::string_view name, MetricType type, const std::vector<std::string>& label_names) const;

  std::vector<std::unique_ptr<FamilyBase>> families_;  // Constant once shared.
};

// The text format's pieces, exposed for tests.
// Metric names: [a-zA-Z_:][a-zA-Z0-9_:]*. Label names: [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__".
[[nodiscard]] bool IsValidMetricName(absl::string_view name);
[[nodiscard]] bool IsValidLabelName(absl::string_view name);
// Label values escape backslash, double quote and line feed; HELP text escapes backslash and line feed.
[[nodiscard]] std::string EscapeLabelValue(absl::string_view value);
[[nodiscard]] std::string EscapeHelp(absl::string_view help);
// Shortest text that reads back as the same double ("0.25", "0.0001", "1e-05", "1", "1073741824", "+Inf",
// "-Inf", "NaN").
void AppendValue(double value, std::string* out);

}  // namespace simile::server::metrics

#endif  // SIMILE_SERVER_METRICS_REGISTRY_H_
