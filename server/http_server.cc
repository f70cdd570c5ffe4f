#include "server/http_server.h"

#include <civetweb.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/log.h"

namespace simile::server {
namespace {

// How often Stop() wakes civetweb's listener while mg_stop() runs.
constexpr auto kPokeInterval = std::chrono::milliseconds(5);

// One throw-away connection to host:port (the listener wakes up, accepts it, and sees the stop flag).
void Poke(const addrinfo* target) {
  const int fd = socket(target->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  (void)connect(fd, target->ai_addr, target->ai_addrlen);
  close(fd);
}

}  // namespace

HttpServer::HttpServer(std::map<std::string, HttpHandler> routes, std::string poke_host)
    : routes_(std::move(routes)), poke_host_(std::move(poke_host)) {}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const Options& options,
                                                              std::map<std::string, HttpHandler> routes) {
  static std::once_flag init_once;
  std::call_once(init_once, [] { mg_init_library(0); });

  // "host:port", where host may be "[v6 address]".
  const size_t colon = options.address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(absl::string_view(options.address).substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP address '", options.address, "' is not host:port (e.g. 0.0.0.0:9464)"));
  }
  std::string host = options.address.substr(0, colon);
  // The wildcard addresses are reached through loopback; brackets come off an IPv6 literal.
  std::string poke_host = host;
  if (host.empty() || host == "0.0.0.0") poke_host = "127.0.0.1";
  if (host == "[::]") poke_host = "::1";
  if (poke_host.size() > 2 && poke_host.front() == '[' && poke_host.back() == ']') {
    poke_host = poke_host.substr(1, poke_host.size() - 2);
  }
  const std::string listening = host.empty() ? absl::StrCat(port) : options.address;

  std::unique_ptr<HttpServer> server(new HttpServer(std::move(routes), std::move(poke_host)));
  const std::string threads = absl::StrCat(options.threads < 1 ? 1 : options.threads);
  const std::string timeout_ms = absl::StrCat(absl::ToInt64Milliseconds(options.request_timeout));
  const char* config[] = {"listening_ports",    listening.c_str(), "num_threads",       threads.c_str(),
                          "request_timeout_ms", timeout_ms.c_str(), "enable_keep_alive", "no",
                          nullptr};
  mg_callbacks callbacks{};
  callbacks.log_message = &HttpServer::LogMessage;
  mg_init_data init{};
  init.callbacks = &callbacks;
  init.user_data = server.get();
  init.configuration_options = config;
  unsigned code = 0;
  char text[256] = "";
  mg_error_data error{};
  error.code = &code;
  error.text = text;
  error.text_buffer_size = sizeof(text);
  mg_context* ctx = mg_start2(&init, &error);
  if (ctx == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot serve HTTP on ", options.address, ": ", text));
  }
  mg_set_request_handler(ctx, "/", &HttpServer::HandleRequest, server.get());
  mg_server_port ports[4] = {};
  const int n = mg_get_server_ports(ctx, 4, ports);
  server->port_ = n > 0 ? ports[0].port : 0;
  {
    MutexLock lock(&server->mu_);
    server->ctx_ = ctx;
  }
  return server;
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  MutexLock lock(&mu_);  // A second caller waits until the first has stopped the server.
  if (ctx_ == nullptr) return;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* target = nullptr;
  const std::string port = absl::StrCat(port_);
  if (getaddrinfo(poke_host_.c_str(), port.c_str(), &hints, &target) != 0) target = nullptr;
  // Release: `done` is the only thing the loop reads from the stopping thread.
  std::atomic<bool> done{false};
  mg_context* const ctx = ctx_;
  std::thread stopper([ctx, &done] {
    mg_stop(ctx);
    done.store(true, std::memory_order_release);
  });
  while (!done.load(std::memory_order_acquire)) {
    if (target != nullptr) Poke(target);
    std::this_thread::sleep_for(kPokeInterval);
  }
  stopper.join();
  if (target != nullptr) freeaddrinfo(target);
  ctx_ = nullptr;
}

int HttpServer::HandleRequest(mg_connection* conn, void* self_ptr) {
  const HttpServer* self = static_cast<const HttpServer*>(self_ptr);
  const mg_request_info* request = mg_get_request_info(conn);
  const absl::string_view method = request->request_method != nullptr ? request->request_method : "";
  const std::string path = request->local_uri != nullptr ? request->local_uri : "";
  const bool head = method == "HEAD";
  HttpResponse response;
  std::string extra_headers;
  const auto route = self->routes_.find(path);
  if (route == self->routes_.end()) {
    response = HttpResponse{404, "text/plain; charset=utf-8", "not found\n"};
  } else if (method != "GET" && !head) {
    response = HttpResponse{405, "text/plain; charset=utf-8", "method not allowed\n"};
    extra_headers = "Allow: GET, HEAD\r\n";
  } else {
    response = route->second();
  }
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
            "Connection: close\r\n%s\r\n",
            response.status, mg_get_response_code_text(conn, response.status), response.content_type.c_str(),
            response.body.size(), extra_headers.c_str());
  if (!head) mg_write(conn, response.body.data(), response.body.size());
  return response.status;
}

int HttpServer::LogMessage(const mg_connection* /*conn*/, const char* message) {
  Log(LogLevel::kWarning, "http_server_error",
      {{"message", absl::StripAsciiWhitespace(message != nullptr ? message : "")}});
  return 1;  // Logged here; civetweb writes nothing itself.
}

}  // namespace simile::server
