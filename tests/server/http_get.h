// A minimal blocking HTTP/1.1 client for tests: one request per connection to 127.0.0.1:port, the whole
// response read until the server closes the connection.
#ifndef SIMILE_TESTS_SERVER_HTTP_GET_H_
#define SIMILE_TESTS_SERVER_HTTP_GET_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace simile::testing {

struct HttpResult {
  int status = 0;        // 0: no response (connection failed).
  std::string headers;   // The status line and headers, as received.
  std::string body;
};

// `method` GET, HEAD, POST...; `path` e.g. "/metrics".
inline HttpResult HttpRequest(int port, const std::string& path, const std::string& method = "GET") {
  HttpResult result;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return result;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return result;
  }
  const std::string request = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return result;
  }
  std::string response;
  char buf[16384];
  for (ssize_t n; (n = recv(fd, buf, sizeof(buf), 0)) > 0;) response.append(buf, static_cast<size_t>(n));
  close(fd);
  const size_t end = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.", 0) != 0 || end == std::string::npos) return result;
  result.status = std::stoi(response.substr(9, 3));
  result.headers = response.substr(0, end + 2);
  result.body = response.substr(end + 4);
  return result;
}

inline HttpResult HttpGet(int port, const std::string& path) { return HttpRequest(port, path, "GET"); }

}  // namespace simile::testing

#endif  // SIMILE_TESTS_SERVER_HTTP_GET_H_
