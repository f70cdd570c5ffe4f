#include "server/similarity_service.h"

#include <chrono>
#include <iterator>
#include <optional>

#include "absl/strings/str_cat.h"

#include "core/execution_report.h"
#include "server/grpc_status.h"
#include "server/log.h"
#include "server/request_decoder.h"
#include "server/trace_context.h"
#include "server/wire_report.h"

namespace simile::server {
namespace {

// Translates gRPC's deadline (system clock) into the executor's clock.
absl::Time DeadlineFor(const grpc::CallbackServerContext& context, const Clock& clock) {
  const auto deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return absl::InfiniteFuture();
  const absl::Duration remaining = absl::FromChrono(deadline - std::chrono::system_clock::now());
  return clock.Now() + remaining;
}

// The vector payload a request carries, in bytes (what admission control bounds). O(1).
uint64_t PayloadBytes(const v1::CosineRequest& request) {
  uint64_t bytes = 0;
  for (const v1::Matrix* m : {&request.queries(), &request.targets()}) {
    bytes += m->raw().size() + static_cast<uint64_t>(m->values_size()) * sizeof(float);
  }
  return bytes;
}

// The caller's W3C trace context: exactly one valid `traceparent` entry, else none.
std::optional<TraceContext> TraceFrom(const grpc::CallbackServerContext& context) {
  const auto [first, last] = context.client_metadata().equal_range("traceparent");
  if (first == last || std::next(first) != last) return std::nullopt;
  return ParseTraceparent(absl::string_view(first->second.data(), first->second.size()));
}

// Server-side failures are warnings; a caller's mistake, deadline or cancellation is debug detail.
LogLevel FailureLevel(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDataLoss:
      return LogLevel::kWarning;
    default:
      return LogLevel::kDebug;
  }
}

// The decision and how it ran (debug), and any fallback from the GPU with the device error (warning).
void LogExecution(const CosineTask& task, const ExecutionReport& report, absl::Duration queue_time) {
  if (report.fallback != FallbackReason::kNone) {
    Log(LogLevel::kWarning, "gpu_fallback",
        {{"reason", Name(report.fallback)},
         {"error", report.fallback_detail},
         {"gpu_chunks", report.gpu_chunks},
         {"cpu_chunks", report.cpu_chunks}});
  }
  if (!LogEnabled(LogLevel::kDebug)) return;
  Log(LogLevel::kDebug, "dispatch_decision",
      {{"backend", Name(report.backend)},
       {"rule", Name(report.rule)},
       {"queries", task.queries.rows},
       {"targets", task.targets.rows},
       {"dim", task.queries.dim},
       {"top_k", task.top_k},
       {"chunks", report.chunks},
       {"gpu_chunks", report.gpu_chunks},
       {"cpu_chunks", report.cpu_chunks},
       {"chunk_retries", report.chunk_retries},
       {"fallback", Name(report.fallback)},
       {"compute_seconds", absl::ToDoubleSeconds(report.compute_time)},
       {"queue_seconds", absl::ToDoubleSeconds(queue_time)}});
}

}  // namespace

absl::StatusOr<std::shared_ptr<const TargetSetVersion>> SimilarityService::ResolveTargetSet(
    const v1::CosineRequest& request) const {
  if (request.target_set().empty()) return nullptr;
  if (target_sets_ == nullptr) return absl::UnimplementedError("this server has no target sets");
  std::shared_ptr<const TargetSetVersion> version = target_sets_->Find(request.target_set());
  if (version == nullptr) {
    if (absl::Status s = TargetSetStore::ValidateName(request.target_set()); !s.ok()) return s;
    return absl::NotFoundError(absl::StrCat("no target set named '", request.target_set(), "'"));
  }
  if (request.target_set_version() != 0 && request.target_set_version() != version->version) {
    return absl::FailedPreconditionError(absl::StrCat(
        "target set '", version->name, "' is at version ", version->version, ", not ",
        request.target_set_version(), " (only the current version can be queried)"));
  }
  return version;
}

bool SimilarityService::RunsInline(const v1::CosineRequest& request) const {
  if (!request.target_set().empty())
    return false;  // Its size is known only once the set is resolved.
  const uint64_t macs =
      uint64_t{request.queries().rows()} * request.targets().rows() * request.queries().dim();
  if (macs >= kInlineMacsLimit) return false;
  // A GPU call (a transfer, a launch, maybe an injected delay) must not block gRPC's thread: inline
  // only what is sure to run on the CPU.
  return request.placement() == v1::PLACEMENT_CPU || !executor_->GpuUsable();
}

void SimilarityService::Execute(grpc::CallbackServerContext* context,
                                const v1::CosineRequest* request, v1::CosineResponse* response,
                                grpc::ServerUnaryReactor* reactor, absl::Time queued_at,
                                uint64_t bytes, const std::optional<TraceContext>& trace) {
  const ScopedTraceContext scoped_trace(trace.has_value() ? &*trace : nullptr);
  const absl::Time started_at = clock_->Now();
  DecodeScratch scratch;
  // A request on a target set pins the set's current version until the response is finished.
  absl::StatusOr<std::shared_ptr<const TargetSetVersion>> target_set = ResolveTargetSet(*request);
  absl::StatusOr<CosineTask> task = target_set.ok()
                                        ? DecodeCosineRequest(*request, &scratch, target_set->get())
                                        : target_set.status();
  absl::Status status = task.status();
  if (status.ok()) {
    metrics_->RecordBatchShape(task->queries.rows, task->targets.rows);
    const ResultBuffers out = PrepareCosineResponse(*request, *task, response);
    RequestContext request_context;
    request_context.deadline = DeadlineFor(*context, *clock_);
    request_context.is_cancelled = [context] { return context->IsCancelled(); };
    absl::StatusOr<ExecutionReport> report = executor_->Run(*task, out, request_context);
    status = report.status();
    // gRPC marks a call cancelled when its deadline passes too, and the executor may see that
    // before its own deadline check: a "cancellation" at or after the caller's deadline is the
    // deadline.
    if (status.code() == absl::StatusCode::kCancelled &&
        context->deadline() <= std::chrono::system_clock::now()) {
      status =
          absl::DeadlineExceededError("the request's deadline passed before its work was done");
    }
    if (status.ok()) {
      FillWireReport(*report, started_at - queued_at, response->mutable_report());
      if (*target_set != nullptr) {
        v1::ExecutionReport* wire = response->mutable_report();
        wire->set_target_set((*target_set)->name);
        wire->set_target_set_version((*target_set)->version);
        wire->set_targets_resident(report->targets_resident);
        wire->set_target_set_uploaded(report->target_set_uploaded);
      }
      metrics_->RecordExecution(report->operation, *report);
      LogExecution(*task, *report, started_at - queued_at);
    }
  }
  if (!status.ok()) {
    response->Clear();  // Never send a partial result with an error.
    if (const LogLevel level = FailureLevel(status.code()); LogEnabled(level)) {
      Log(level, "request_failed",
          {{"method", "Cosine"},
           {"code", absl::StatusCodeToString(status.code())},
           {"message", status.message()}});
    }
  }
  in_flight_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  in_flight_.fetch_sub(1, std::memory_order_relaxed);
  // Counted before Finish: a caller that has its response sees it counted.
  metrics_->RecordRequest(RpcMethod::kCosine, status.code(), clock_->Now() - queued_at);
  reactor->Finish(ToGrpcStatus(status));
}

grpc::ServerUnaryReactor* SimilarityService::Cosine(grpc::CallbackServerContext* context,
                                                    const v1::CosineRequest* request,
                                                    v1::CosineResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const absl::Time received_at = clock_->Now();
  // Counted before the drain check, so that Shutdown, which drains and then waits for the count to reach zero,
  // either sees this request or this request sees the drain.
  const int64_t requests_now = in_flight_.fetch_add(1, std::memory_order_seq_cst) + 1;
  if (draining_.load(std::memory_order_seq_cst)) {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    metrics_->RecordRequest(RpcMethod::kCosine, absl::StatusCode::kUnavailable, clock_->Now() - received_at);
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                 "simile is shutting down; retry on another replica"));
    return reactor;
  }
  // Admission control, on gRPC's thread and before queueing: an overloaded server answers at once instead of
  // letting its queue (and the memory it holds) grow.
  const uint64_t bytes = PayloadBytes(*request);
  const uint64_t bytes_before = in_flight_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  const AdmissionLimits admission = config_->Current()->admission;
  if (requests_now > static_cast<int64_t>(admission.max_in_flight_requests) ||
      (bytes_before > 0 && bytes_before + bytes > admission.max_in_flight_bytes)) {
    in_flight_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    rejected_.fetch_add(1, std::memory_order_relaxed);
    metrics_->RecordRequest(RpcMethod::kCosine, absl::StatusCode::kResourceExhausted,
                            clock_->Now() - received_at);
    reactor->Finish(grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("simile is overloaded: ", requests_now - 1, " requests holding ", bytes_before,
                     " payload bytes are in flight (admission.max_in_flight_requests = ",
                     admission.max_in_flight_requests, ", admission.max_in_flight_bytes = ",
                     admission.max_in_flight_bytes, "); retry later or on another replica")));
    return reactor;
  }
  const std::optional<TraceContext> trace = TraceFrom(*context);
  // request, response and context stay valid until reactor->Finish(); Execute calls it last.
  if (RunsInline(*request)) {
    // Tiny work: queueing it would cost more than the work (see kInlineMacsLimit).
    Execute(context, request, response, reactor, received_at, bytes, trace);
    return reactor;
  }
  pool_->Schedule(
      [this, context, request, response, reactor, queued_at = received_at, bytes, trace] {
        Execute(context, request, response, reactor, queued_at, bytes, trace);
      });
  return reactor;
}

}  // namespace simile::server
