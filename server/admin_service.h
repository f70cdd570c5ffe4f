// AdminService: simile.v1.Admin, the read-only status RPC. Answers from the executor's snapshot; never blocks
// on request execution.
//
// Thread safety: gRPC calls GetStatus concurrently; the service only reads thread-safe collaborators.
#ifndef SIMILE_SERVER_ADMIN_SERVICE_H_
#define SIMILE_SERVER_ADMIN_SERVICE_H_

#include <functional>

#include "absl/time/time.h"
#include "core/clock.h"
#include "core/executor.h"
#include "core/target_set_store.h"
#include "simile/v1/admin.grpc.pb.h"

namespace simile::server {

class AdminService final : public v1::Admin::CallbackService {
 public:
  // Not owned; must outlive the service. `in_flight` reads the number of requests in flight. `target_sets`
  // may be null (the status then has no sets).
  AdminService(const Executor* executor, const Clock* clock, absl::Time started_at,
               std::function<int64_t()> in_flight, const TargetSetStore* target_sets = nullptr)
      : executor_(executor),
        clock_(clock),
        started_at_(started_at),
        in_flight_(std::move(in_flight)),
        target_sets_(target_sets) {}

  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* context,
                                      const v1::GetStatusRequest* request,
                                      v1::ServerStatus* response) override;

  // The same status, for the HTTP /status page.
  void Fill(v1::ServerStatus* out) const;

 private:
  const Executor* const executor_;
  const Clock* const clock_;
  const absl::Time started_at_;
  const std::function<int64_t()> in_flight_;
  const TargetSetStore* const target_sets_;
};

}  // namespace simile::server

#endif  // SIMILE_SERVER_ADMIN_SERVICE_H_
