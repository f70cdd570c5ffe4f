#include "server/simile_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/clock.h"
#include "core/simulated_gpu_backend.h"
#include "kernels/gpu_backend.h"
#include "kernels/gpu_probe.h"
#include "server/admin_service.h"
#include "server/build_info.h"
#include "server/config_file.h"
#include "server/log.h"
#include "server/status_page.h"

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

// Loud on purpose: fault injection must never go unnoticed in a log.
void LogFaultInjection(const FaultInjectionOptions& f, bool has_gpu) {
  if (!f.enabled()) {
    Log(LogLevel::kInfo, "fault_injection_disabled", {});
    return;
  }
  Log(LogLevel::kWarning, "fault_injection_enabled",
      {{"gpu_error_rate", f.gpu_error_rate},
       {"gpu_oom_rate", f.gpu_oom_rate},
       {"gpu_added_latency_seconds", absl::ToDoubleSeconds(f.gpu_added_latency)},
       {"vram_query_failure_rate", f.vram_query_failure_rate},
       {"seed", f.seed},
       {"simulate_gpu", f.simulate_gpu},
       {"note", has_gpu ? "faults are injected into the GPU backend on purpose: for testing only"
                        : "no GPU backend: the configured faults have nothing to act on"}});
}

}  // namespace

SimileServer::SimileServer(const ServerOptions& options, ServingConfig initial)
    : options_(options), config_(std::make_unique<ConfigStore>(std::move(initial))) {}

absl::StatusOr<std::unique_ptr<SimileServer>> SimileServer::Start(const ServerOptions& options) {
  // TLS files first: a bad path fails the start at once, before threads, GPUs or ports.
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(options.tls);
  if (!credentials.ok()) return credentials.status();
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
  const std::shared_ptr<const ServingConfig> start_config = s->config_->Current();
  const FaultInjectionOptions& faults = start_config->fault_injection;
  s->faults_ = std::make_unique<FaultInjector>();
  (void)s->faults_->Configure(faults);

  Executor::Components components;
  components.cpu = s->cpu_.get();
  components.clock = SteadyClock::Default();
  components.config = s->config_.get();
  s->SetUpGpus(&components);
  // The GPU backend, always behind the fault injector (one relaxed load per call while it is off): the real
  // device(s), or, only where there is none, the test-only simulated GPU.
  Backend* gpu = s->device_gpu_;
  if (gpu == nullptr && faults.simulate_gpu) {
    s->simulated_gpu_ = std::make_unique<SimulatedGpuBackend>(s->cpu_.get(), faults.simulated_gpu_memory_bytes);
    gpu = s->simulated_gpu_.get();
    Log(LogLevel::kWarning, "simulated_gpu_enabled",
        {{"description", gpu->description()},
         {"note", "fault_injection.simulate_gpu is for testing only: the 'GPU' computes on the CPU"}});
  }
  if (gpu != nullptr) {
    s->gpu_ = std::make_unique<FaultInjectingBackend>(gpu, s->faults_.get());
    components.gpu = s->gpu_.get();
  }
  if (faults.enabled()) LogFaultInjection(faults, components.gpu != nullptr);
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
  s->metrics_ = std::make_unique<SimileMetrics>();
  s->target_sets_ = std::make_unique<TargetSetStore>(options.target_sets_max_bytes);
  s->target_sets_service_ = std::make_unique<TargetSetsService>(s->target_sets_.get(), s->executor_.get());
  s->service_ = std::make_unique<SimilarityService>(s->executor_.get(), s->pool_,
                                                    SteadyClock::Default(), s->config_.get(),
                                                    s->metrics_.get(), s->target_sets_.get());
  SimilarityService* similarity = s->service_.get();
  s->admin_ = std::make_unique<AdminService>(s->executor_.get(), SteadyClock::Default(),
                                             SteadyClock::Default()->Now(),
                                             [similarity] { return similarity->InFlight(); },
                                             s->target_sets_.get());

  // HTTP first: an address that cannot be bound fails the start before gRPC serves anything.
  if (!options.metrics_address.empty()) {
    if (absl::Status http = s->StartHttp(); !http.ok()) return http;
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.grpc_address, *credentials, &s->grpc_port_);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  builder.RegisterService(s->service_.get());
  builder.RegisterService(s->admin_.get());
  builder.RegisterService(s->target_sets_service_.get());
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || s->grpc_port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", options.grpc_address,
        options.tls.enabled() ? " (or gRPC refused the TLS certificate and key)" : ""));
  }
  grpc::HealthCheckServiceInterface* health = s->server_->GetHealthCheckService();
  health->SetServingStatus(true);
  health->SetServingStatus(kSimilarityServiceName, true);
  s->ready_.store(true, std::memory_order_release);
  s->health_.store(health, std::memory_order_release);
  s->UpdateGpuHealth(s->executor_->Snapshot().breaker.state);

  const ServingConfig& config = *s->config_->Current();
  const BuildInfo& build = GetBuildInfo();
  Log(LogLevel::kInfo, "server_started",
      {{"version", build.version},
       {"commit", build.commit},
       {"cuda", build.cuda},
       {"grpc_address", options.grpc_address},
       {"grpc_port", s->grpc_port_},
       {"grpc_tls", options.tls.client_ca_path.empty()
                        ? (options.tls.enabled() ? "tls" : "plaintext")
                        : "mtls"},
       {"metrics_address", options.metrics_address},
       {"metrics_port", s->metrics_port()},
       {"shutdown_grace_seconds", absl::ToDoubleSeconds(options.shutdown_grace)},
       {"hardware_profile", options.hardware_profile_path},
       {"worker_threads", s->pool_->num_threads()},
       {"max_receive_message_bytes", options.max_receive_message_bytes},
       {"config_source", config.source},
       {"config_version", config.version},
       {"limits.max_dim", config.limits.max_dim},
       {"limits.max_queries", config.limits.max_queries},
       {"limits.max_targets", config.limits.max_targets},
       {"limits.max_result_elements", config.limits.max_result_elements},
       {"admission.max_in_flight_requests", config.admission.max_in_flight_requests},
       {"admission.max_in_flight_bytes", config.admission.max_in_flight_bytes},
       {"policy.explore_fraction", config.policy.explore_fraction},
       {"breaker.mode", Name(config.breaker.mode)},
       {"performance_tracker.window_size", config.tracker_window},
       {"fault_injection.enabled", config.fault_injection.enabled()},
       {"fault_injection.simulate_gpu", config.fault_injection.simulate_gpu}});
  return s;
}

void SimileServer::SetUpGpus(Executor::Components* components) {
  if (options_.gpu_backend_for_testing != nullptr) {
    device_gpu_ = options_.gpu_backend_for_testing;
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
  device_gpu_ = gpus_->backends.front().get();
  if (gpus_->backends.size() > 1) {
    std::vector<Backend*> devices;
    for (const std::unique_ptr<Backend>& gpu : gpus_->backends) devices.push_back(gpu.get());
    multi_gpu_ = *MultiGpuBackend::Create(std::move(devices));  // Valid: non-empty, all GPUs.
    device_gpu_ = multi_gpu_.get();
  }
}

void SimileServer::UpdateGpuHealth(BreakerState breaker_state) {
  grpc::HealthCheckServiceInterface* health = health_.load(std::memory_order_acquire);
  if (health == nullptr) return;
  const bool serving =
      gpu_ != nullptr && gpu_->Available() && breaker_state == BreakerState::kClosed;
  health->SetServingStatus(kGpuHealthServiceName, serving);
}

SimileServer::~SimileServer() { Shutdown(); }

absl::Status SimileServer::StartHttp() {
  HttpServer::Options http_options;
  http_options.address = options_.metrics_address;
  http_options.threads = options_.metrics_threads;
  std::map<std::string, HttpHandler> routes;
  routes["/metrics"] = [this] {
    return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", ScrapeMetrics()};
  };
  routes["/status"] = [this] {
    v1::ServerStatus status;
    admin_->Fill(&status);
    google::protobuf::util::JsonPrintOptions json;
    json.add_whitespace = true;
    json.preserve_proto_field_names = true;  // As `simile status` prints it.
    json.always_print_primitive_fields = true;
    std::string body;
    if (!google::protobuf::util::MessageToJsonString(status, &body, json).ok()) {
      return HttpResponse{500, "text/plain; charset=utf-8", "cannot print the status as JSON\n"};
    }
    return HttpResponse{200, "application/json", std::move(body)};
  };
  routes["/"] = [this] {
    v1::ServerStatus status;
    admin_->Fill(&status);
    return HttpResponse{200, "text/html; charset=utf-8", RenderStatusPage(status)};
  };
  routes["/healthz"] = [] { return HttpResponse{200, "text/plain; charset=utf-8", "ok\n"}; };
  routes["/readyz"] = [this] {
    // The same answer as the gRPC health service: SERVING until shutdown begins.
    return ready() ? HttpResponse{200, "text/plain; charset=utf-8", "ready\n"}
                   : HttpResponse{503, "text/plain; charset=utf-8", "not ready\n"};
  };
  absl::StatusOr<std::unique_ptr<HttpServer>> http = HttpServer::Start(http_options, std::move(routes));
  if (!http.ok()) return http.status();
  http_ = *std::move(http);
  return absl::OkStatus();
}

std::string SimileServer::ScrapeMetrics() {
  ServiceState service;
  service.in_flight = service_->InFlight();
  service.in_flight_bytes = service_->InFlightBytes();
  service.admission_rejected = service_->Rejected();
  const TargetSetStore::Stats sets = target_sets_->GetStats();
  service.target_sets = sets.sets;
  service.target_set_rows = sets.rows;
  service.target_set_bytes = sets.bytes;
  service.target_set_max_bytes = sets.max_bytes;
  service.target_set_uploads_committed = sets.uploads_committed;
  service.target_set_uploads_failed = sets.uploads_failed;
  service.target_set_deletes = sets.deletes;
  return metrics_->Scrape(executor_->Snapshot(), service, faults_->Snapshot());
}

absl::Status SimileServer::ReloadConfig() {
  absl::StatusOr<ServingConfig> next =
      LoadServingConfig(options_.config_path, options_.hardware_profile_path);
  absl::Status status = next.status();
  if (status.ok() && next->tracker_window != config_->Current()->tracker_window) {
    status = absl::InvalidArgumentError(
        "performance_tracker.window_size cannot change at run time; restart the server to apply "
        "it");
  }
  if (status.ok()) {
    const std::shared_ptr<const ServingConfig> now = config_->Current();
    if (next->fault_injection.simulate_gpu != now->fault_injection.simulate_gpu ||
        next->fault_injection.simulated_gpu_memory_bytes != now->fault_injection.simulated_gpu_memory_bytes) {
      status = absl::InvalidArgumentError(
          "fault_injection.simulate_gpu and fault_injection.simulated_gpu_memory_bytes cannot change at run "
          "time; restart the server to apply them");
    }
  }
  if (status.ok()) status = config_->Replace(*std::move(next));
  metrics_->RecordConfigReload(status.ok());
  if (!status.ok()) {
    Log(LogLevel::kError, "config_reload_rejected",
        {{"source", options_.config_path},
         {"error", status.message()},
         {"kept_version", config_->Current()->version}});
    return status;
  }
  Log(LogLevel::kInfo, "config_reloaded",
      {{"source", options_.config_path}, {"version", config_->Current()->version}});
  // Published after the configuration: a request may run on the new configuration with the old faults for a
  // moment, which no guarantee depends on.
  const std::shared_ptr<const ServingConfig> applied = config_->Current();
  if (faults_->Configure(applied->fault_injection)) LogFaultInjection(applied->fault_injection, gpu_ != nullptr);
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
  ready_.store(false, std::memory_order_release);  // /readyz answers 503 from now on.
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
  if (http_ != nullptr) http_->Stop();  // Served metrics and status through the drain; stops in milliseconds.
  owned_pool_.reset();  // Runs whatever is still queued, then joins the workers.
  Log(LogLevel::kInfo, "shutdown_complete", {{"in_flight", service_->InFlight()}});
}

}  // namespace simile::server
