// TLS for the gRPC listener: turns the PEM file paths of ServerOptions into
// grpc::ServerCredentials, refusing incomplete or unreadable settings at start-up with a message
// that names the file and flag.
//
//   TlsFiles files{.cert_path = "server.crt", .key_path = "server.key", .client_ca_path =
//   "ca.crt"}; absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> creds =
//   MakeServerCredentials(files);
//
// No paths: insecure (plaintext) credentials. cert + key: TLS. cert + key + client CA: mutual TLS,
// every client must present a certificate signed by that CA
// (GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY). The files are read once, at start;
// rotating certificates needs a restart (a rolling one in Kubernetes).
//
// Thread safety: a pure function of its argument and the files' contents.
#ifndef SIMILE_SERVER_TLS_CREDENTIALS_H_
#define SIMILE_SERVER_TLS_CREDENTIALS_H_

#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace simile::server {

struct TlsFiles {
  // PEM certificate chain the server presents (--tls_cert). Empty, with key_path empty: plaintext.
  std::string cert_path;
  // PEM private key of that certificate (--tls_key).
  std::string key_path;
  // PEM CA bundle that client certificates must chain to (--tls_client_ca). Non-empty: mutual TLS.
  std::string client_ca_path;

  [[nodiscard]] bool enabled() const {
    return !cert_path.empty() || !key_path.empty() || !client_ca_path.empty();
  }
};

// Credentials for grpc::ServerBuilder::AddListeningPort. Errors: InvalidArgument when only some of
// the paths needed are set (a key without its certificate, a client CA without a server
// certificate), or a file cannot be read, is empty or holds no PEM block.
[[nodiscard]] absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& files);

}  // namespace simile::server

#endif  // SIMILE_SERVER_TLS_CREDENTIALS_H_
