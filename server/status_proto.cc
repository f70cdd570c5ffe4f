#include "server/status_proto.h"

#include <string>

#include "server/build_info.h"
#include "server/wire_report.h"

namespace simile::server {
namespace {

std::string Str(absl::string_view s) { return std::string(s); }

double AgeSeconds(absl::Time then, absl::Time now) {
  return then == absl::InfinitePast() ? -1.0 : absl::ToDoubleSeconds(now - then);
}

void FillGpu(const ExecutorSnapshot& s, v1::GpuStatus* gpu) {
  gpu->set_present(s.gpu_present);
  gpu->set_available(s.gpu_available);
  gpu->set_description(s.gpu_description);
  gpu->set_unavailable_reason(s.gpu_unavailable_reason);
  gpu->set_vram_usable_bytes(s.vram.usable_bytes);
  gpu->set_vram_free_bytes(s.vram.free_bytes);
  gpu->set_vram_total_bytes(s.vram.total_bytes);
  if (s.gpu_present) gpu->set_vram_source(Str(Name(s.vram.source)));
  gpu->set_vram_age_seconds(absl::ToDoubleSeconds(s.vram.age));
  gpu->set_vram_query_failures(s.vram_query_failures);
}

void FillBreaker(const CircuitBreakerSnapshot& b, absl::Time now, v1::BreakerStatus* out) {
  out->set_state(Str(Name(b.state)));
  out->set_mode(Str(Name(b.mode)));
  out->set_retry_in_seconds(absl::ToDoubleSeconds(b.time_until_retry));
  out->set_cool_down_seconds(absl::ToDoubleSeconds(b.current_cool_down));
  out->set_consecutive_failures(b.consecutive_failures);
  out->set_trips(b.trips);
  out->set_last_error(b.last_error);
  out->set_last_error_age_seconds(AgeSeconds(b.last_error_time, now));
  for (size_t from = 0; from < kNumBreakerStates; ++from) {
    for (size_t to = 0; to < kNumBreakerStates; ++to) {
      if (b.transitions[from][to] == 0) continue;
      v1::BreakerStatus::Transition* t = out->add_transitions();
      t->set_from(Str(Name(static_cast<BreakerState>(from))));
      t->set_to(Str(Name(static_cast<BreakerState>(to))));
      t->set_count(b.transitions[from][to]);
    }
  }
}

void FillOperation(const PerformanceSnapshot& p, Operation op, absl::Time now, v1::OperationStatus* out) {
  const OperationSnapshot& ops = p.operations[Index(op)];
  out->set_operation(Str(Name(op)));
  for (size_t b = 0; b < kNumBackendKinds; ++b) {
    v1::OperationStatus::Window* w = out->add_windows();
    w->set_backend(ToWire(static_cast<BackendKind>(b)));
    w->set_calls(ops.windows[b].count);
    w->set_success_rate(ops.windows[b].success_rate());
  }
  for (int sc = 0; sc < kNumSizeClasses; ++sc) {
    const SizeClassSnapshot& cls = ops.size_classes[sc];
    if (cls.backends[0].outcomes.count == 0 && cls.backends[1].outcomes.count == 0) continue;
    v1::SizeClassStatus* c = out->add_size_classes();
    c->set_size_class(sc);
    c->set_min_work(SizeClassLowerBound(sc));
    c->set_gpu_speedup(cls.speedup);
    for (size_t b = 0; b < kNumBackendKinds; ++b) {
      const CellStats& cell = cls.backends[b];
      if (cell.outcomes.count == 0) continue;
      v1::BackendCell* out_cell = c->add_backends();
      out_cell->set_backend(ToWire(static_cast<BackendKind>(b)));
      out_cell->set_calls(cell.outcomes.count);
      out_cell->set_successes(cell.outcomes.successes);
      out_cell->set_failures(cell.outcomes.failures);
      out_cell->set_out_of_memory(cell.outcomes.out_of_memory);
      out_cell->set_mean_seconds(absl::ToDoubleSeconds(cell.mean));
      out_cell->set_p50_seconds(absl::ToDoubleSeconds(cell.p50));
      out_cell->set_p99_seconds(absl::ToDoubleSeconds(cell.p99));
      out_cell->set_age_seconds(AgeSeconds(cell.last_update, now));
    }
  }
}

void FillCounts(const DispatcherCountersSnapshot& c, v1::DispatchCounts* out) {
  for (size_t b = 0; b < kNumBackendKinds; ++b) {
    for (size_t r = 0; r < kNumDispatchRules; ++r) {
      if (c.decisions[b][r] == 0) continue;
      v1::DispatchCounts::Decision* d = out->add_decisions();
      d->set_backend(ToWire(static_cast<BackendKind>(b)));
      d->set_rule(Str(Name(static_cast<DispatchRule>(r))));
      d->set_count(c.decisions[b][r]);
    }
  }
  for (size_t f = 1; f < kNumFallbackReasons; ++f) {  // 0 is "none".
    v1::DispatchCounts::Fallback* fb = out->add_fallbacks();
    fb->set_reason(Str(Name(static_cast<FallbackReason>(f))));
    fb->set_count(c.fallbacks[f]);
  }
  out->set_gpu_out_of_memory_events(c.gpu_oom_events);
  out->set_chunk_retries(c.chunk_retries);
  out->set_gpu_errors(c.gpu_errors);
  out->set_cpu_chunks(c.chunks[Index(BackendKind::kCpu)]);
  out->set_gpu_chunks(c.chunks[Index(BackendKind::kGpu)]);
}

void FillFaultInjection(const FaultInjectionOptions& f, v1::FaultInjectionStatus* out) {
  out->set_enabled(f.enabled());
  out->set_gpu_error_rate(f.gpu_error_rate);
  out->set_gpu_oom_rate(f.gpu_oom_rate);
  out->set_gpu_added_latency_seconds(absl::ToDoubleSeconds(f.gpu_added_latency));
  out->set_vram_query_failure_rate(f.vram_query_failure_rate);
  out->set_seed(f.seed);
  out->set_simulate_gpu(f.simulate_gpu);
}

}  // namespace

void FillServerStatus(const ExecutorSnapshot& snapshot, absl::Time now, absl::Duration uptime,
                      int64_t in_flight, v1::ServerStatus* out) {
  const BuildInfo& build = GetBuildInfo();
  out->set_version(build.version);
  out->set_commit(build.commit);
  out->set_config_source(snapshot.config->source);
  out->set_config_version(snapshot.config->version);
  out->set_uptime_seconds(absl::ToDoubleSeconds(uptime));
  out->set_in_flight_requests(in_flight);
  FillGpu(snapshot, out->mutable_gpu());
  FillBreaker(snapshot.breaker, now, out->mutable_circuit_breaker());
  for (const Operation op : kAllOperations) {
    FillOperation(snapshot.performance, op, now, out->add_operations());
  }
  FillCounts(snapshot.counters, out->mutable_counts());
  FillFaultInjection(snapshot.config->fault_injection, out->mutable_fault_injection());
}

}  // namespace simile::server
