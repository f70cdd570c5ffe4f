// HttpServer over civetweb: routes, methods, status codes, port 0, bind errors, and a fast Stop() after serving.
#include "server/http_server.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "server/log.h"
#include "tests/server/http_get.h"

namespace simile::server {
namespace {

using testing::HttpGet;
using testing::HttpRequest;

std::unique_ptr<HttpServer> StartTestServer(const std::string& address = "127.0.0.1:0") {
  SetLogLevel(LogLevel::kError);
  std::map<std::string, HttpHandler> routes;
  routes["/hello"] = [] { return HttpResponse{200, "text/plain; charset=utf-8", "hello\n"}; };
  routes["/down"] = [] { return HttpResponse{503, "text/plain; charset=utf-8", "down\n"}; };
  HttpServer::Options options;
  options.address = address;
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Start(options, std::move(routes));
  REQUIRE(server.ok());
  return *std::move(server);
}

TEST_CASE("HttpServer serves its routes on a free port and refuses the rest", "[http]") {
  std::unique_ptr<HttpServer> server = StartTestServer();
  REQUIRE(server->port() > 0);
  const testing::HttpResult hello = HttpGet(server->port(), "/hello");
  CHECK(hello.status == 200);
  CHECK(hello.body == "hello\n");
  CHECK_THAT(hello.headers, Catch::Contains("Content-Type: text/plain; charset=utf-8\r\n"));
  CHECK_THAT(hello.headers, Catch::Contains("Content-Length: 6\r\n"));
  CHECK(HttpGet(server->port(), "/hello?x=1").body == "hello\n");  // Query strings are ignored.
  CHECK(HttpGet(server->port(), "/down").status == 503);
  CHECK(HttpGet(server->port(), "/nope").status == 404);
  CHECK(HttpGet(server->port(), "/hello/more").status == 404);
  const testing::HttpResult head = HttpRequest(server->port(), "/hello", "HEAD");
  CHECK(head.status == 200);
  CHECK(head.body.empty());
  CHECK_THAT(head.headers, Catch::Contains("Content-Length: 6\r\n"));
  const testing::HttpResult post = HttpRequest(server->port(), "/hello", "POST");
  CHECK(post.status == 405);
  CHECK_THAT(post.headers, Catch::Contains("Allow: GET, HEAD\r\n"));
}

TEST_CASE("HttpServer stops in well under civetweb's 2 s idle poll after serving", "[http]") {
  std::unique_ptr<HttpServer> server = StartTestServer();
  const int port = server->port();
  for (int i = 0; i < 5; ++i) REQUIRE(HttpGet(port, "/hello").status == 200);
  const auto start = std::chrono::steady_clock::now();
  server->Stop();
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(took < std::chrono::milliseconds(500));
  CHECK(HttpGet(port, "/hello").status == 0);  // Nothing listens any more.
  server->Stop();                              // Idempotent.
}

TEST_CASE("HttpServer reports an address it cannot use", "[http]") {
  std::unique_ptr<HttpServer> first = StartTestServer();
  HttpServer::Options options;
  options.address = "127.0.0.1:" + std::to_string(first->port());
  absl::StatusOr<std::unique_ptr<HttpServer>> taken = HttpServer::Start(options, {});
  CHECK(taken.status().code() == absl::StatusCode::kUnavailable);
  options.address = "no-port-here";
  CHECK(HttpServer::Start(options, {}).status().code() == absl::StatusCode::kInvalidArgument);
  options.address = "127.0.0.1:70000";
  CHECK(HttpServer::Start(options, {}).status().code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace simile::server
