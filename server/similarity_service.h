// SimilarityService: the gRPC front of simile.v1.Similarity. It adapts wire messages to core/ and
// back and nothing more. The handler queues the request on the service's ThreadPool and returns,
// and the worker finishes the RPC; only requests whose work is tiny (kInlineMacsLimit) and sure to
// stay on the CPU run at once on gRPC's callback thread, because for them the hop to a worker costs
// more than the work.
//
// Every RPC that reaches the handler is counted in SimileMetrics (method, status code, duration,
// batch shape, execution time by backend). RPCs that gRPC rejects before the handler (a message
// over the server's max_receive_message_bytes gets gRPC's own RESOURCE_EXHAUSTED) never get here
// and are counted by gRPC only. A valid W3C `traceparent` in the request metadata is carried into
// the log lines written for the request (server/trace_context.h).
//
// Thread safety: gRPC calls the handler concurrently; all state is immutable after construction or
// owned by the collaborators, which are thread-safe.
#ifndef SIMILE_SERVER_SIMILARITY_SERVICE_H_
#define SIMILE_SERVER_SIMILARITY_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <optional>

#include "absl/time/time.h"
#include "core/clock.h"
#include "core/config_store.h"
#include "core/cpu_cosine.h"
#include "core/executor.h"
#include "core/target_set_store.h"
#include "core/thread_pool.h"
#include "server/simile_metrics.h"
#include "server/trace_context.h"
#include "simile/v1/similarity.grpc.pb.h"

namespace simile::server {

class SimilarityService final : public v1::Similarity::CallbackService {
 public:
  // None of the arguments is owned; all must outlive the service.
  // `target_sets` (not owned) may be null: requests naming a target set then get UNIMPLEMENTED.
  SimilarityService(const Executor* executor, ThreadPool* pool, const Clock* clock,
                    const ConfigStore* config, SimileMetrics* metrics,
                    const TargetSetStore* target_sets = nullptr)
      : executor_(executor),
        pool_(pool),
        clock_(clock),
        config_(config),
        metrics_(metrics),
        target_sets_(target_sets) {}

  grpc::ServerUnaryReactor* Cosine(grpc::CallbackServerContext* context,
                                   const v1::CosineRequest* request,
                                   v1::CosineResponse* response) override;

  // From now on, new requests are refused with UNAVAILABLE; requests already received run to the end.
  void BeginDrain() { draining_.store(true, std::memory_order_seq_cst); }

  // Vector payload bytes of the requests in flight (admission control).
  [[nodiscard]] uint64_t InFlightBytes() const { return in_flight_bytes_.load(std::memory_order_relaxed); }
  // Requests refused by admission control since start.
  [[nodiscard]] uint64_t Rejected() const { return rejected_.load(std::memory_order_relaxed); }

  // Requests received and not yet finished (queued or running).
  [[nodiscard]] int64_t InFlight() const { return in_flight_.load(std::memory_order_seq_cst); }

  // Requests of fewer multiply-adds than this (Q x N x dim, as declared) run on gRPC's callback
  // thread instead of the pool. It is the kernel's own threshold for splitting work across threads:
  // below it the kernel runs on the calling thread anyway, so the pool would only add a queue and a
  // thread wake-up (tens of microseconds on these machines, as much as the work: 1 x 64 x 768 is
  // 49,152). Below the threshold the work is one pass over less than 512 KiB of targets, tens of
  // microseconds: short enough not to hold up gRPC's thread, which callbacks must not block for
  // long.
  static constexpr uint64_t kInlineMacsLimit = kCpuCosineMinParallelMacs;

 private:
  // Whether `request` runs inline on the callback thread: inline targets, under kInlineMacsLimit,
  // and the CPU certain to run it (PLACEMENT_CPU, or no usable GPU), so that no GPU call ever
  // blocks gRPC's thread.
  [[nodiscard]] bool RunsInline(const v1::CosineRequest& request) const;

  // Decodes, runs and answers one admitted request, then calls reactor->Finish (last: request,
  // response and context are gRPC's until then). `queued_at` is when the handler received it.
  void Execute(grpc::CallbackServerContext* context, const v1::CosineRequest* request,
               v1::CosineResponse* response, grpc::ServerUnaryReactor* reactor,
               absl::Time queued_at, uint64_t bytes, const std::optional<TraceContext>& trace);

  // The current version of the target set `request` names (null when it names none); NOT_FOUND,
  // INVALID_ARGUMENT (bad name) or FAILED_PRECONDITION (not the current version).
  [[nodiscard]] absl::StatusOr<std::shared_ptr<const TargetSetVersion>> ResolveTargetSet(
      const v1::CosineRequest& request) const;

  const Executor* const executor_;
  ThreadPool* const pool_;
  const Clock* const clock_;
  const ConfigStore* const config_;
  SimileMetrics* const metrics_;
  const TargetSetStore* const target_sets_;
  // The increment in Cosine and draining_ use seq_cst so that a request and BeginDrain cannot both miss each
  // other (Dekker-style: store then load on each side). Other accesses are relaxed gauge reads.
  std::atomic<int64_t> in_flight_{0};
  std::atomic<bool> draining_{false};
  // Relaxed: admission compares against a bound; a request racing another may see a slightly stale sum, which
  // can only overshoot the bound by what is admitted concurrently.
  std::atomic<uint64_t> in_flight_bytes_{0};
  std::atomic<uint64_t> rejected_{0};
};

}  // namespace simile::server

#endif  // SIMILE_SERVER_SIMILARITY_SERVICE_H_
