#include "server/simile_metrics.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/vram_monitor.h"
#include "server/build_info.h"
#include "server/process_metrics.h"

namespace simile::server {
namespace {

using metrics::Counter;
using metrics::Family;
using metrics::Gauge;
using metrics::Histogram;

// Request and execution latency: 100 us (a tiny CPU request) to 30 s (the largest batches), 1-2.5-5 steps.
const std::vector<double> kLatencyBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30};
// Query rows: 1 (the memory-bound operation) and 2 (the smallest compute-bound one) apart, then powers of 4 up
// to the default limits.max_queries (65536).
const std::vector<double> kQueryBuckets = {1, 2, 4, 16, 64, 256, 1024, 4096, 16384, 65536};
// Target rows: powers of 4 up to the default limits.max_targets (16 Mi).
const std::vector<double> kTargetBuckets = {1,     4,      16,     64,      256,     1024,    4096,
                                            16384, 65536, 262144, 1048576, 4194304, 16777216};

std::string Str(absl::string_view s) { return std::string(s); }

std::string CodeName(size_t code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));  // "OK", "INVALID_ARGUMENT", ...
}

}  // namespace

absl::string_view Name(RpcMethod method) {
  switch (method) {
    case RpcMethod::kCosine:
      return "Cosine";
  }
  return "unknown";
}

SimileMetrics::SimileMetrics(const Options& options) : options_(options) {
  metrics::Registry& r = registry_;

  // --- Build. ---
  // simile_build_info: always 1; the labels say what is running (join on it in dashboards).
  const BuildInfo& build = GetBuildInfo();
  r.AddGauge("simile_build_info", "Always 1; labels: simile's version, git commit and whether CUDA is built in.",
             {"version", "commit", "cuda"})
      ->Add({build.version, build.commit, build.cuda ? "true" : "false"})
      ->Set(1);

  // --- Requests (hot path, SimilarityService). ---
  // simile_requests_total{method,code}: every request that reached simile's handler, by gRPC status code name.
  // All 17 codes exist from the start so that rate() sees the first error.
  Family<Counter>* requests = r.AddCounter(
      "simile_requests_total",
      "RPCs answered by simile's handlers, by method and gRPC status code. RPCs that gRPC rejects before a "
      "handler runs (e.g. RESOURCE_EXHAUSTED for a message over --max_receive_message_bytes) are counted by "
      "gRPC, not here.",
      {"method", "code"});
  // simile_request_duration_seconds{method}: from the handler receiving the request (before queueing) to the
  // response being handed to gRPC.
  Family<Histogram>* duration = r.AddHistogram(
      "simile_request_duration_seconds",
      "Time from simile's handler receiving an RPC to handing its response to gRPC (queueing, decoding, "
      "execution), by method.",
      {"method"}, kLatencyBuckets);
  for (size_t m = 0; m < kNumRpcMethods; ++m) {
    const std::string method = Str(Name(static_cast<RpcMethod>(m)));
    for (size_t c = 0; c < kNumStatusCodes; ++c) requests_[m][c] = requests->Add({method, CodeName(c)});
    request_duration_[m] = duration->Add({method});
  }
  // simile_request_queries / simile_request_targets: batch shape (Q and N) of every request that decoded.
  request_queries_ = r.AddHistogram("simile_request_queries", "Query rows (Q) per decoded Cosine request.", {},
                                    kQueryBuckets)
                         ->Add({});
  request_targets_ = r.AddHistogram("simile_request_targets", "Target rows (N) per decoded Cosine request.", {},
                                    kTargetBuckets)
                         ->Add({});
  // simile_requests_in_flight: received and not yet answered (mirrored from SimilarityService at scrape time).
  in_flight_ = r.AddGauge("simile_requests_in_flight", "Cosine RPCs received and not yet answered (queued or "
                                                       "running).")
                   ->Add({});
  in_flight_bytes_ = r.AddGauge("simile_requests_in_flight_payload_bytes",
                                "Vector payload bytes of the Cosine RPCs in flight (what "
                                "admission.max_in_flight_bytes bounds).")
                         ->Add({});
  // simile_admission_rejections_total: also counted in simile_requests_total{code="RESOURCE_EXHAUSTED"}.
  admission_rejected_ = r.AddCounter("simile_admission_rejections_total",
                                     "Cosine RPCs refused at once by admission control (too many requests or "
                                     "payload bytes in flight); also counted as RESOURCE_EXHAUSTED in "
                                     "simile_requests_total.")
                            ->Add({});
  // Target sets: what is resident where, and what the upload API did.
  // location="host": every set (the store); location="gpu": copies resident in GPU memory (replicated on
  // every GPU; the limit is per device).
  Family<Gauge>* sets = r.AddGauge("simile_target_sets", "Target sets uploaded and queryable (simile.v1.TargetSets), "
                                   "by where a copy is resident.", {"location"});
  Family<Gauge>* rows = r.AddGauge("simile_target_set_rows", "Rows of the target sets resident there.", {"location"});
  Family<Gauge>* bytes = r.AddGauge("simile_target_set_bytes",
                                    "Memory the target sets resident there take (vectors and their norms), in bytes.",
                                    {"location"});
  Family<Gauge>* limit = r.AddGauge("simile_target_set_limit_bytes",
                                    "The cap on target-set memory there: --target_sets_max_bytes for the host, "
                                    "target_set_residency for each GPU (0: residency off or no GPU).",
                                    {"location"});
  target_sets_ = sets->Add({"host"});
  target_set_rows_ = rows->Add({"host"});
  target_set_bytes_ = bytes->Add({"host"});
  target_set_max_bytes_ = limit->Add({"host"});
  gpu_target_sets_ = sets->Add({"gpu"});
  gpu_target_set_rows_ = rows->Add({"gpu"});
  gpu_target_set_bytes_ = bytes->Add({"gpu"});
  gpu_target_set_max_bytes_ = limit->Add({"gpu"});
  Family<Counter>* gpu_uploads = r.AddCounter("simile_target_set_gpu_uploads_total",
                                              "Copies of target sets made resident in GPU memory, by result: ok, "
                                              "or failed (out of device memory, device error: the set was "
                                              "streamed instead).",
                                              {"result"});
  gpu_uploads_ok_ = gpu_uploads->Add({"ok"});
  gpu_uploads_failed_ = gpu_uploads->Add({"failed"});
  gpu_evictions_ = r.AddCounter("simile_target_set_gpu_evictions_total",
                                "GPU-resident target-set copies evicted (least recently used first) to stay within "
                                "the residency cap.",
                                {})
                       ->Add({});
  Family<Counter>* uploads = r.AddCounter("simile_target_set_uploads_total",
                                          "Target-set uploads (creates and appends) that reached their commit, "
                                          "by result: committed or rejected (name taken or deleted meanwhile, "
                                          "memory cap).",
                                          {"result"});
  target_set_uploads_committed_ = uploads->Add({"committed"});
  target_set_uploads_failed_ = uploads->Add({"rejected"});
  target_set_deletes_ = r.AddCounter("simile_target_set_deletes_total", "Target sets deleted.", {})->Add({});

  // --- Dispatch. ---
  // simile_dispatch_decisions_total{backend,rule}: the dispatcher's decisions (mirrored from core/'s counters).
  Family<Counter>* decisions = r.AddCounter(
      "simile_dispatch_decisions_total",
      "Dispatch decisions by the backend chosen and the policy rule that chose it (core/dispatch_policy.h).",
      {"backend", "rule"});
  for (size_t b = 0; b < kNumBackendKinds; ++b) {
    for (size_t rule = 0; rule < kNumDispatchRules; ++rule) {
      decisions_[b][rule] = decisions->Add(
          {Name(static_cast<BackendKind>(b)), Name(static_cast<DispatchRule>(rule))});
    }
  }
  // simile_backend_duration_seconds{backend,operation}: execution time of successful requests (hot path).
  Family<Histogram>* backend = r.AddHistogram(
      "simile_backend_duration_seconds",
      "Execution time of successful Cosine requests (all chunks, fallbacks included), by the backend the "
      "dispatcher chose and the operation (one_query: Q = 1, memory bound; many_queries: compute bound).",
      {"backend", "operation"}, kLatencyBuckets);
  for (size_t b = 0; b < kNumBackendKinds; ++b) {
    for (size_t op = 0; op < kNumOperations; ++op) {
      backend_duration_[b][op] =
          backend->Add({Name(static_cast<BackendKind>(b)), Name(static_cast<Operation>(op))});
    }
  }
  // simile_dispatch_decision_duration_seconds: the dispatcher's own cost per request (hot path).
  decision_duration_ =
      r.AddHistogram("simile_dispatch_decision_duration_seconds",
                     "Time the dispatcher took to read its inputs (tracker snapshot, breaker, VRAM budget) and "
                     "choose a backend, per executed Cosine request.",
                     {}, {1e-7, 2.5e-7, 5e-7, 1e-6, 2.5e-6, 5e-6, 1e-5, 1e-4, 1e-3})
          ->Add({});
  // simile_gpu_speedup{operation,size_class}: from the performance tracker, only for size classes where both
  // backends have successful calls in their window.
  gpu_speedup_ = r.AddGauge(
      "simile_gpu_speedup",
      "CPU mean latency / GPU mean latency in one size class of work (size_class k: Q*N*D in [2^(14+k), "
      "2^(15+k)) multiply-adds); > 1 means the GPU is faster. Only size classes where both backends have "
      "successful calls in their window.",
      {"operation", "size_class"});
  // simile_gpu_success_ratio{operation}: over the GPU's last window of calls of any size.
  Family<Gauge>* success = r.AddGauge(
      "simile_gpu_success_ratio",
      "Share of the GPU's last window of calls (any size) that succeeded; 1 when there were none.",
      {"operation"});
  for (size_t op = 0; op < kNumOperations; ++op) {
    gpu_success_ratio_[op] = success->Add({Name(static_cast<Operation>(op))});
  }

  // --- Recovery (mirrored from core/'s counters). ---
  // simile_gpu_fallbacks_total{reason}: requests dispatched to the GPU that finished (partly) on the CPU.
  Family<Counter>* fallbacks = r.AddCounter(
      "simile_gpu_fallbacks_total",
      "Requests dispatched to the GPU that finished (partly) on the CPU, by reason.", {"reason"});
  for (size_t f = 1; f < kNumFallbackReasons; ++f) {  // 0 is "none".
    fallbacks_[f] = fallbacks->Add({Name(static_cast<FallbackReason>(f))});
  }
  // simile_gpu_oom_events_total, simile_gpu_errors_total: GPU chunk failures by kind.
  gpu_oom_events_ =
      r.AddCounter("simile_gpu_oom_events_total", "GPU chunks that ran out of device memory.")->Add({});
  gpu_errors_ = r.AddCounter("simile_gpu_errors_total",
                             "GPU chunks that failed with an error other than out-of-memory (these count "
                             "against the circuit breaker).")
                    ->Add({});
  // simile_chunks_total{backend}, simile_chunk_retries_total: how work was split.
  Family<Counter>* chunks =
      r.AddCounter("simile_chunks_total", "Chunks of work that produced results, by backend.", {"backend"});
  for (size_t b = 0; b < kNumBackendKinds; ++b) chunks_[b] = chunks->Add({Name(static_cast<BackendKind>(b))});
  chunk_retries_ = r.AddCounter("simile_chunk_retries_total",
                                "Chunk splits after a GPU out-of-memory error (the halves are retried).")
                       ->Add({});

  // --- Circuit breaker (mirrored from the breaker's snapshot). The last GPU error is not a label: it is in
  // /status, GetStatus and the circuit_breaker_transition log line. ---
  // simile_circuit_breaker_state{state}: one 0/1 gauge per state, as Envoy exports its breakers.
  Family<Gauge>* state = r.AddGauge(
      "simile_circuit_breaker_state", "1 for the GPU circuit breaker's current state, 0 for the others.",
      {"state"});
  for (size_t s = 0; s < kNumBreakerStates; ++s) breaker_state_[s] = state->Add({Name(static_cast<BreakerState>(s))});
  breaker_consecutive_failures_ =
      r.AddGauge("simile_circuit_breaker_consecutive_failures", "GPU failures in a row since the last success.")
          ->Add({});
  breaker_retry_in_ = r.AddGauge("simile_circuit_breaker_retry_in_seconds",
                                 "While open: seconds until a probe may be sent to the GPU (+Inf when forced "
                                 "open); 0 otherwise.")
                          ->Add({});
  // simile_circuit_breaker_transitions_total{from,to}: every pair of distinct states.
  Family<Counter>* transitions = r.AddCounter("simile_circuit_breaker_transitions_total",
                                              "GPU circuit breaker state changes.", {"from", "to"});
  for (size_t from = 0; from < kNumBreakerStates; ++from) {
    for (size_t to = 0; to < kNumBreakerStates; ++to) {
      if (from == to) continue;
      breaker_transitions_[from][to] =
          transitions->Add({Name(static_cast<BreakerState>(from)), Name(static_cast<BreakerState>(to))});
    }
  }

  // --- GPU and its memory (from the VRAM monitor's reading in the snapshot). ---
  gpu_available_ = r.AddGauge("simile_gpu_available", "1 when a GPU backend is present and usable, else 0.")
                       ->Add({});
  // simile_gpu_memory_*_bytes{device}: present only while the process has a GPU backend.
  gpu_memory_free_ = r.AddGauge("simile_gpu_memory_free_bytes",
                                "Free device memory in bytes, as the last memory query reported.", {"device"});
  gpu_memory_total_ =
      r.AddGauge("simile_gpu_memory_total_bytes", "Total device memory in bytes.", {"device"});
  gpu_memory_limit_ = r.AddGauge(
      "simile_gpu_memory_limit_bytes",
      "The most device memory simile may plan to use (vram.limit_bytes, or the total when unset).", {"device"});
  gpu_memory_usable_ = r.AddGauge(
      "simile_gpu_memory_usable_bytes",
      "Device memory a request may plan to use now: free memory less the safety margin, capped at the limit.",
      {"device"});
  vram_query_failures_ =
      r.AddCounter("simile_vram_query_failures_total", "Failed device free-memory queries.")->Add({});

  // --- Configuration. ---
  // simile_config_version: 1 at start, +1 per applied reload; simile_config_reloads_total{result}.
  config_version_ =
      r.AddGauge("simile_config_version", "Sequence number of the configuration in force (1 at start).")
          ->Add({});
  Family<Counter>* reloads = r.AddCounter(
      "simile_config_reloads_total", "Configuration reloads (SIGHUP), by result: applied or rejected.",
      {"result"});
  reloads_applied_ = reloads->Add({"applied"});
  reloads_rejected_ = reloads->Add({"rejected"});

  // --- Fault injection (testing and chaos drills only; core/fault_injector.h). ---
  // simile_fault_injection_enabled: 1 while any fault is configured, so that dashboards and alerts can tell a
  // drill from an incident; simile_fault_injections_total{kind}: faults injected since start.
  fault_injection_enabled_ =
      r.AddGauge("simile_fault_injection_enabled",
                 "1 while fault injection (configuration section fault_injection; testing only) is on, else 0.")
          ->Add({});
  Family<Counter>* injections = r.AddCounter(
      "simile_fault_injections_total",
      "Faults injected on purpose by fault injection, by kind: gpu_error, gpu_oom, gpu_latency, "
      "vram_query_failure.",
      {"kind"});
  for (size_t k = 0; k < kNumFaultKinds; ++k) {
    fault_injections_[k] = injections->Add({Str(Name(static_cast<FaultKind>(k)))});
  }

  // --- Process, named and measured as the official client libraries do (from /proc). ---
  process_cpu_seconds_ =
      r.AddFloatCounter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.")->Add({});
  process_resident_memory_ =
      r.AddGauge("process_resident_memory_bytes", "Resident memory size in bytes.")->Add({});
  process_virtual_memory_ =
      r.AddGauge("process_virtual_memory_bytes", "Virtual memory size in bytes.")->Add({});
  process_open_fds_ = r.AddGauge("process_open_fds", "Number of open file descriptors.")->Add({});
  process_max_fds_ =
      r.AddGauge("process_max_fds", "Maximum number of open file descriptors (-1: unlimited).")->Add({});
  process_start_time_ = r.AddGauge("process_start_time_seconds",
                                   "Start time of the process since unix epoch in seconds.")
                            ->Add({});
}

std::string SimileMetrics::Scrape(const ExecutorSnapshot& snapshot, const ServiceState& service,
                                  const FaultInjectionSnapshot& faults) {
  MutexLock lock(&scrape_mu_);
  fault_injection_enabled_->Set(faults.enabled ? 1.0 : 0.0);
  for (size_t k = 0; k < kNumFaultKinds; ++k) fault_injections_[k]->Set(faults.injected[k]);
  in_flight_->Set(static_cast<double>(service.in_flight));
  in_flight_bytes_->Set(static_cast<double>(service.in_flight_bytes));
  admission_rejected_->Set(service.admission_rejected);
  target_sets_->Set(static_cast<double>(service.target_sets));
  target_set_rows_->Set(static_cast<double>(service.target_set_rows));
  target_set_bytes_->Set(static_cast<double>(service.target_set_bytes));
  target_set_max_bytes_->Set(static_cast<double>(service.target_set_max_bytes));
  target_set_uploads_committed_->Set(service.target_set_uploads_committed);
  target_set_uploads_failed_->Set(service.target_set_uploads_failed);
  target_set_deletes_->Set(service.target_set_deletes);
  gpu_target_sets_->Set(static_cast<double>(snapshot.residency.sets));
  gpu_target_set_rows_->Set(static_cast<double>(snapshot.residency.rows));
  gpu_target_set_bytes_->Set(static_cast<double>(snapshot.residency.bytes));
  gpu_target_set_max_bytes_->Set(static_cast<double>(snapshot.residency_cap_bytes));
  gpu_uploads_ok_->Set(snapshot.residency.uploads);
  gpu_uploads_failed_->Set(snapshot.residency.upload_failures);
  gpu_evictions_->Set(snapshot.residency.evictions);
  config_version_->Set(snapshot.config != nullptr ? static_cast<double>(snapshot.config->version) : 0.0);
  MirrorDispatch(snapshot);
  MirrorBreaker(snapshot.breaker);
  MirrorGpu(snapshot);
  MirrorProcess();
  std::string out;
  out.reserve(32 * 1024);
  registry_.Render(&out);
  return out;
}

void SimileMetrics::MirrorDispatch(const ExecutorSnapshot& s) {
  const DispatcherCountersSnapshot& c = s.counters;
  for (size_t b = 0; b < kNumBackendKinds; ++b) {
    for (size_t rule = 0; rule < kNumDispatchRules; ++rule) decisions_[b][rule]->Set(c.decisions[b][rule]);
    chunks_[b]->Set(c.chunks[b]);
  }
  for (size_t f = 1; f < kNumFallbackReasons; ++f) fallbacks_[f]->Set(c.fallbacks[f]);
  gpu_oom_events_->Set(c.gpu_oom_events);
  gpu_errors_->Set(c.gpu_errors);
  chunk_retries_->Set(c.chunk_retries);

  gpu_speedup_->Clear();
  for (size_t op = 0; op < kNumOperations; ++op) {
    const OperationSnapshot& ops = s.performance.operations[op];
    gpu_success_ratio_[op]->Set(ops.windows[Index(BackendKind::kGpu)].success_rate());
    for (int sc = 0; sc < kNumSizeClasses; ++sc) {
      const double speedup = ops.size_classes[sc].speedup;
      if (speedup <= 0) continue;
      gpu_speedup_->Add({Name(static_cast<Operation>(op)), absl::StrCat(sc)})->Set(speedup);
    }
  }
}

void SimileMetrics::MirrorBreaker(const CircuitBreakerSnapshot& b) {
  for (size_t s = 0; s < kNumBreakerStates; ++s) breaker_state_[s]->Set(Index(b.state) == s ? 1.0 : 0.0);
  breaker_consecutive_failures_->Set(b.consecutive_failures);
  breaker_retry_in_->Set(b.state == BreakerState::kOpen ? absl::ToDoubleSeconds(b.time_until_retry) : 0.0);
  for (size_t from = 0; from < kNumBreakerStates; ++from) {
    for (size_t to = 0; to < kNumBreakerStates; ++to) {
      if (from != to) breaker_transitions_[from][to]->Set(static_cast<uint64_t>(b.transitions[from][to]));
    }
  }
}

void SimileMetrics::MirrorGpu(const ExecutorSnapshot& s) {
  gpu_available_->Set(s.gpu_available ? 1.0 : 0.0);
  vram_query_failures_->Set(s.vram_query_failures);
  if (!s.gpu_present) {
    for (Family<Gauge>* f : {gpu_memory_free_, gpu_memory_total_, gpu_memory_limit_, gpu_memory_usable_}) {
      f->Clear();
    }
    return;
  }
  const uint64_t configured_limit = s.config != nullptr ? s.config->vram.limit_bytes : 0;
  const uint64_t limit = configured_limit != 0 ? configured_limit : s.vram.total_bytes;
  gpu_memory_free_->Add({options_.gpu_device})->Set(static_cast<double>(s.vram.free_bytes));
  gpu_memory_total_->Add({options_.gpu_device})->Set(static_cast<double>(s.vram.total_bytes));
  gpu_memory_limit_->Add({options_.gpu_device})->Set(static_cast<double>(limit));
  gpu_memory_usable_->Add({options_.gpu_device})->Set(static_cast<double>(s.vram.usable_bytes));
}

void SimileMetrics::MirrorProcess() {
  absl::StatusOr<ProcessStats> p = ReadProcessStats();
  if (!p.ok()) return;  // Not Linux: the process_* values stay at their last reading.
  process_cpu_seconds_->Set(p->cpu_seconds);
  process_resident_memory_->Set(p->resident_memory_bytes);
  process_virtual_memory_->Set(p->virtual_memory_bytes);
  process_open_fds_->Set(p->open_fds);
  process_max_fds_->Set(p->max_fds);
  process_start_time_->Set(p->start_time_seconds);
}

}  // namespace simile::server
