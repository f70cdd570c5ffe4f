// simile-server: serves simile.v1.Similarity over gRPC. Parses flags, starts the server, and turns
// signals into actions: SIGHUP reloads the configuration file, SIGTERM/SIGINT shut down gracefully.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/log.h"
#include "server/simile_server.h"

ABSL_FLAG(std::string, grpc_address, "0.0.0.0:50051",
          "Address the gRPC API listens on (host:port; port 0 picks a free port).");
ABSL_FLAG(std::string, metrics_address, "0.0.0.0:9464",
          "HTTP address (host:port; port 0 picks a free port) for /metrics (Prometheus), /status (JSON), / "
          "(status page), /healthz and /readyz. Empty: no HTTP server.");
ABSL_FLAG(std::string, config, "",
          "Configuration file in protobuf text format (simile.v1.ServerConfig; example: "
          "deploy/config/simile.pbtxt). Empty: built-in defaults. Re-read on SIGHUP.");
ABSL_FLAG(std::string, hardware_profile, "",
          "Hardware profile (same text format; written by simile-calibrate, e.g. "
          "deploy/profiles/*.pbtxt): "
          "measured dispatch thresholds, applied before --config. Re-read on SIGHUP.");
ABSL_FLAG(int, worker_threads, 0,
          "Worker threads that run requests and kernels; 0 means one per hardware thread.");
ABSL_FLAG(uint64_t, target_sets_max_bytes, uint64_t{4} << 30,
          "Host memory all uploaded target sets (simile.v1.TargetSets) may take, in bytes; uploads beyond it get "
          "RESOURCE_EXHAUSTED. Sets are not persistent: a restart empties them.");
ABSL_FLAG(int, max_receive_message_bytes, 64 * 1024 * 1024,
          "Largest request accepted, in bytes (gRPC answers RESOURCE_EXHAUSTED above it).");
ABSL_FLAG(
    absl::Duration, shutdown_grace, absl::Seconds(10),
    "On SIGTERM/SIGINT, how long in-flight requests may run before they are cancelled (e.g. 10s).");
ABSL_FLAG(std::string, log_level, "info",
          "Lowest log level written: debug, info, warning or error.");
ABSL_FLAG(
    std::string, port_file, "",
    "If set, write the bound gRPC port to this file once serving (for scripts that bind port 0).");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain for TLS on the gRPC port (with --tls_key). Empty: plaintext gRPC. Read once at "
          "start; the metrics port stays plaintext.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle for mutual TLS: every client must present a certificate that chains to it (needs "
          "--tls_cert and --tls_key). Empty: client certificates are not requested.");
ABSL_FLAG(std::string, metrics_port_file, "",
          "If set, write the bound HTTP (metrics) port to this file once serving (for scripts that bind "
          "port 0).");

namespace {

using simile::server::Log;
using simile::server::LogLevel;

// Blocks the signals simile handles in every thread (threads inherit the mask), so that only
// sigwait() below receives them.
sigset_t HandledSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

int main(int argc, char** argv) {
  // --help lists the flags defined in server/ (abseil's default matches only files named like the program).
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = [](absl::string_view path) {
    return absl::StrContains(path, "server/");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage(
      "batch cosine similarity over gRPC (simile.v1.Similarity) on CUDA GPUs and "
      "CPUs.\n"
      "Runs on the CPU alone when no GPU is usable. Signals: SIGHUP reloads --config; "
      "SIGTERM/SIGINT shut\n"
      "down gracefully.\nUsage: simile-server [--grpc_address=0.0.0.0:50051] [--config=FILE] "
      "[flags]");
  absl::ParseCommandLine(argc, argv);

  absl::StatusOr<LogLevel> level = simile::server::ParseLogLevel(absl::GetFlag(FLAGS_log_level));
  if (!level.ok()) {
    std::fprintf(stderr, "simile-server: --log_level: %s\n",
                 std::string(level.status().message()).c_str());
    return 2;
  }
  simile::server::SetLogLevel(*level);

  // Request and response buffers are tens of MiB and short-lived. With glibc's default the mmap threshold
  // adapts upwards after large frees (up to 32 MiB), so such buffers can end up in the heap and fragment it.
  // A fixed threshold keeps every allocation >= 4 MiB in its own mapping, returned to the system on free.
  mallopt(M_MMAP_THRESHOLD, 4 << 20);

  const sigset_t signals = HandledSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // Before any thread starts.

  simile::server::ServerOptions options;
  options.grpc_address = absl::GetFlag(FLAGS_grpc_address);
  options.worker_threads = absl::GetFlag(FLAGS_worker_threads);
  options.max_receive_message_bytes = absl::GetFlag(FLAGS_max_receive_message_bytes);
  options.target_sets_max_bytes = absl::GetFlag(FLAGS_target_sets_max_bytes);
  options.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  options.config_path = absl::GetFlag(FLAGS_config);
  options.hardware_profile_path = absl::GetFlag(FLAGS_hardware_profile);
  options.metrics_address = absl::GetFlag(FLAGS_metrics_address);
  options.tls.cert_path = absl::GetFlag(FLAGS_tls_cert);
  options.tls.key_path = absl::GetFlag(FLAGS_tls_key);
  options.tls.client_ca_path = absl::GetFlag(FLAGS_tls_client_ca);

  absl::StatusOr<std::unique_ptr<simile::server::SimileServer>> server =
      simile::server::SimileServer::Start(options);
  if (!server.ok()) {
    Log(LogLevel::kError, "start_failed", {{"error", server.status().ToString()}});
    return 1;
  }
  // The metrics port first: scripts wait for --port_file, then read both.
  if (const std::string port_file = absl::GetFlag(FLAGS_metrics_port_file); !port_file.empty()) {
    std::ofstream(port_file) << (*server)->metrics_port() << "\n";
  }
  if (const std::string port_file = absl::GetFlag(FLAGS_port_file); !port_file.empty()) {
    std::ofstream(port_file) << (*server)->grpc_port() << "\n";
  }

  for (;;) {
    int signal = 0;
    if (sigwait(&signals, &signal) != 0) continue;
    if (signal == SIGHUP) {
      (void)(*server)
          ->ReloadConfig();  // Logged either way; a bad file keeps the old configuration.
      continue;
    }
    Log(LogLevel::kInfo, "signal_received", {{"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"}});
    break;
  }
  (*server)->Shutdown();
  return 0;
}
