// The executor's snapshot as a simile.v1.ServerStatus: one conversion shared by the Admin/GetStatus RPC and the
// HTTP /status page, so both always show the same data.
#ifndef SIMILE_SERVER_STATUS_PROTO_H_
#define SIMILE_SERVER_STATUS_PROTO_H_

#include <cstdint>

#include "absl/time/time.h"
#include "core/executor.h"
#include "simile/v1/admin.pb.h"

namespace simile::server {

// `now` is the executor's clock reading (for ages); `uptime` and `in_flight` come from the server.
void FillServerStatus(const ExecutorSnapshot& snapshot, absl::Time now, absl::Duration uptime,
                      int64_t in_flight, v1::ServerStatus* out);

}  // namespace simile::server

#endif  // SIMILE_SERVER_STATUS_PROTO_H_
