#include "server/config_file.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "simile/v1/server_config.pb.h"

namespace simile::server {
namespace {

// Collects the text-format parser's first error with its position.
class ErrorCollector final : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (first_.empty())
      first_ = absl::StrCat("line ", line + 1, ", column ", column + 1, ": ", message);
  }
  [[nodiscard]] const std::string& first() const { return first_; }

 private:
  std::string first_;
};

// Copies every set field of a config section onto its core options (unset fields keep their
// defaults).
#define SIMILE_APPLY(in, field, out_field) \
  if ((in).has_##field()) out_field = (in).field()
#define SIMILE_APPLY_SECONDS(in, field, out_field) \
  if ((in).has_##field##_seconds()) out_field = absl::Seconds((in).field##_seconds())

void ApplyLimits(const v1::LimitsConfig& in, Limits* out) {
  SIMILE_APPLY(in, max_dim, out->max_dim);
  SIMILE_APPLY(in, max_queries, out->max_queries);
  SIMILE_APPLY(in, max_targets, out->max_targets);
  SIMILE_APPLY(in, max_result_elements, out->max_result_elements);
}

void ApplyAdmission(const v1::AdmissionConfig& in, AdmissionLimits* out) {
  SIMILE_APPLY(in, max_in_flight_requests, out->max_in_flight_requests);
  SIMILE_APPLY(in, max_in_flight_bytes, out->max_in_flight_bytes);
}

void ApplyPolicy(const v1::DispatchPolicyConfig& in, PolicyOptions* out) {
  SIMILE_APPLY(in, min_gpu_batch_one_query, out->min_gpu_batch_one_query);
  SIMILE_APPLY(in, min_gpu_batch_many_queries, out->min_gpu_batch_many_queries);
  SIMILE_APPLY(in, min_gpu_batch_resident_one_query, out->min_gpu_batch_resident_one_query);
  SIMILE_APPLY(in, min_gpu_batch_resident_many_queries, out->min_gpu_batch_resident_many_queries);
  SIMILE_APPLY(in, required_speedup, out->required_speedup);
  SIMILE_APPLY(in, min_samples, out->min_samples);
  SIMILE_APPLY(in, min_success_rate, out->min_success_rate);
  SIMILE_APPLY(in, min_success_samples, out->min_success_samples);
  SIMILE_APPLY(in, explore_fraction, out->explore_fraction);
  SIMILE_APPLY_SECONDS(in, max_estimate_age, out->max_estimate_age);
}

void ApplyBreaker(const v1::CircuitBreakerConfig& in, CircuitBreaker::Options* out) {
  if (in.has_mode()) {
    out->mode = in.mode() == v1::CircuitBreakerConfig::MODE_FORCE_OPEN ? BreakerMode::kForceOpen
                : in.mode() == v1::CircuitBreakerConfig::MODE_FORCE_CLOSED
                    ? BreakerMode::kForceClosed
                    : BreakerMode::kAuto;
  }
  SIMILE_APPLY(in, consecutive_failures_to_open, out->consecutive_failures_to_open);
  SIMILE_APPLY(in, window_size, out->window_size);
  SIMILE_APPLY(in, window_min_calls, out->window_min_calls);
  SIMILE_APPLY(in, window_failure_rate_to_open, out->window_failure_rate_to_open);
  SIMILE_APPLY_SECONDS(in, base_cool_down, out->base_cool_down);
  SIMILE_APPLY(in, cool_down_multiplier, out->cool_down_multiplier);
  SIMILE_APPLY_SECONDS(in, max_cool_down, out->max_cool_down);
  SIMILE_APPLY(in, half_open_probes, out->half_open_probes);
  SIMILE_APPLY_SECONDS(in, probe_timeout, out->probe_timeout);
  SIMILE_APPLY_SECONDS(in, backoff_reset_after, out->backoff_reset_after);
}

void ApplyVram(const v1::VramMonitorConfig& in, VramMonitor::Options* out) {
  SIMILE_APPLY_SECONDS(in, cache_ttl, out->cache_ttl);
  SIMILE_APPLY(in, safety_margin_fraction, out->safety_margin_fraction);
  SIMILE_APPLY(in, pessimistic_fraction, out->pessimistic_fraction);
  SIMILE_APPLY(in, limit_bytes, out->limit_bytes);
}

void ApplyChunking(const v1::ChunkingConfig& in, ChunkingOptions* out) {
  SIMILE_APPLY(in, gpu_headroom_bytes, out->gpu_headroom_bytes);
  SIMILE_APPLY(in, min_gpu_chunk_rows, out->min_gpu_chunk_rows);
  SIMILE_APPLY(in, cpu_chunk_macs, out->cpu_chunk_macs);
}

void ApplyResidency(const v1::TargetSetResidencyConfig& in, ResidencyOptions* out) {
  SIMILE_APPLY(in, max_fraction_of_device, out->max_fraction_of_device);
  SIMILE_APPLY(in, max_bytes, out->max_bytes);
}

void ApplyFaultInjection(const v1::FaultInjection& in, FaultInjectionOptions* out) {
  SIMILE_APPLY(in, gpu_error_rate, out->gpu_error_rate);
  SIMILE_APPLY(in, gpu_oom_rate, out->gpu_oom_rate);
  if (in.has_gpu_added_latency_ms()) out->gpu_added_latency = absl::Milliseconds(in.gpu_added_latency_ms());
  SIMILE_APPLY(in, vram_query_failure_rate, out->vram_query_failure_rate);
  SIMILE_APPLY(in, seed, out->seed);
  SIMILE_APPLY(in, simulate_gpu, out->simulate_gpu);
  SIMILE_APPLY(in, simulated_gpu_memory_bytes, out->simulated_gpu_memory_bytes);
}

#undef SIMILE_APPLY
#undef SIMILE_APPLY_SECONDS

// Parses `text` into `proto`, merging: fields it sets replace those already there.
absl::Status MergeText(absl::string_view text, absl::string_view source, v1::ServerConfig* proto) {
  google::protobuf::TextFormat::Parser parser;
  ErrorCollector errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.MergeFromString(std::string(text), proto)) {
    return absl::InvalidArgumentError(absl::StrCat("config ", source, ": ", errors.first()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read config file ", path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::StatusOr<ServingConfig> ToServingConfig(const v1::ServerConfig& proto,
                                              absl::string_view source) {
  ServingConfig config;
  config.source = std::string(source);
  ApplyLimits(proto.limits(), &config.limits);
  ApplyAdmission(proto.admission(), &config.admission);
  ApplyPolicy(proto.dispatch_policy(), &config.policy);
  ApplyBreaker(proto.circuit_breaker(), &config.breaker);
  ApplyVram(proto.vram_monitor(), &config.vram);
  ApplyChunking(proto.chunking(), &config.chunking);
  ApplyResidency(proto.target_set_residency(), &config.residency);
  ApplyFaultInjection(proto.fault_injection(), &config.fault_injection);
  if (proto.performance_tracker().has_window_size()) {
    config.tracker_window = proto.performance_tracker().window_size();
  }
  if (absl::Status s = config.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("config ", source, ": ", s.message()));
  }
  return config;
}

}  // namespace

absl::StatusOr<ServingConfig> ParseServingConfig(absl::string_view text, absl::string_view source) {
  v1::ServerConfig proto;
  if (absl::Status s = MergeText(text, source, &proto); !s.ok()) return s;
  return ToServingConfig(proto, source);
}

absl::StatusOr<ServingConfig> LoadServingConfig(const std::string& path,
                                                const std::string& profile_path) {
  v1::ServerConfig proto;
  std::string source = "defaults";
  for (const std::string* file :
       {&profile_path, &path}) {  // The profile first; the config file overrides it.
    if (file->empty()) continue;
    absl::StatusOr<std::string> text = ReadFile(*file);
    if (!text.ok()) return text.status();
    if (absl::Status s = MergeText(*text, *file, &proto); !s.ok()) return s;
    source = source == "defaults" ? *file : absl::StrCat(source, " + ", *file);
  }
  return ToServingConfig(proto, source);
}

}  // namespace simile::server
