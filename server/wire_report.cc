#include "server/wire_report.h"

namespace simile::server {

v1::Backend ToWire(BackendKind kind) {
  switch (kind) {
    case BackendKind::kCpu:
      return v1::BACKEND_CPU;
    case BackendKind::kGpu:
      return v1::BACKEND_GPU;
  }
  return v1::BACKEND_UNSPECIFIED;
}

v1::DispatchRule ToWire(DispatchRule rule) {
  switch (rule) {
    case DispatchRule::kPlacementCpu:
      return v1::DISPATCH_RULE_PLACEMENT_CPU;
    case DispatchRule::kPlacementGpu:
      return v1::DISPATCH_RULE_PLACEMENT_GPU;
    case DispatchRule::kGpuUnavailable:
      return v1::DISPATCH_RULE_GPU_UNAVAILABLE;
    case DispatchRule::kCircuitOpen:
      return v1::DISPATCH_RULE_CIRCUIT_OPEN;
    case DispatchRule::kBatchTooSmall:
      return v1::DISPATCH_RULE_BATCH_TOO_SMALL;
    case DispatchRule::kGpuSlowerForThisSize:
      return v1::DISPATCH_RULE_GPU_SLOWER_FOR_THIS_SIZE;
    case DispatchRule::kLowGpuSuccessRate:
      return v1::DISPATCH_RULE_LOW_GPU_SUCCESS_RATE;
    case DispatchRule::kInsufficientVram:
      return v1::DISPATCH_RULE_INSUFFICIENT_VRAM;
    case DispatchRule::kExplore:
      return v1::DISPATCH_RULE_EXPLORE;
    case DispatchRule::kGpuFaster:
      return v1::DISPATCH_RULE_GPU_FASTER;
  }
  return v1::DISPATCH_RULE_UNSPECIFIED;
}

v1::FallbackReason ToWire(FallbackReason reason) {
  switch (reason) {
    case FallbackReason::kNone:
      return v1::FALLBACK_REASON_NONE;
    case FallbackReason::kGpuOutOfMemory:
      return v1::FALLBACK_REASON_GPU_OUT_OF_MEMORY;
    case FallbackReason::kGpuError:
      return v1::FALLBACK_REASON_GPU_ERROR;
  }
  return v1::FALLBACK_REASON_NONE;
}

void FillWireReport(const ExecutionReport& report, absl::Duration queue_time,
                    v1::ExecutionReport* out) {
  out->set_backend(ToWire(report.backend));
  out->set_rule(ToWire(report.rule));
  out->set_chunks(report.chunks);
  out->set_gpu_chunks(report.gpu_chunks);
  out->set_cpu_chunks(report.cpu_chunks);
  out->set_chunk_retries(report.chunk_retries);
  out->set_fallback(ToWire(report.fallback));
  out->set_fallback_detail(report.fallback_detail);
  out->set_compute_time_ns(static_cast<uint64_t>(absl::ToInt64Nanoseconds(report.compute_time)));
  out->set_queue_time_ns(static_cast<uint64_t>(absl::ToInt64Nanoseconds(queue_time)));
}

}  // namespace simile::server
