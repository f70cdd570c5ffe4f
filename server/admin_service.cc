#include "server/admin_service.h"

#include "server/status_proto.h"

namespace simile::server {

void AdminService::Fill(v1::ServerStatus* out) const {
  const absl::Time now = clock_->Now();
  const ExecutorSnapshot snapshot = executor_->Snapshot();
  FillServerStatus(snapshot, now, now - started_at_, in_flight_(), out);
  v1::TargetSetsStatus* sets = out->mutable_target_sets();
  if (target_sets_ != nullptr) {
    const TargetSetStore::Stats host = target_sets_->GetStats();
    sets->set_sets(host.sets);
    sets->set_rows(host.rows);
    sets->set_bytes(host.bytes);
    sets->set_limit_bytes(host.max_bytes);
  }
  sets->set_persistent(false);
  sets->set_gpu_sets(snapshot.residency.sets);
  sets->set_gpu_bytes(snapshot.residency.bytes);
  sets->set_gpu_limit_bytes(snapshot.residency_cap_bytes);
  sets->set_gpu_uploads(snapshot.residency.uploads);
  sets->set_gpu_upload_failures(snapshot.residency.upload_failures);
  sets->set_gpu_evictions(snapshot.residency.evictions);
}

grpc::ServerUnaryReactor* AdminService::GetStatus(grpc::CallbackServerContext* context,
                                                  const v1::GetStatusRequest* /*request*/,
                                                  v1::ServerStatus* response) {
  // A snapshot costs microseconds (no request work, no device calls beyond one free-memory query), so it is
  // answered on gRPC's thread.
  Fill(response);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace simile::server
