#include "server/status_page.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace simile::server {
namespace {

std::string BackendName(v1::Backend b) {
  switch (b) {
    case v1::BACKEND_CPU:
      return "cpu";
    case v1::BACKEND_GPU:
      return "gpu";
    default:
      return "unspecified";
  }
}

std::string Bytes(uint64_t bytes) {
  return absl::StrFormat("%.2f GiB (%d bytes)", static_cast<double>(bytes) / (1ull << 30), bytes);
}

std::string Ms(double seconds) { return absl::StrFormat("%.3f", seconds * 1e3); }

void Row(std::string* out, std::initializer_list<std::string> cells, absl::string_view tag = "td") {
  out->append("<tr>");
  for (const std::string& c : cells) absl::StrAppend(out, "<", tag, ">", c, "</", tag, ">");
  out->append("</tr>\n");
}

void AppendGpu(const v1::GpuStatus& g, std::string* out) {
  out->append("<h2>GPU and VRAM</h2>\n<table>\n");
  Row(out, {"present", g.present() ? "yes" : "no"});
  Row(out, {"available", g.available() ? "yes" : "no"});
  if (!g.description().empty()) Row(out, {"device", HtmlEscape(g.description())});
  if (!g.unavailable_reason().empty()) Row(out, {"unavailable because", HtmlEscape(g.unavailable_reason())});
  if (g.present()) {
    Row(out, {"VRAM usable by a request", Bytes(g.vram_usable_bytes())});
    Row(out, {"VRAM free", Bytes(g.vram_free_bytes())});
    Row(out, {"VRAM total", Bytes(g.vram_total_bytes())});
    Row(out, {"reading", absl::StrFormat("%s, %.1f s old", HtmlEscape(g.vram_source()), g.vram_age_seconds())});
  }
  Row(out, {"failed memory queries", absl::StrCat(g.vram_query_failures())});
  out->append("</table>\n");
}

void AppendBreaker(const v1::BreakerStatus& b, std::string* out) {
  absl::StrAppend(out, "<h2>Circuit breaker: <span class=\"", HtmlEscape(b.state()), "\">", HtmlEscape(b.state()),
                  "</span></h2>\n<table>\n");
  Row(out, {"mode", HtmlEscape(b.mode())});
  if (b.state() == "open") Row(out, {"retry in", absl::StrFormat("%.1f s", b.retry_in_seconds())});
  Row(out, {"consecutive failures", absl::StrCat(b.consecutive_failures())});
  Row(out, {"trips since start", absl::StrCat(b.trips())});
  Row(out, {"last GPU error",
            b.last_error().empty()
                ? "none"
                : absl::StrFormat("%s (%.0f s ago)", HtmlEscape(b.last_error()), b.last_error_age_seconds())});
  for (const v1::BreakerStatus::Transition& t : b.transitions()) {
    Row(out, {absl::StrCat(HtmlEscape(t.from()), " &rarr; ", HtmlEscape(t.to())), absl::StrCat(t.count())});
  }
  out->append("</table>\n");
}

void AppendDecisions(const v1::DispatchCounts& c, std::string* out) {
  out->append("<h2>Decisions by rule</h2>\n<table>\n");
  Row(out, {"backend", "rule", "requests"}, "th");
  for (const v1::DispatchCounts::Decision& d : c.decisions()) {
    Row(out, {BackendName(d.backend()), HtmlEscape(d.rule()), absl::StrCat(d.count())});
  }
  out->append("</table>\n<table>\n");
  for (const v1::DispatchCounts::Fallback& f : c.fallbacks()) {
    Row(out, {absl::StrCat("fallbacks: ", HtmlEscape(f.reason())), absl::StrCat(f.count())});
  }
  Row(out, {"GPU out-of-memory events", absl::StrCat(c.gpu_out_of_memory_events())});
  Row(out, {"chunk retries", absl::StrCat(c.chunk_retries())});
  Row(out, {"GPU errors", absl::StrCat(c.gpu_errors())});
  Row(out, {"chunks (cpu / gpu)", absl::StrCat(c.cpu_chunks(), " / ", c.gpu_chunks())});
  out->append("</table>\n");
}

void AppendLatency(const v1::ServerStatus& s, std::string* out) {
  out->append("<h2>Latency by backend</h2>\n");
  for (const v1::OperationStatus& op : s.operations()) {
    absl::StrAppend(out, "<h3>", HtmlEscape(op.operation()), "</h3>\n<p>");
    for (const v1::OperationStatus::Window& w : op.windows()) {
      absl::StrAppend(out, BackendName(w.backend()), ": ", w.calls(), " recent calls, ",
                      absl::StrFormat("%.1f%%", 100 * w.success_rate()), " succeeded. ");
    }
    out->append("</p>\n");
    if (op.size_classes().empty()) continue;
    out->append("<table>\n");
    Row(out, {"size class", "min work (MACs)", "gpu speedup", "backend", "calls", "mean ms", "p50 ms", "p99 ms"},
        "th");
    for (const v1::SizeClassStatus& sc : op.size_classes()) {
      for (const v1::BackendCell& cell : sc.backends()) {
        Row(out, {absl::StrCat(sc.size_class()), absl::StrCat(sc.min_work()),
                  sc.gpu_speedup() > 0 ? absl::StrFormat("%.2f", sc.gpu_speedup()) : "-", BackendName(cell.backend()),
                  absl::StrCat(cell.calls()), Ms(cell.mean_seconds()), Ms(cell.p50_seconds()),
                  Ms(cell.p99_seconds())});
      }
    }
    out->append("</table>\n");
  }
}

void AppendTargetSets(const v1::TargetSetsStatus& t, std::string* out) {
  absl::StrAppend(out, "<h2>Target sets</h2>\n<table><tr><th>where</th><th>sets</th><th>bytes</th><th>cap</th></tr>\n",
                  absl::StrFormat("<tr><td>host</td><td>%d</td><td>%d</td><td>%d</td></tr>\n", t.sets(), t.bytes(),
                                  t.limit_bytes()),
                  absl::StrFormat("<tr><td>GPU (each)</td><td>%d</td><td>%d</td><td>%d</td></tr>\n", t.gpu_sets(),
                                  t.gpu_bytes(), t.gpu_limit_bytes()),
                  "</table>\n",
                  absl::StrFormat("<p>%d rows on the host; GPU uploads %d (%d failed), evictions %d. Not persistent: "
                                  "a restart empties the sets.</p>\n",
                                  t.rows(), t.gpu_uploads(), t.gpu_upload_failures(), t.gpu_evictions()));
}

}  // namespace

std::string HtmlEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out.append("&amp;");
        break;
      case '<':
        out.append("&lt;");
        break;
      case '>':
        out.append("&gt;");
        break;
      case '"':
        out.append("&quot;");
        break;
      case '\'':
        out.append("&#39;");
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string RenderStatusPage(const v1::ServerStatus& s) {
  std::string out =
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>simile status</title>\n"
      "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1em}"
      "td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}.open{color:#b00}.half_open{color:#b60}"
      ".closed{color:#070}</style></head><body>\n";
  absl::StrAppend(&out, "<h1>simile ", HtmlEscape(s.version()), "</h1>\n<p>commit ", HtmlEscape(s.commit()),
                  absl::StrFormat(", up %.0f s, %d requests in flight, configuration #%d from ", s.uptime_seconds(),
                                  s.in_flight_requests(), s.config_version()),
                  HtmlEscape(s.config_source()),
                  ". Machine-readable: <a href=\"/status\">/status</a> (JSON), <a href=\"/metrics\">/metrics</a>"
                  " (Prometheus).</p>\n");
  if (const v1::FaultInjectionStatus& f = s.fault_injection(); f.enabled()) {
    absl::StrAppend(&out,
                    absl::StrFormat("<p class=\"open\"><b>Fault injection is on (testing only)</b>: GPU errors "
                                    "%g, GPU out-of-memory %g, added GPU latency %g s, VRAM query failures %g",
                                    f.gpu_error_rate(), f.gpu_oom_rate(), f.gpu_added_latency_seconds(),
                                    f.vram_query_failure_rate()),
                    f.simulate_gpu() ? "; the GPU is simulated (computes on the CPU)" : "", ".</p>\n");
  } else if (f.simulate_gpu()) {
    out.append("<p class=\"open\"><b>The GPU is simulated (testing only)</b>: it computes on the CPU.</p>\n");
  }
  AppendBreaker(s.circuit_breaker(), &out);
  AppendDecisions(s.counts(), &out);
  AppendLatency(s, &out);
  AppendGpu(s.gpu(), &out);
  AppendTargetSets(s.target_sets(), &out);
  out.append("</body></html>\n");
  return out;
}

}  // namespace simile::server
