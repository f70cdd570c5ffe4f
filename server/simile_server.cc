#include "server/simile_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/clock.h"
#include "kernels/gpu_backend.h"
#include "kernels/gpu_probe.h"
#include "server/admin_service.h"
#include "server/config_file.h"
#include "server/log.h"

namespace simile::server {
namespace {

// The health-checking service names clients may ask about: "" (the whole server) and the API
// service.
constexpr char kSimilarityServiceName[] = "simile.v1.Similarity";

// How long the server keeps its connections open after the last in-flight response (see Shutdown).
constexpr absl::Duration kResponseFlushLinger = absl::Milliseconds(200);

int ResolveThreads(int requested) {
  if (requested > 0) return requested;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

}  // namespace

SimileServer::SimileServer(const ServerOptions& options, ServingConfig initial)
    : options_(options), config_(std::make_unique<ConfigStore>(std::move(initial))) {}

absl::StatusOr<std::unique_ptr<SimileServer>> SimileServer::Start(const ServerOptions& options) {
  absl::StatusOr<ServingConfig> initial =
      LoadServingConfig(options.config_path, options.hardware_profile_path);
  if (!initial.ok()) return initial.status();
  std::unique_ptr<SimileServer> s(new SimileServer(options, *std::move(initial)));

  const int threads = ResolveThreads(options.worker_threads);
  if (options.pool == nullptr) {
    s->owned_pool_ = std::make_unique<ThreadPool>(threads);
    s->pool_ = s->owned_pool_.get();
  } else {
    s->pool_ = options.pool;
  }
  s->cpu_ = std::make_unique<CpuBackend>(s->pool_);

  Executor::Components components;
  components.cpu = s->cpu_.get();
  components.clock = SteadyClock::Default();
  components.config = s->config_.get();
  s->SetUpGpus(&components);
  SimileServer* server = s.get();
  components.on_breaker_transition = [server](const BreakerTransition& t) {
    Log(t.to == BreakerState::kOpen ? LogLevel::kWarning : LogLevel::kInfo,
        "circuit_breaker_transition",
        {{"from", Name(t.from)},
         {"to", Name(t.to)},
         {"cool_down_seconds", absl::ToDoubleSeconds(t.cool_down)},
         {"consecutive_failures", t.consecutive_failures},
         {"last_error", t.last_error}});
    server->UpdateGpuHealth(t.to);
  };
  absl::StatusOr<std::unique_ptr<Executor>> executor = Executor::Create(std::move(components));
  if (!executor.ok()) return executor.status();
  s->executor_ = *std::move(executor);
  s->service_ = std::make_unique<SimilarityService>(s->executor_.get(), s->pool_,
                                                    SteadyClock::Default(), s->config_.get());
  SimilarityService* similarity = s->service_.get();
  s->admin_ = std::make_unique<AdminService>(s->executor_.get(), SteadyClock::Default(),
                                             SteadyClock::Default()->Now(),
                                             [similarity] { return similarity->InFlight(); });

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.grpc_address, grpc::InsecureServerCredentials(), &s->grpc_port_);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  builder.RegisterService(s->service_.get());
  builder.RegisterService(s->admin_.get());
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || s->grpc_port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.grpc_address));
  }
  grpc::HealthCheckServiceInterface* health = s->server_->GetHealthCheckService();
  health->SetServingStatus(true);
  health->SetServingStatus(kSimilarityServiceName, true);
  s->health_.store(health, std::memory_order_release);
  s->UpdateGpuHealth(s->executor_->Snapshot().breaker.state);

  const ServingConfig& config = *s->config_->Current();
  Log(LogLevel::kInfo, "server_started",
      {{"grpc_address", options.grpc_address},
       {"grpc_port", s->grpc_port_},
       {"worker_threads", s->pool_->num_threads()},
       {"max_receive_message_bytes", options.max_receive_message_bytes},
       {"config_source", config.source},
       {"config_version", config.version},
       {"limits.max_dim", config.limits.max_dim},
       {"limits.max_queries", config.limits.max_queries},
       {"limits.max_targets", config.limits.max_targets},
       {"limits.max_result_elements", config.limits.max_result_elements}});
  return s;
}

void SimileServer::SetUpGpus(Executor::Components* components) {
  if (options_.gpu_backend_for_testing != nullptr) {
    gpu_ = options_.gpu_backend_for_testing;
    components->gpu = gpu_;
    return;
  }
  kernels::GpuBackendOptions options;
  options.host_pool = pool_;
  absl::StatusOr<kernels::GpuBackendSet> gpus = kernels::CreateGpuBackends(options);
  if (!gpus.ok()) {
    // Said once, clearly, at start-up; every request then runs on the CPU. The executor's messages
    // already say "no usable GPU: ", so the factory's prefix is dropped.
    std::string reason(gpus.status().message());
    if (absl::StartsWith(reason, "no usable GPU: ")) reason.erase(0, sizeof("no usable GPU: ") - 1);
    components->gpu_unavailable_reason = reason;
    Log(LogLevel::kWarning, "gpu_unavailable",
        {{"reason", reason}, {"built_with_cuda", kernels::BuiltWithCuda()}});
    return;
  }
  for (const std::string& why : gpus->skipped_devices) {
    Log(LogLevel::kWarning, "gpu_skipped", {{"reason", why}});
  }
  for (const std::unique_ptr<Backend>& gpu : gpus->backends) {
    Log(LogLevel::kInfo, "gpu_ready", {{"device", gpu->description()}});
  }
  gpus_ = std::make_unique<kernels::GpuBackendSet>(*std::move(gpus));
  gpu_ = gpus_->backends.front().get();
  if (gpus_->backends.size() > 1) {
    std::vector<Backend*> devices;
    for (const std::unique_ptr<Backend>& gpu : gpus_->backends) devices.push_back(gpu.get());
    multi_gpu_ = *MultiGpuBackend::Create(std::move(devices));  // Valid: non-empty, all GPUs.
    gpu_ = multi_gpu_.get();
  }
  components->gpu = gpu_;
}

void SimileServer::UpdateGpuHealth(BreakerState breaker_state) {
  grpc::HealthCheckServiceInterface* health = health_.load(std::memory_order_acquire);
  if (health == nullptr) return;
  const bool serving =
      gpu_ != nullptr && gpu_->Available() && breaker_state == BreakerState::kClosed;
  health->SetServingStatus(kGpuHealthServiceName, serving);
}

SimileServer::~SimileServer() { Shutdown(); }

absl::Status SimileServer::ReloadConfig() {
  absl::StatusOr<ServingConfig> next =
      LoadServingConfig(options_.config_path, options_.hardware_profile_path);
  absl::Status status = next.status();
  if (status.ok() && next->tracker_window != config_->Current()->tracker_window) {
    status = absl::InvalidArgumentError(
        "performance_tracker.window_size cannot change at run time; restart the server to apply "
        "it");
  }
  if (status.ok()) status = config_->Replace(*std::move(next));
  if (!status.ok()) {
    Log(LogLevel::kError, "config_reload_rejected",
        {{"source", options_.config_path},
         {"error", status.message()},
         {"kept_version", config_->Current()->version}});
    return status;
  }
  Log(LogLevel::kInfo, "config_reloaded",
      {{"source", options_.config_path}, {"version", config_->Current()->version}});
  return absl::OkStatus();
}

void SimileServer::Shutdown() {
  {
    MutexLock lock(&shutdown_mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  const absl::Time deadline = absl::Now() + options_.shutdown_grace;
  Log(LogLevel::kInfo, "shutdown_started",
      {{"grace_seconds", absl::ToDoubleSeconds(options_.shutdown_grace)},
       {"in_flight", service_->InFlight()}});
  if (server_ != nullptr) {
    // 1. NOT_SERVING, so that load balancers and health-checking clients stop sending here.
    server_->GetHealthCheckService()->Shutdown();
    // 2. Refuse new requests with UNAVAILABLE (retryable elsewhere) and let the accepted ones finish.
    service_->BeginDrain();
    while (service_->InFlight() > 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(2));
    // 3. Give the last responses time to reach their clients before the connections close: closing a socket
    //    with unread client frames makes the kernel send RST, which discards responses the client has not yet
    //    read.
    absl::SleepFor(std::min(kResponseFlushLinger, std::max(absl::ZeroDuration(), deadline - absl::Now())));
    // 4. Close the listener and the connections; whatever still runs past the grace period is cancelled.
    server_->Shutdown(absl::ToChronoTime(std::max(deadline, absl::Now())));
    server_->Wait();
  }
  owned_pool_.reset();  // Runs whatever is still queued, then joins the workers.
  Log(LogLevel::kInfo, "shutdown_complete", {{"in_flight", service_->InFlight()}});
}

}  // namespace simile::server
