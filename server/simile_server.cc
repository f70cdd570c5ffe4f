#include "server/simile_server.h"

#include <chrono>
#include <thread>
#include <utility>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "core/clock.h"
#include "kernels/gpu_probe.h"
#include "server/config_file.h"
#include "server/log.h"

namespace simile::server {
namespace {

// The health-checking service names clients may ask about: "" (the whole server) and the API service.
constexpr char kSimilarityServiceName[] = "simile.v1.Similarity";

int ResolveThreads(int requested) {
  if (requested > 0) return requested;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

}  // namespace

SimileServer::SimileServer(const ServerOptions& options, ServingConfig initial)
    : options_(options), config_(std::make_unique<ConfigStore>(std::move(initial))) {}

absl::StatusOr<std::unique_ptr<SimileServer>> SimileServer::Start(const ServerOptions& options) {
  absl::StatusOr<ServingConfig> initial = LoadServingConfig(options.config_path);
  if (!initial.ok()) return initial.status();
  std::unique_ptr<SimileServer> s(new SimileServer(options, *std::move(initial)));

  const int threads = ResolveThreads(options.worker_threads);
  s->pool_ = std::make_unique<ThreadPool>(threads);
  s->cpu_ = std::make_unique<CpuBackend>(s->pool_.get());

  Executor::Components components;
  components.cpu = s->cpu_.get();
  components.clock = SteadyClock::Default();
  components.config = s->config_.get();
  const kernels::GpuProbeResult gpus = kernels::ProbeGpus();
  if (gpus.devices.empty()) {
    // Said once, clearly, at start-up; every request then runs on the CPU.
    components.gpu_unavailable_reason = gpus.unavailable_reason;
    Log(LogLevel::kWarning, "gpu_unavailable",
        {{"reason", gpus.unavailable_reason}, {"built_with_cuda", kernels::BuiltWithCuda()}});
  } else {
    for (const kernels::GpuDeviceInfo& d : gpus.devices) {
      Log(LogLevel::kInfo, "gpu_found",
          {{"ordinal", d.ordinal}, {"name", d.name}, {"compute_capability", d.compute_capability},
           {"total_memory_bytes", d.total_memory_bytes}});
    }
    components.gpu_unavailable_reason = "the CUDA backend is not available in this version";
  }
  s->executor_ = std::make_unique<Executor>(std::move(components));
  s->service_ = std::make_unique<SimilarityService>(s->executor_.get(), s->pool_.get(), SteadyClock::Default());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.grpc_address, grpc::InsecureServerCredentials(), &s->grpc_port_);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  builder.RegisterService(s->service_.get());
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || s->grpc_port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.grpc_address));
  }
  grpc::HealthCheckServiceInterface* health = s->server_->GetHealthCheckService();
  health->SetServingStatus(true);
  health->SetServingStatus(kSimilarityServiceName, true);

  const ServingConfig& config = *s->config_->Current();
  Log(LogLevel::kInfo, "server_started",
      {{"grpc_address", options.grpc_address}, {"grpc_port", s->grpc_port_},
       {"worker_threads", threads}, {"max_receive_message_bytes", options.max_receive_message_bytes},
       {"config_source", config.source}, {"config_version", config.version},
       {"limits.max_dim", config.limits.max_dim}, {"limits.max_queries", config.limits.max_queries},
       {"limits.max_targets", config.limits.max_targets},
       {"limits.max_result_elements", config.limits.max_result_elements}});
  return s;
}

SimileServer::~SimileServer() { Shutdown(); }

absl::Status SimileServer::ReloadConfig() {
  absl::StatusOr<ServingConfig> next = LoadServingConfig(options_.config_path);
  absl::Status status = next.ok() ? config_->Replace(*std::move(next)) : next.status();
  if (!status.ok()) {
    Log(LogLevel::kError, "config_reload_rejected",
        {{"source", options_.config_path}, {"error", status.message()},
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
  Log(LogLevel::kInfo, "shutdown_started",
      {{"grace_seconds", absl::ToDoubleSeconds(options_.shutdown_grace)}});
  if (server_ != nullptr) {
    // NOT_SERVING first, so that load balancers stop sending before the listener closes.
    server_->GetHealthCheckService()->Shutdown();
    server_->Shutdown(std::chrono::system_clock::now() +
                      absl::ToChronoSeconds(options_.shutdown_grace));
    server_->Wait();
  }
  pool_.reset();  // Runs whatever is still queued, then joins the workers.
  Log(LogLevel::kInfo, "shutdown_complete");
}

}  // namespace simile::server
