// The metrics module: exact text exposition format 0.0.4 for a small registry, escaping, number formatting,
// histogram buckets against a brute-force count, and exact totals under concurrent recording.
#include "server/metrics_registry.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace simile::server::metrics {
namespace {

std::string Value(double v) {
  std::string out;
  AppendValue(v, &out);
  return out;
}

TEST_CASE("A small registry renders exactly the text exposition format 0.0.4", "[metrics]") {
  Registry r;
  Family<Counter>* requests =
      r.AddCounter("demo_requests_total", "Requests.\nSecond line, a \\ backslash and \"quotes\".", {"code", "path"});
  requests->Add({"OK", "/a"})->Increment(3);
  requests->Add({"bad\"quote\\\nline", "/b"});
  r.AddGauge("demo_temperature_celsius", "Temperature.")->Add({})->Set(-1.5);
  r.AddGauge("demo_unused", "A family without children is not rendered.", {"x"});
  Histogram* latency = r.AddHistogram("demo_latency_seconds", "Latency.", {"op"}, {0.25, 1})->Add({"read"});
  latency->Observe(0.25);  // le is inclusive: counted in the 0.25 bucket.
  latency->Observe(0.5);
  latency->Observe(7);
  r.AddFloatCounter("demo_cpu_seconds_total", "CPU.")->Add({})->Set(0.75);

  CHECK(r.Render() ==
        "# HELP demo_requests_total Requests.\\nSecond line, a \\\\ backslash and \"quotes\".\n"
        "# TYPE demo_requests_total counter\n"
        "demo_requests_total{code=\"OK\",path=\"/a\"} 3\n"
        "demo_requests_total{code=\"bad\\\"quote\\\\\\nline\",path=\"/b\"} 0\n"
        "# HELP demo_temperature_celsius Temperature.\n"
        "# TYPE demo_temperature_celsius gauge\n"
        "demo_temperature_celsius -1.5\n"
        "# HELP demo_latency_seconds Latency.\n"
        "# TYPE demo_latency_seconds histogram\n"
        "demo_latency_seconds_bucket{op=\"read\",le=\"0.25\"} 1\n"
        "demo_latency_seconds_bucket{op=\"read\",le=\"1\"} 2\n"
        "demo_latency_seconds_bucket{op=\"read\",le=\"+Inf\"} 3\n"
        "demo_latency_seconds_sum{op=\"read\"} 7.75\n"
        "demo_latency_seconds_count{op=\"read\"} 3\n"
        "# HELP demo_cpu_seconds_total CPU.\n"
        "# TYPE demo_cpu_seconds_total counter\n"
        "demo_cpu_seconds_total 0.75\n");
}

TEST_CASE("Add returns the existing child for the same label values", "[metrics]") {
  Registry r;
  Family<Counter>* f = r.AddCounter("x_total", "X.", {"a"});
  Counter* first = f->Add({"1"});
  CHECK(f->Add({"1"}) == first);
  CHECK(f->Add({"2"}) != first);
  Family<Gauge>* g = r.AddGauge("y", "Y.", {"a"});
  g->Add({"1"})->Set(2);
  g->Clear();
  CHECK(r.Render().find("# TYPE y") == std::string::npos);  // Cleared: no children, nothing rendered.
  g->Add({"3"})->Set(4);
  CHECK(r.Render().find("y{a=\"3\"} 4\n") != std::string::npos);
}

TEST_CASE("Label values and help text are escaped as the format requires", "[metrics]") {
  CHECK(EscapeLabelValue("plain /path:1") == "plain /path:1");
  CHECK(EscapeLabelValue("a\\b") == "a\\\\b");
  CHECK(EscapeLabelValue("say \"hi\"") == "say \\\"hi\\\"");
  CHECK(EscapeLabelValue("two\nlines") == "two\\nlines");
  CHECK(EscapeLabelValue("tab\tstays") == "tab\tstays");
  CHECK(EscapeHelp("a\\b \"q\"\nc") == "a\\\\b \"q\"\\nc");  // Quotes are not escaped in HELP.
}

TEST_CASE("Values are written in their shortest exact form", "[metrics]") {
  CHECK(Value(0) == "0");
  CHECK(Value(1) == "1");
  CHECK(Value(-1.5) == "-1.5");
  CHECK(Value(0.1) == "0.1");
  CHECK(Value(0.0001) == "0.0001");
  CHECK(Value(0.00025) == "0.00025");
  CHECK(Value(1e-05) == "1e-05");
  CHECK(Value(1073741824) == "1073741824");
  CHECK(Value(1795469390.9) == "1795469390.9");
  CHECK(Value(1e21) == "1e+21");
  CHECK(Value(INFINITY) == "+Inf");
  CHECK(Value(-INFINITY) == "-Inf");
  CHECK(Value(NAN) == "NaN");
  // Round trip for arbitrary values.
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> exponent(-12, 22);
  for (int i = 0; i < 1000; ++i) {
    const double v = std::pow(10.0, exponent(rng)) * (i % 2 ? 1 : -1);
    CHECK(std::stod(Value(v)) == v);
  }
}

TEST_CASE("Metric and label names follow Prometheus' syntax", "[metrics]") {
  CHECK(IsValidMetricName("simile_requests_total"));
  CHECK(IsValidMetricName("job:rate5m:sum"));
  CHECK(IsValidMetricName("_x"));
  CHECK_FALSE(IsValidMetricName(""));
  CHECK_FALSE(IsValidMetricName("1x"));
  CHECK_FALSE(IsValidMetricName("a-b"));
  CHECK_FALSE(IsValidMetricName("a b"));
  CHECK(IsValidLabelName("size_class"));
  CHECK_FALSE(IsValidLabelName("__reserved"));
  CHECK_FALSE(IsValidLabelName("a:b"));
  CHECK_FALSE(IsValidLabelName("9a"));
}

TEST_CASE("Histogram buckets are cumulative and match a brute-force count", "[metrics]") {
  const std::vector<double> bounds = {0.001, 0.01, 0.1, 1, 10};
  Registry r;
  Histogram* h = r.AddHistogram("h_seconds", "H.", {}, bounds)->Add({});
  std::mt19937_64 rng(1);
  std::lognormal_distribution<double> dist(-3, 2);
  std::vector<double> values;
  for (int i = 0; i < 5000; ++i) values.push_back(dist(rng));
  values.push_back(0.1);  // Exactly on a bound.
  values.push_back(100);  // Above every bound.
  double sum = 0;
  for (const double v : values) {
    h->Observe(v);
    sum += v;
  }
  const Histogram::Snapshot s = h->Read();
  REQUIRE(s.cumulative.size() == bounds.size() + 1);
  for (size_t i = 0; i < bounds.size(); ++i) {
    uint64_t expected = 0;
    for (const double v : values) expected += v <= bounds[i] ? 1 : 0;
    CHECK(s.cumulative[i] == expected);
  }
  CHECK(s.cumulative.back() == values.size());
  CHECK(s.count == values.size());
  CHECK(s.sum == Approx(sum).epsilon(1e-12));
}

TEST_CASE("NaN observations count in the +Inf bucket", "[metrics]") {
  Registry r;
  Histogram* h = r.AddHistogram("n", "N.", {}, {1})->Add({});
  h->Observe(NAN);
  const Histogram::Snapshot s = h->Read();
  CHECK(s.cumulative[0] == 0);
  CHECK(s.cumulative[1] == 1);
  CHECK(std::isnan(s.sum));
}

TEST_CASE("Counters and histograms are exact under 8 concurrent writers and a reader", "[metrics][concurrency]") {
  Registry r;
  Counter* counter = r.AddCounter("c_total", "C.")->Add({});
  Gauge* gauge = r.AddGauge("g", "G.")->Add({});
  Histogram* h = r.AddHistogram("h", "H.", {}, {0.5, 1})->Add({});
  constexpr int kThreads = 8;
  constexpr int kPerThread = 20000;
  std::atomic<bool> done{false};
  std::thread reader([&] {  // Renders while the writers record: must not race, counts never decrease.
    uint64_t last = 0;
    while (!done.load(std::memory_order_acquire)) {
      const std::string text = r.Render();
      const uint64_t now = counter->Value();
      CHECK(now >= last);
      last = now;
      CHECK(text.find("# TYPE h histogram") != std::string::npos);
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        counter->Increment();
        gauge->Add(1);
        h->Observe(0.5 * (i % 4));  // 0, 0.5, 1, 1.5: sums stay exact in a double.
      }
    });
  }
  for (std::thread& w : writers) w.join();
  done.store(true, std::memory_order_release);
  reader.join();
  constexpr uint64_t kTotal = uint64_t{kThreads} * kPerThread;
  CHECK(counter->Value() == kTotal);
  CHECK(gauge->Value() == static_cast<double>(kTotal));
  const Histogram::Snapshot s = h->Read();
  CHECK(s.cumulative[0] == kTotal / 2);      // 0 and 0.5.
  CHECK(s.cumulative[1] == 3 * kTotal / 4);  // ... and 1.
  CHECK(s.count == kTotal);
  CHECK(s.sum == 0.75 * static_cast<double>(kTotal));
}

}  // namespace
}  // namespace simile::server::metrics
