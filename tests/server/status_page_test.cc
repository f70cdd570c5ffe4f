// The HTML status page: what an operator looks for is on it, and text from the status is escaped.
#include "server/status_page.h"

#include <catch2/catch.hpp>

namespace simile::server {
namespace {

TEST_CASE("The status page shows breaker, decisions, latency and VRAM, escaping every text", "[status_page]") {
  v1::ServerStatus s;
  s.set_version("0.1.0");
  s.mutable_circuit_breaker()->set_state("open");
  s.mutable_circuit_breaker()->set_retry_in_seconds(4.2);
  s.mutable_circuit_breaker()->set_last_error("<script>alert('x')</script> & more");
  v1::DispatchCounts::Decision* d = s.mutable_counts()->add_decisions();
  d->set_backend(v1::BACKEND_GPU);
  d->set_rule("gpu_faster");
  d->set_count(17);
  v1::OperationStatus* op = s.add_operations();
  op->set_operation("many_queries");
  v1::SizeClassStatus* sc = op->add_size_classes();
  sc->set_size_class(12);
  sc->set_gpu_speedup(3.25);
  v1::BackendCell* cell = sc->add_backends();
  cell->set_backend(v1::BACKEND_CPU);
  cell->set_calls(9);
  cell->set_p50_seconds(0.0125);
  s.mutable_gpu()->set_present(true);
  s.mutable_gpu()->set_vram_total_bytes(80ull << 30);

  const std::string page = RenderStatusPage(s);
  CHECK_THAT(page, Catch::StartsWith("<!DOCTYPE html>"));
  CHECK_THAT(page, Catch::Contains("Circuit breaker: <span class=\"open\">open</span>"));
  CHECK_THAT(page, Catch::Contains("retry in</td><td>4.2 s"));
  CHECK_THAT(page, Catch::Contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"));
  CHECK(page.find("<script>") == std::string::npos);
  CHECK_THAT(page, Catch::Contains("<td>gpu</td><td>gpu_faster</td><td>17</td>"));
  CHECK_THAT(page, Catch::Contains("<td>12</td><td>0</td><td>3.25</td><td>cpu</td><td>9</td>"));
  CHECK_THAT(page, Catch::Contains("12.500"));  // p50 in ms.
  CHECK_THAT(page, Catch::Contains("VRAM total</td><td>80.00 GiB"));
  CHECK(HtmlEscape("a<b>&\"'") == "a&lt;b&gt;&amp;&quot;&#39;");
}

}  // namespace
}  // namespace simile::server
