// TLS settings: incomplete or unreadable ones are refused with a message naming the flag and file;
// none means plaintext. (Working TLS and mTLS with real certificates: tests/e2e/tls_test.sh.)
#include "server/tls_credentials.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <string>
#include <utility>

namespace simile::server {
namespace {

// A file in a fresh temporary directory holding `contents`; removed with the object.
class TempFile {
 public:
  explicit TempFile(const std::string& contents) {
    char pattern[] = "/tmp/simile-tls-XXXXXX";
    const int fd = mkstemp(pattern);
    REQUIRE(fd >= 0);
    close(fd);
    path_ = pattern;
    std::ofstream(path_) << contents;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// TlsFiles from its three paths (designated initializers that skip a member warn under -Wextra).
TlsFiles Files(std::string cert, std::string key, std::string client_ca = "") {
  TlsFiles files;
  files.cert_path = std::move(cert);
  files.key_path = std::move(key);
  files.client_ca_path = std::move(client_ca);
  return files;
}

constexpr char kPem[] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

TEST_CASE("No TLS files give plaintext credentials", "[tls]") {
  CHECK_FALSE(TlsFiles{}.enabled());
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> c = MakeServerCredentials({});
  REQUIRE(c.ok());
  CHECK(*c != nullptr);
}

TEST_CASE("A key without a certificate, or a client CA alone, is refused", "[tls]") {
  TempFile pem(kPem);
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> key_only =
      MakeServerCredentials(Files("", pem.path()));
  CHECK(key_only.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(key_only.status().message().find("--tls_cert and --tls_key") != absl::string_view::npos);
  CHECK(MakeServerCredentials(Files("", "", pem.path())).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("An unreadable or non-PEM file is refused, naming its flag and path", "[tls]") {
  TempFile pem(kPem);
  TempFile garbage("not a certificate\n");
  absl::Status missing =
      MakeServerCredentials(Files("/nonexistent/server.pem", pem.path())).status();
  CHECK(missing.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(missing.message()) == "--tls_cert: cannot read '/nonexistent/server.pem'");
  absl::Status not_pem = MakeServerCredentials(Files(pem.path(), garbage.path())).status();
  CHECK(std::string(not_pem.message()) == "--tls_key: '" + garbage.path() + "' holds no PEM block");
  absl::Status bad_ca =
      MakeServerCredentials(Files(pem.path(), pem.path(), "/nonexistent")).status();
  CHECK(std::string(bad_ca.message()) == "--tls_client_ca: cannot read '/nonexistent'");
}

TEST_CASE("Certificate, key and client CA files that hold PEM give credentials", "[tls]") {
  // gRPC checks that the key matches the certificate only when the port is added (tls_test.sh
  // covers that).
  TempFile pem(kPem);
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> c =
      MakeServerCredentials(Files(pem.path(), pem.path(), pem.path()));
  REQUIRE(c.ok());
  CHECK(*c != nullptr);
}

}  // namespace
}  // namespace simile::server
