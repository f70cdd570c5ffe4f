// A real simile server started in-process on 127.0.0.1:0, and a stub connected to it, for
// end-to-end tests.
#ifndef SIMILE_TESTS_SERVER_SERVER_FIXTURE_H_
#define SIMILE_TESTS_SERVER_SERVER_FIXTURE_H_

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "server/log.h"
#include "server/simile_server.h"
#include "simile/v1/similarity.grpc.pb.h"

namespace simile::testing {

class ServerFixture {
 public:
  // `config_text` (protobuf text format) is written to a temporary config file when non-empty.
  explicit ServerFixture(const std::string& config_text = "", server::ServerOptions options = {}) {
    server::SetLogLevel(server::LogLevel::kError);  // Keep test output readable.
    options.grpc_address = "127.0.0.1:0";
    if (options.worker_threads == 0) options.worker_threads = 2;
    if (!config_text.empty()) {
      char path[] = "/tmp/simile-test-config-XXXXXX";
      const int fd = mkstemp(path);
      REQUIRE(fd >= 0);
      close(fd);
      config_path_ = path;
      std::ofstream(config_path_) << config_text;
      options.config_path = config_path_;
    }
    auto server = server::SimileServer::Start(options);
    REQUIRE(server.ok());
    server_ = *std::move(server);
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    args.SetMaxSendMessageSize(-1);
    channel_ = grpc::CreateCustomChannel(address(), grpc::InsecureChannelCredentials(), args);
    stub_ = v1::Similarity::NewStub(channel_);
  }

  ~ServerFixture() {
    server_.reset();
    if (!config_path_.empty()) std::remove(config_path_.c_str());
  }

  [[nodiscard]] std::string address() const {
    return "127.0.0.1:" + std::to_string(server_->grpc_port());
  }
  [[nodiscard]] v1::Similarity::Stub& stub() { return *stub_; }
  [[nodiscard]] server::SimileServer& server() { return *server_; }
  [[nodiscard]] const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  [[nodiscard]] const std::string& config_path() const { return config_path_; }

  grpc::Status Cosine(const v1::CosineRequest& request, v1::CosineResponse* response,
                      std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + timeout);
    return stub_->Cosine(&context, request, response);
  }

 private:
  std::string config_path_;
  std::unique_ptr<server::SimileServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Similarity::Stub> stub_;
};

}  // namespace simile::testing

#endif  // SIMILE_TESTS_SERVER_SERVER_FIXTURE_H_
