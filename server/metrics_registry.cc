#include "server/metrics_registry.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <type_traits>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace simile::server::metrics {
namespace {

// A registration that breaks the naming rules is a bug in simile, found the first time the server starts.
[[noreturn]] void Fail(absl::string_view what) {
  std::fprintf(stderr, "simile metrics: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

bool IsNameChar(char c, bool first, bool colon) {
  const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
  return alpha || (!first && c >= '0' && c <= '9');
}

bool IsValidName(absl::string_view name, bool colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!IsNameChar(name[i], i == 0, colon)) return false;
  }
  return true;
}

absl::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// `name{a="x",b="y"}` (no braces without labels), plus an optional extra label (histograms' `le`).
void AppendSeries(absl::string_view name, absl::string_view suffix, const std::vector<std::string>& label_names,
                  const std::vector<std::string>& label_values, absl::string_view extra_name,
                  absl::string_view extra_value, std::string* out) {
  absl::StrAppend(out, name, suffix);
  if (label_names.empty() && extra_name.empty()) return;
  out->push_back('{');
  for (size_t i = 0; i < label_names.size(); ++i) {
    if (i > 0) out->push_back(',');
    absl::StrAppend(out, label_names[i], "=\"", EscapeLabelValue(label_values[i]), "\"");
  }
  if (!extra_name.empty()) {
    if (!label_names.empty()) out->push_back(',');
    absl::StrAppend(out, extra_name, "=\"", extra_value, "\"");
  }
  out->push_back('}');
}

void AppendUint(uint64_t v, std::string* out) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, end);
}

void RenderChild(const FamilyBase& f, const std::vector<std::string>& labels, const Counter& c,
                 const std::vector<double>& /*bounds*/, std::string* out) {
  AppendSeries(f.name(), "", f.label_names(), labels, "", "", out);
  out->push_back(' ');
  AppendUint(c.Value(), out);
  out->push_back('\n');
}

void RenderChild(const FamilyBase& f, const std::vector<std::string>& labels, const Gauge& g,
                 const std::vector<double>& /*bounds*/, std::string* out) {
  AppendSeries(f.name(), "", f.label_names(), labels, "", "", out);
  out->push_back(' ');
  AppendValue(g.Value(), out);
  out->push_back('\n');
}

void RenderChild(const FamilyBase& f, const std::vector<std::string>& labels, const Histogram& h,
                 const std::vector<double>& bounds, std::string* out) {
  const Histogram::Snapshot s = h.Read();
  std::string le;
  for (size_t i = 0; i < s.cumulative.size(); ++i) {
    le.clear();
    AppendValue(i < bounds.size() ? bounds[i] : INFINITY, &le);
    AppendSeries(f.name(), "_bucket", f.label_names(), labels, "le", le, out);
    out->push_back(' ');
    AppendUint(s.cumulative[i], out);
    out->push_back('\n');
  }
  AppendSeries(f.name(), "_sum", f.label_names(), labels, "", "", out);
  out->push_back(' ');
  AppendValue(s.sum, out);
  out->push_back('\n');
  AppendSeries(f.name(), "_count", f.label_names(), labels, "", "", out);
  out->push_back(' ');
  AppendUint(s.count, out);
  out->push_back('\n');
}

}  // namespace

namespace internal {

size_t NextShard() {
  // Relaxed: only spreads threads over shards; any assignment is correct.
  static std::atomic<size_t> next{0};
  return next.fetch_add(1, std::memory_order_relaxed) % kShards;
}

}  // namespace internal

bool IsValidMetricName(absl::string_view name) { return IsValidName(name, /*colon=*/true); }

bool IsValidLabelName(absl::string_view name) {
  return IsValidName(name, /*colon=*/false) && !absl::StartsWith(name, "__");
}

std::string EscapeLabelValue(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    switch (c) {
      case '\\':
        out.append("\\\\");
        break;
      case '"':
        out.append("\\\"");
        break;
      case '\n':
        out.append("\\n");
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string EscapeHelp(absl::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (const char c : help) {
    if (c == '\\') {
      out.append("\\\\");
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void AppendValue(double value, std::string* out) {
  if (std::isnan(value)) {
    out->append("NaN");
  } else if (std::isinf(value)) {
    out->append(value > 0 ? "+Inf" : "-Inf");
  } else {
    // The shortest digits that read back as `value`; exponent form only below 1e-4 (as the Go client writes
    // bucket bounds: "0.0001", "1e-05") or from 1e21 up, so byte counts and le="1" read as written.
    char buf[64];
    const auto [sci_end, sci_ec] = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::scientific);
    const char* e = std::find(buf, sci_end, 'e');
    int exponent = 0;
    std::from_chars(e + (e[1] == '+' ? 2 : 1), sci_end, exponent);
    if (exponent < -4 || exponent >= 21) {
      out->append(buf, sci_end);
    } else {
      const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::fixed);
      out->append(buf, end);
    }
  }
}

Histogram::Histogram(const std::vector<double>* bounds)
    : bounds_(bounds),
      lines_per_shard_((bounds->size() + 2 + kWordsPerLine - 1) / kWordsPerLine),
      lines_(new Line[kShards * lines_per_shard_]) {
  for (size_t l = 0; l < kShards * lines_per_shard_; ++l) {
    for (std::atomic<uint64_t>& w : lines_[l].words) w.store(0, std::memory_order_relaxed);  // 0.0's bits too.
  }
}

Histogram::Snapshot Histogram::Read() const {
  const size_t buckets = bounds_->size() + 1;
  Snapshot s;
  s.cumulative.assign(buckets, 0);
  for (size_t k = 0; k < kShards; ++k) {
    const std::atomic<uint64_t>* shard = Shard(k);
    for (size_t i = 0; i < buckets; ++i) s.cumulative[i] += shard[i].load(std::memory_order_relaxed);
    s.sum += std::bit_cast<double>(shard[buckets].load(std::memory_order_relaxed));
  }
  for (size_t i = 1; i < buckets; ++i) s.cumulative[i] += s.cumulative[i - 1];
  s.count = s.cumulative.back();
  return s;
}

FamilyBase::FamilyBase(std::string name, std::string help, MetricType type, std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), type_(type), label_names_(std::move(label_names)) {}

void FamilyBase::RenderHeader(std::string* out) const {
  absl::StrAppend(out, "# HELP ", name_, " ", EscapeHelp(help_), "\n# TYPE ", name_, " ", TypeName(type_), "\n");
}

template <typename Metric>
Family<Metric>::Family(std::string name, std::string help, MetricType type, std::vector<std::string> label_names,
                       std::vector<double> bounds)
    : FamilyBase(std::move(name), std::move(help), type, std::move(label_names)), bounds_(std::move(bounds)) {}

template <typename Metric>
Metric* Family<Metric>::Add(std::initializer_list<absl::string_view> label_values) {
  std::vector<std::string> values;
  values.reserve(label_values.size());
  for (const absl::string_view v : label_values) values.emplace_back(v);
  return Add(values);
}

template <typename Metric>
Metric* Family<Metric>::Add(const std::vector<std::string>& label_values) {
  if (label_values.size() != label_names_.size()) {
    Fail(absl::StrCat(name_, ": ", label_values.size(), " label values for ", label_names_.size(), " labels"));
  }
  MutexLock lock(&mu_);
  for (const Child& c : children_) {
    if (c.label_values == label_values) return c.metric.get();
  }
  std::unique_ptr<Metric> metric;
  if constexpr (std::is_same_v<Metric, Histogram>) {
    metric = std::make_unique<Histogram>(&bounds_);
  } else {
    metric = std::make_unique<Metric>();
  }
  children_.push_back(Child{label_values, std::move(metric)});
  return children_.back().metric.get();
}

template <typename Metric>
void Family<Metric>::Clear() {
  MutexLock lock(&mu_);
  children_.clear();
}

template <typename Metric>
void Family<Metric>::Render(std::string* out) const {
  MutexLock lock(&mu_);
  if (children_.empty()) return;
  RenderHeader(out);
  for (const Child& c : children_) RenderChild(*this, c.label_values, *c.metric, bounds_, out);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

void Registry::CheckNew(absl::string_view name, MetricType type,
                        const std::vector<std::string>& label_names) const {
  if (!IsValidMetricName(name)) Fail(absl::StrCat("invalid metric name '", name, "'"));
  const bool total = absl::EndsWith(name, "_total");
  if (type == MetricType::kCounter && !total) Fail(absl::StrCat(name, ": a counter's name ends in _total"));
  if (type != MetricType::kCounter && total) Fail(absl::StrCat(name, ": only counters end in _total"));
  for (size_t i = 0; i < label_names.size(); ++i) {
    if (!IsValidLabelName(label_names[i])) Fail(absl::StrCat(name, ": invalid label name '", label_names[i], "'"));
    if (label_names[i] == "le") Fail(absl::StrCat(name, ": 'le' is reserved for histogram buckets"));
    for (size_t j = 0; j < i; ++j) {
      if (label_names[i] == label_names[j]) Fail(absl::StrCat(name, ": duplicate label '", label_names[i], "'"));
    }
  }
  for (const auto& f : families_) {
    if (f->name() == name) Fail(absl::StrCat("metric family '", name, "' registered twice"));
  }
}

Family<Counter>* Registry::AddCounter(absl::string_view name, absl::string_view help,
                                      std::vector<std::string> label_names) {
  CheckNew(name, MetricType::kCounter, label_names);
  auto f = std::make_unique<Family<Counter>>(std::string(name), std::string(help), MetricType::kCounter,
                                             std::move(label_names));
  Family<Counter>* raw = f.get();
  families_.push_back(std::move(f));
  return raw;
}

Family<Gauge>* Registry::AddFloatCounter(absl::string_view name, absl::string_view help,
                                         std::vector<std::string> label_names) {
  CheckNew(name, MetricType::kCounter, label_names);
  auto f = std::make_unique<Family<Gauge>>(std::string(name), std::string(help), MetricType::kCounter,
                                           std::move(label_names));
  Family<Gauge>* raw = f.get();
  families_.push_back(std::move(f));
  return raw;
}

Family<Gauge>* Registry::AddGauge(absl::string_view name, absl::string_view help,
                                  std::vector<std::string> label_names) {
  CheckNew(name, MetricType::kGauge, label_names);
  auto f = std::make_unique<Family<Gauge>>(std::string(name), std::string(help), MetricType::kGauge,
                                           std::move(label_names));
  Family<Gauge>* raw = f.get();
  families_.push_back(std::move(f));
  return raw;
}

Family<Histogram>* Registry::AddHistogram(absl::string_view name, absl::string_view help,
                                          std::vector<std::string> label_names, std::vector<double> bounds) {
  CheckNew(name, MetricType::kHistogram, label_names);
  for (const absl::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (absl::EndsWith(name, suffix)) Fail(absl::StrCat(name, ": a histogram's name may not end in ", suffix));
  }
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1]))) {
      Fail(absl::StrCat(name, ": bucket bounds must be finite and strictly increasing"));
    }
  }
  auto f = std::make_unique<Family<Histogram>>(std::string(name), std::string(help), MetricType::kHistogram,
                                               std::move(label_names), std::move(bounds));
  Family<Histogram>* raw = f.get();
  families_.push_back(std::move(f));
  return raw;
}

void Registry::Render(std::string* out) const {
  for (const auto& f : families_) f->Render(out);
}

std::string Registry::Render() const {
  std::string out;
  Render(&out);
  return out;
}

}  // namespace simile::server::metrics
