// HttpServer: a small HTTP/1.1 server (civetweb) for simile's operational endpoints. It serves a fixed set of
// paths, each produced by a handler function, on GET and HEAD; anything else is 404 (unknown path) or 405
// (other methods). Connections are not kept alive: each response closes its connection.
//
//   auto http = HttpServer::Start({.address = "127.0.0.1:0"},
//                                 {{"/healthz", [] { return HttpResponse{200, "text/plain", "ok\n"}; }}});
//   int port = (*http)->port();
//
// Stop() is fast: civetweb's mg_stop() waits for its listener thread, which only notices the stop flag when
// its poll() wakes up (every 2 s when idle), so Stop() wakes it with throw-away connections to the listening
// port while mg_stop() runs (tens of milliseconds instead of seconds).
//
// Thread safety: handlers run on civetweb's worker threads, several at once; they must be thread-safe.
// Stop() may be called from any thread, more than once; port() at any time.
#ifndef SIMILE_SERVER_HTTP_SERVER_H_
#define SIMILE_SERVER_HTTP_SERVER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/mutex.h"

struct mg_context;
struct mg_connection;

namespace simile::server {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Produces the response to a GET of one path (HEAD sends the same headers without the body).
using HttpHandler = std::function<HttpResponse()>;

class HttpServer {
 public:
  struct Options {
    // "host:port" to listen on; port 0 picks a free port (read it back with port()). "[::]:9464" for IPv6.
    std::string address = "0.0.0.0:9464";
    // Worker threads: scrapes and probes are short; a few keep probes answered while a slow client holds one
    // (for up to request_timeout).
    int threads = 4;
    // A client that sends its request slower than this is disconnected.
    absl::Duration request_timeout = absl::Seconds(10);
  };

  // Starts serving `routes` (exact paths; query strings are ignored). Unavailable with civetweb's reason when
  // the address cannot be bound; InvalidArgument for a malformed address.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const Options& options,
                                                                         std::map<std::string, HttpHandler> routes);

  ~HttpServer();  // Stops.
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound TCP port.
  [[nodiscard]] int port() const { return port_; }

  // Closes the listener and waits for handlers in progress to finish. Idempotent.
  void Stop();

 private:
  HttpServer(std::map<std::string, HttpHandler> routes, std::string poke_host);

  static int HandleRequest(mg_connection* conn, void* self);
  static int LogMessage(const mg_connection* conn, const char* message);

  const std::map<std::string, HttpHandler> routes_;  // Constant after construction.
  const std::string poke_host_;                       // Where Stop() connects to wake the listener.
  int port_ = 0;                                      // Constant once Start returns.

  Mutex mu_;
  mg_context* ctx_ ABSL_GUARDED_BY(mu_) = nullptr;  // Null once stopped.
};

}  // namespace simile::server

#endif  // SIMILE_SERVER_HTTP_SERVER_H_
