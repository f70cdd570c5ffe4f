// SimileServer: builds and owns everything a running simile process serves with (thread pool,
// backends, executor, gRPC server with health checking and reflection, metrics and the HTTP endpoint
// for /metrics, /status, /, /healthz and /readyz) and runs its lifecycle: start, configuration reload,
// graceful shutdown.
//
// main.cc parses flags into ServerOptions and calls Start(); tests call Start() in-process on port
// 0.
//
// Thread safety: ReloadConfig, health changes and Shutdown may be called from any thread; Shutdown
// is idempotent.
#ifndef SIMILE_SERVER_SIMILE_SERVER_H_
#define SIMILE_SERVER_SIMILE_SERVER_H_

#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server.h>

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/config_store.h"
#include "core/cpu_backend.h"
#include "core/executor.h"
#include "core/fault_injecting_backend.h"
#include "core/fault_injector.h"
#include "core/multi_gpu_backend.h"
#include "core/mutex.h"
#include "core/thread_pool.h"
#include "kernels/gpu_backend.h"
#include "server/admin_service.h"
#include "server/http_server.h"
#include "server/similarity_service.h"
#include "server/target_sets_service.h"
#include "server/simile_metrics.h"
#include "server/tls_credentials.h"

namespace simile::server {

struct ServerOptions {
  // Address the gRPC server listens on; port 0 picks a free port (read it back with grpc_port()).
  std::string grpc_address = "0.0.0.0:50051";
  // Worker threads for request execution and kernels; 0 means one per hardware thread.
  int worker_threads = 0;
  // A pool to run on instead of creating one (not owned; must outlive the server; worker_threads is then
  // ignored). For embedding simile in a process that has its own pool, and for tests that need to hold the
  // workers.
  ThreadPool* pool = nullptr;
  // Largest request accepted, in bytes; larger ones get gRPC's own RESOURCE_EXHAUSTED.
  int max_receive_message_bytes = 64 * 1024 * 1024;
  // On shutdown, how long in-flight requests may take to finish before they are cancelled.
  absl::Duration shutdown_grace = absl::Seconds(10);
  // Configuration file (protobuf text format); empty means defaults. Re-read by ReloadConfig().
  std::string config_path;
  // Hardware profile (same schema; written by the calibration tool), applied before config_path.
  // Re-read by ReloadConfig() too.
  std::string hardware_profile_path;
  // HTTP address ("host:port") for /metrics, /status, /, /healthz and /readyz; port 0 picks a free port (read
  // it back with metrics_port()). Empty: no HTTP server (the default here, so that in-process servers bind
  // nothing extra; simile-server's --metrics_address defaults to 0.0.0.0:9464).
  std::string metrics_address;
  // Worker threads of the HTTP server.
  int metrics_threads = 4;
  // TLS for the gRPC port (PEM files; none set: plaintext). The HTTP port stays plaintext: bind it to an
  // address only Prometheus reaches (metrics_address).
  TlsFiles tls;
  // Host memory all target sets (simile.v1.TargetSets) may take, in bytes.
  uint64_t target_sets_max_bytes = uint64_t{4} << 30;
  // Test seam: serve with this GPU backend (not owned; must outlive the server) instead of creating
  // the CUDA backends. Null (the default): one CUDA backend per visible GPU, if any.
  Backend* gpu_backend_for_testing = nullptr;
};

class SimileServer {
 public:
  // Loads the configuration, probes for GPUs, starts serving. Errors: the configuration's error,
  // InvalidArgument for incomplete or unreadable TLS files (checked before anything else starts), or
  // Unavailable when the address cannot be bound (or gRPC refuses the TLS key and certificate).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<SimileServer>> Start(
      const ServerOptions& options);

  ~SimileServer();
  SimileServer(const SimileServer&) = delete;
  SimileServer& operator=(const SimileServer&) = delete;

  [[nodiscard]] int grpc_port() const { return grpc_port_; }
  // The bound HTTP port; 0 when ServerOptions::metrics_address is empty.
  [[nodiscard]] int metrics_port() const { return http_ != nullptr ? http_->port() : 0; }

  // What GET /metrics returns: every family, mirrored values refreshed now.
  [[nodiscard]] std::string ScrapeMetrics();
  // What GET /readyz reports: true from the moment the server serves until shutdown begins (when the gRPC
  // health service goes NOT_SERVING too).
  [[nodiscard]] bool ready() const { return ready_.load(std::memory_order_acquire); }

  // Re-reads the configuration file. An invalid file is rejected (the error is returned and logged)
  // and the configuration in force is kept.
  absl::Status ReloadConfig();

  // Health goes NOT_SERVING, new RPCs are refused, in-flight RPCs get until the grace period ends
  // to finish (then they are cancelled), and the worker pool drains. Blocks until all of that is
  // done.
  void Shutdown();

  [[nodiscard]] const ConfigStore& config() const { return *config_; }

  // The status the Admin service reports.
  [[nodiscard]] const AdminService& admin() const { return *admin_; }

  // Cosine requests refused by admission control since start.
  [[nodiscard]] uint64_t admission_rejections() const { return service_->Rejected(); }

  // Cosine requests received and not yet answered.
  [[nodiscard]] int64_t in_flight_requests() const { return service_->InFlight(); }

  // Fault injection in force and faults injected so far.
  [[nodiscard]] FaultInjectionSnapshot fault_injection() const { return faults_->Snapshot(); }
  // The gRPC health-checking service name that reports the GPU path: SERVING while a GPU backend
  // is usable and its circuit breaker is closed; NOT_SERVING without a GPU, after a sticky device
  // error, and while the breaker is open or half-open (requests then run on the CPU).
  static constexpr char kGpuHealthServiceName[] = "simile.v1.Gpu";

 private:
  SimileServer(const ServerOptions& options, ServingConfig initial);

  // Starts the HTTP endpoint on options_.metrics_address.
  [[nodiscard]] absl::Status StartHttp();
  // Creates one GPU backend per visible device (none without CUDA or a GPU: that is logged once)
  // into device_gpu_ (the caller puts it behind the fault injector), and sets
  // `components`' gpu_unavailable_reason when there is none.
  void SetUpGpus(Executor::Components* components);
  // Sets the "simile.v1.Gpu" health status from the GPU's availability and the breaker's state.
  void UpdateGpuHealth(BreakerState breaker_state);

  const ServerOptions options_;
  std::unique_ptr<ConfigStore> config_;
  std::unique_ptr<ThreadPool> owned_pool_;  // Null when ServerOptions::pool was given.
  ThreadPool* pool_ = nullptr;
  std::unique_ptr<CpuBackend> cpu_;
  std::unique_ptr<kernels::GpuBackendSet> gpus_;  // Null without a usable GPU.
  std::unique_ptr<MultiGpuBackend> multi_gpu_;    // Set when there are several GPUs.
  Backend* device_gpu_ = nullptr;                 // The real GPU(s), before fault injection; null without.
  // Fault injection (configuration section fault_injection; testing only), in front of the GPU backend.
  std::unique_ptr<FaultInjector> faults_;
  std::unique_ptr<Backend> simulated_gpu_;       // Only with fault_injection.simulate_gpu and no real GPU.
  std::unique_ptr<FaultInjectingBackend> gpu_;   // Wraps the GPU backend; null without one.
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<SimileMetrics> metrics_;
  std::unique_ptr<SimilarityService> service_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<TargetSetStore> target_sets_;
  std::unique_ptr<TargetSetsService> target_sets_service_;
  std::unique_ptr<grpc::Server> server_;
  // server_'s health service once it is started (release), read by the breaker listener (acquire),
  // which may run on any request thread.
  std::atomic<grpc::HealthCheckServiceInterface*> health_{nullptr};
  int grpc_port_ = 0;
  std::unique_ptr<HttpServer> http_;  // Null without metrics_address.
  // Release/acquire: a reader that sees true also sees the started server (nothing else depends on it).
  std::atomic<bool> ready_{false};

  Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace simile::server

#endif  // SIMILE_SERVER_SIMILE_SERVER_H_
