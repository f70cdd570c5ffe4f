#include "server/admin_service.h"

#include "server/status_proto.h"

namespace simile::server {

void AdminService::Fill(v1::ServerStatus* out) const {
  const absl::Time now = clock_->Now();
  FillServerStatus(executor_->Snapshot(), now, now - started_at_, in_flight_(), out);
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
