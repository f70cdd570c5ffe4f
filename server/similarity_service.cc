#include "server/similarity_service.h"

#include <chrono>

#include "core/execution_report.h"
#include "server/grpc_status.h"
#include "server/log.h"
#include "server/request_decoder.h"
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

}  // namespace

grpc::ServerUnaryReactor* SimilarityService::Cosine(grpc::CallbackServerContext* context,
                                                    const v1::CosineRequest* request,
                                                    v1::CosineResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // Counted before the drain check, so that Shutdown, which drains and then waits for the count to reach zero,
  // either sees this request or this request sees the drain.
  in_flight_.fetch_add(1, std::memory_order_seq_cst);
  if (draining_.load(std::memory_order_seq_cst)) {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                 "simile is shutting down; retry on another replica"));
    return reactor;
  }
  const absl::Time queued_at = clock_->Now();
  // request, response and context stay valid until reactor->Finish(); the worker calls it last.
  pool_->Schedule([this, context, request, response, reactor, queued_at] {
    const absl::Time started_at = clock_->Now();
    DecodeScratch scratch;
    absl::StatusOr<CosineTask> task = DecodeCosineRequest(*request, &scratch);
    absl::Status status = task.status();
    if (status.ok()) {
      const ResultBuffers out = PrepareCosineResponse(*request, *task, response);
      RequestContext request_context;
      request_context.deadline = DeadlineFor(*context, *clock_);
      request_context.is_cancelled = [context] { return context->IsCancelled(); };
      absl::StatusOr<ExecutionReport> report = executor_->Run(*task, out, request_context);
      status = report.status();
      if (status.ok()) {
        FillWireReport(*report, started_at - queued_at, response->mutable_report());
      }
    }
    if (!status.ok()) {
      response->Clear();  // Never send a partial result with an error.
      if (LogEnabled(LogLevel::kDebug)) {
        Log(LogLevel::kDebug, "request_failed",
            {{"method", "Cosine"},
             {"code", absl::StatusCodeToString(status.code())},
             {"message", status.message()}});
      }
    }
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    reactor->Finish(ToGrpcStatus(status));
  });
  return reactor;
}

}  // namespace simile::server
