// TargetSetsService: simile.v1.TargetSets over gRPC's callback API, adapting core's TargetSetStore.
//
// Uploads are client streams: each chunk is decoded, checked and staged as it arrives (on gRPC's callback
// thread; a chunk is at most one message, a few MiB), and the set is published only when the client ends the
// stream normally. A cancelled or failed stream publishes nothing and releases its memory reservation.
//
// Thread safety: gRPC calls the handlers concurrently; the store is thread-safe and each upload reactor is
// used by one stream at a time (gRPC never runs two reactions of one call at once).
#ifndef SIMILE_SERVER_TARGET_SETS_SERVICE_H_
#define SIMILE_SERVER_TARGET_SETS_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>

#include "core/executor.h"
#include "core/target_set_store.h"
#include "simile/v1/target_sets.grpc.pb.h"

namespace simile::server {

// Fills `out` from one version of a set; `executor` (may be null) says whether it is resident on the GPU.
void FillTargetSetInfo(const TargetSetVersion& version, const Executor* executor, v1::TargetSetInfo* out);

class TargetSetsService final : public v1::TargetSets::CallbackService {
 public:
  // `executor` (may be null) is told of deletes and appends, so that it drops stale GPU-resident copies.
  TargetSetsService(TargetSetStore* store, Executor* executor) : store_(store), executor_(executor) {}

  grpc::ServerReadReactor<v1::TargetSetChunk>* CreateTargetSet(grpc::CallbackServerContext* context,
                                                               v1::TargetSetInfo* response) override;
  grpc::ServerReadReactor<v1::TargetSetChunk>* AppendTargetSet(grpc::CallbackServerContext* context,
                                                               v1::TargetSetInfo* response) override;
  grpc::ServerUnaryReactor* DeleteTargetSet(grpc::CallbackServerContext* context,
                                            const v1::DeleteTargetSetRequest* request,
                                            v1::DeleteTargetSetResponse* response) override;
  grpc::ServerUnaryReactor* ListTargetSets(grpc::CallbackServerContext* context,
                                           const v1::ListTargetSetsRequest* request,
                                           v1::ListTargetSetsResponse* response) override;
  grpc::ServerUnaryReactor* DescribeTargetSet(grpc::CallbackServerContext* context,
                                              const v1::DescribeTargetSetRequest* request,
                                              v1::TargetSetInfo* response) override;

 private:
  TargetSetStore* const store_;
  Executor* const executor_;
};

}  // namespace simile::server

#endif  // SIMILE_SERVER_TARGET_SETS_SERVICE_H_
