// The cost of recording a metric on the hot path and of rendering a scrape: a counter increment, a histogram
// observation, and SimileMetrics::RecordRequest (what SimilarityService does once per RPC: a counter and a
// histogram), each with 1 thread and with 8 threads on the same child (the contended worst case); then a full
// scrape (mirror an executor snapshot, read /proc, render every family) and the render alone. Goal: tens of
// nanoseconds per record.
//
//   build/bench/simile-metrics-bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
//
// Multi-threaded figures are wall time per operation per thread (UseRealTime): 8 threads on 2 cores wait for
// the cores as well as for the cache line.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "core/executor.h"
#include "server/metrics_registry.h"
#include "server/simile_metrics.h"

namespace simile::server {
namespace {

using metrics::Counter;
using metrics::Histogram;
using metrics::Registry;

// Shared by every benchmark thread, as one server's metrics are.
struct Harness {
  Harness() {
    counter = registry.AddCounter("bench_total", "Bench.")->Add({});
    histogram = registry
                    .AddHistogram("bench_seconds", "Bench.", {},
                                  {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                   0.5, 1, 2.5, 5, 10, 30})
                    ->Add({});
    snapshot.config = std::make_shared<ServingConfig>();
    for (int sc = 8; sc < 16; ++sc) snapshot.performance.operations[1].size_classes[sc].speedup = 1.5;
  }
  Registry registry;
  Counter* counter;
  Histogram* histogram;
  SimileMetrics simile;
  ExecutorSnapshot snapshot;
};

Harness& Shared() {
  static Harness* h = new Harness();
  return *h;
}

void BM_CounterIncrement(benchmark::State& state) {
  Counter* c = Shared().counter;
  for (auto _ : state) c->Increment();
}
BENCHMARK(BM_CounterIncrement)->Threads(1)->Threads(8)->UseRealTime();

// Latencies spread over the buckets (a fixed cycle, so the bucket scan is not always the shortest).
constexpr double kValues[8] = {0.00007, 0.0004, 0.002, 0.004, 0.02, 0.08, 0.3, 3};

void BM_HistogramObserve(benchmark::State& state) {
  Histogram* h = Shared().histogram;
  size_t i = static_cast<size_t>(state.thread_index());
  for (auto _ : state) h->Observe(kValues[i++ & 7]);
}
BENCHMARK(BM_HistogramObserve)->Threads(1)->Threads(8)->UseRealTime();

void BM_RecordRequest(benchmark::State& state) {
  SimileMetrics& m = Shared().simile;
  size_t i = static_cast<size_t>(state.thread_index());
  for (auto _ : state) {
    m.RecordRequest(RpcMethod::kCosine, absl::StatusCode::kOk, absl::Seconds(kValues[i++ & 7]));
  }
}
BENCHMARK(BM_RecordRequest)->Threads(1)->Threads(8)->UseRealTime();

void BM_Scrape(benchmark::State& state) {
  Harness& h = Shared();
  for (auto _ : state) {
    std::string text = h.simile.Scrape(h.snapshot, ServiceState{});
    benchmark::DoNotOptimize(text);
    state.counters["bytes"] = static_cast<double>(text.size());
  }
}
BENCHMARK(BM_Scrape);

void BM_RenderOnly(benchmark::State& state) {
  Harness& h = Shared();
  for (auto _ : state) {
    std::string text = h.registry.Render();
    benchmark::DoNotOptimize(text);
  }
}
BENCHMARK(BM_RenderOnly);

}  // namespace
}  // namespace simile::server
