// Runs the `simile` CLI and the end-to-end scripts (cli_e2e_test.sh, python_client_test.sh) against
// FakeServer, so that the CLI, the Python client and the scripts themselves are exercised without
// the real server. Needs the build's `simile` binary (and, for the Python test, the generated stubs
// and /usr/bin/python3 with grpc and numpy; without those that one test only warns).
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>

#include "tests/client/fake_similarity_service.h"

namespace simile::client {
namespace {

using simile::testing::FakeServer;

struct Dirs {
  std::string build;
  std::string source;
};

// SIMILE_BUILD_DIR / SIMILE_SOURCE_DIR when set; otherwise the build tree this binary sits in
// (<build>/tests/simile_client_tests) and the source tree this file was compiled from.
bool GetDirs(Dirs* dirs) {
  const char* build = std::getenv("SIMILE_BUILD_DIR");    // NOLINT(concurrency-mt-unsafe)
  const char* source = std::getenv("SIMILE_SOURCE_DIR");  // NOLINT(concurrency-mt-unsafe)
  std::error_code error;
  dirs->build = build != nullptr ? build
                                 : std::filesystem::read_symlink("/proc/self/exe", error)
                                       .parent_path()
                                       .parent_path()
                                       .string();
  dirs->source =
      source != nullptr
          ? source
          : std::filesystem::path(__FILE__).parent_path().parent_path().parent_path().string();
  if (!std::filesystem::exists(dirs->build + "/client/simile") ||
      !std::filesystem::exists(dirs->source + "/tests/client/cli_e2e_test.sh")) {
    FAIL_CHECK("cannot find client/simile under "
               << dirs->build << " or tests/client under " << dirs->source
               << ": build the simile target; set SIMILE_BUILD_DIR and "
                  "SIMILE_SOURCE_DIR");
    return false;
  }
  return true;
}

// Runs `command` through the shell; returns its exit code (or -1 if it did not exit normally).
int Run(const std::string& command) {
  const int status = std::system(command.c_str());  // NOLINT(concurrency-mt-unsafe)
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_CASE("cli: usage errors exit 2 and refused inputs exit 1, before any call", "[client][cli]") {
  Dirs dirs;
  if (!GetDirs(&dirs)) {
    return;
  }
  const std::string simile = dirs.build + "/client/simile";
  CHECK(Run(simile + " 2>/dev/null") == 2);
  CHECK(Run(simile + " frobnicate 2>/dev/null") == 2);
  CHECK(Run(simile + " cosine --placement=tpu 2>/dev/null") == 2);
  CHECK(Run(simile + " cosine --encoding=bytes 2>/dev/null") == 2);
  CHECK(Run(simile + " cosine --out_indices=/tmp/x.npy 2>/dev/null") == 2);
  CHECK(Run(simile + " cosine --queries=/nonexistent/q.npy 2>/dev/null") == 1);
  CHECK(Run(simile + " health --address=127.0.0.1:1 --deadline_ms=2000 2>/dev/null") == 1);
}

TEST_CASE("cli: health exits 0 only while SERVING", "[client][cli]") {
  Dirs dirs;
  if (!GetDirs(&dirs)) {
    return;
  }
  FakeServer server;
  const std::string health = dirs.build + "/client/simile health --address=" + server.address();
  CHECK(Run(health + " >/dev/null") == 0);
  server.health().SetServingStatus(false);
  CHECK(Run(health + " >/dev/null") == 1);
  CHECK(Run(health + " --service=no.such.Service 2>/dev/null") == 1);
}

TEST_CASE("cli: --check exits 1 when the server's scores are wrong", "[client][cli]") {
  Dirs dirs;
  if (!GetDirs(&dirs)) {
    return;
  }
  FakeServer server;
  server.service().set_responder(
      [](const v1::CosineRequest& request, v1::CosineResponse* response) {
        grpc::Status s = simile::testing::ComputeCosine(request, response);
        if (response->top_k() == 0) {
          response->mutable_scores()->set_values(3, response->scores().values(3) + 1e-4f);
        } else {
          response->mutable_top_indices()->SwapElements(0, 1);
        }
        return s;
      });
  const std::string cosine =
      dirs.build +
      "/client/simile cosine --encoding=values --q=2 --n=20 --dim=8 --address=" + server.address();
  CHECK(Run(cosine + " >/dev/null") == 0);
  CHECK(Run(cosine + " --check >/dev/null 2>&1") == 1);
  CHECK(Run(cosine + " --check --check_tolerance=1e-3 >/dev/null") == 0);
  CHECK(Run(cosine + " --top_k=3 --check >/dev/null 2>&1") == 1);
}

TEST_CASE("scripts: cli_e2e_test.sh passes against the fake server", "[client][cli][scripts]") {
  Dirs dirs;
  if (!GetDirs(&dirs)) {
    return;
  }
  FakeServer server;
  CHECK(Run("bash " + dirs.source + "/tests/client/cli_e2e_test.sh " + server.address() + " " +
            dirs.build) == 0);
}

TEST_CASE("scripts: python_client_test.sh passes against the fake server",
          "[client][python][scripts]") {
  Dirs dirs;
  if (!GetDirs(&dirs)) {
    return;
  }
  if (Run("/usr/bin/python3 -c 'import grpc, numpy' 2>/dev/null") != 0 ||
      !std::filesystem::exists(dirs.build + "/python/simile/v1/similarity_pb2.py")) {
    WARN(
        "skipped: /usr/bin/python3 with grpc and numpy, or the generated Python stubs, are "
        "missing");
    return;
  }
  FakeServer server;
  CHECK(Run("bash " + dirs.source + "/tests/client/python_client_test.sh " + server.address() +
            " " + dirs.build) == 0);
}

}  // namespace
}  // namespace simile::client
