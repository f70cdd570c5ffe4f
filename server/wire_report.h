// Conversions from core's execution report and enums to their simile.v1 wire forms.
#ifndef SIMILE_SERVER_WIRE_REPORT_H_
#define SIMILE_SERVER_WIRE_REPORT_H_

#include "absl/time/time.h"
#include "core/execution_report.h"
#include "simile/v1/similarity.pb.h"

namespace simile::server {

[[nodiscard]] v1::Backend ToWire(BackendKind kind);
[[nodiscard]] v1::DispatchRule ToWire(DispatchRule rule);
[[nodiscard]] v1::FallbackReason ToWire(FallbackReason reason);

// Writes `report` (and the time the request waited for a worker) into `out`.
void FillWireReport(const ExecutionReport& report, absl::Duration queue_time,
                    v1::ExecutionReport* out);

}  // namespace simile::server

#endif  // SIMILE_SERVER_WIRE_REPORT_H_
