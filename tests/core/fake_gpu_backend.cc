#include "tests/core/fake_gpu_backend.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/host_resident_targets.h"

namespace simile {
namespace {

// Plain float loops, deliberately unlike the CPU kernel: one pass, no blocking, no vectors.
float PlainCosine(const float* a, const float* b, uint32_t dim) {
  float dot = 0.0f;
  float aa = 0.0f;
  float bb = 0.0f;
  for (uint32_t i = 0; i < dim; ++i) {
    dot += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  if (aa == 0.0f || bb == 0.0f) return 0.0f;  // The contract: a zero vector's cosine is 0.
  const float s = dot / (std::sqrt(aa) * std::sqrt(bb));
  return std::min(1.0f, std::max(-1.0f, s)) + 0.0f;
}

// Writes the chunk's results; `only_half` writes only the first half of each query's results.
// Returns the number of result values written.
uint64_t Compute(const ChunkArgs& args, bool only_half) {
  const MatrixView& q = args.queries;
  const MatrixView& t = args.targets;
  uint64_t written = 0;
  if (args.top_k == 0) {
    const uint32_t cols = only_half ? t.rows / 2 : t.rows;
    for (uint32_t i = 0; i < q.rows; ++i) {
      for (uint32_t j = 0; j < cols; ++j) {
        args.out.scores[i * args.out.ld + j] = PlainCosine(q.Row(i), t.Row(j), q.dim);
      }
      written += cols;
    }
    return written;
  }
  const uint32_t k_eff = std::min(args.top_k, t.rows);
  const uint32_t keep = only_half ? k_eff / 2 : k_eff;
  std::vector<std::pair<float, uint32_t>> scored(t.rows);
  for (uint32_t i = 0; i < q.rows; ++i) {
    for (uint32_t j = 0; j < t.rows; ++j) {
      scored[j] = {PlainCosine(q.Row(i), t.Row(j), q.dim), j};
    }
    std::partial_sort(scored.begin(), scored.begin() + k_eff, scored.end(),
                      [](const std::pair<float, uint32_t>& a, const std::pair<float, uint32_t>& b) {
                        return a.first > b.first || (a.first == b.first && a.second < b.second);
                      });
    for (uint32_t r = 0; r < keep; ++r) {
      args.out.top_indices[size_t{i} * k_eff + r] = args.target_offset + scored[r].second;
      args.out.top_scores[size_t{i} * k_eff + r] = scored[r].first;
    }
    written += keep;
  }
  return written;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// FakeDeviceMemory

absl::StatusOr<DeviceMemoryInfo> FakeDeviceMemory::Query() {
  std::function<void()> hook;
  {
    MutexLock lock(&mu_);
    hook = hook_;
  }
  if (hook) hook();
  queries_.fetch_add(1, std::memory_order_relaxed);
  MutexLock lock(&mu_);
  if (fail_always_ || fail_next_ > 0) {
    if (fail_next_ > 0) --fail_next_;
    failures_.fetch_add(1, std::memory_order_relaxed);
    return absl::InternalError("fake cudaMemGetInfo failure");
  }
  return info_;
}

void FakeDeviceMemory::SetInfo(uint64_t free_bytes, uint64_t total_bytes) {
  MutexLock lock(&mu_);
  info_ = DeviceMemoryInfo{free_bytes, total_bytes};
}

void FakeDeviceMemory::SetFailAlways(bool fail) {
  MutexLock lock(&mu_);
  fail_always_ = fail;
}

void FakeDeviceMemory::FailNextQueries(int n) {
  MutexLock lock(&mu_);
  fail_next_ = n;
}

void FakeDeviceMemory::SetQueryHook(std::function<void()> hook) {
  MutexLock lock(&mu_);
  hook_ = std::move(hook);
}

// ---------------------------------------------------------------------------------------------
// FakeGpuBackend

FakeGpuBackend::FakeGpuBackend(FakeClock* clock) : clock_(clock) {}

bool FakeGpuBackend::Available() const { return available_.load(std::memory_order_relaxed); }

DeviceMemoryModel FakeGpuBackend::MemoryModel(uint32_t /*q*/, uint32_t /*dim*/,
                                              uint32_t /*top_k*/) const {
  MutexLock lock(&mu_);
  return model_;
}

void FakeGpuBackend::SetMemoryModel(DeviceMemoryModel model) {
  MutexLock lock(&mu_);
  model_ = model;
}

void FakeGpuBackend::SetAvailable(bool available) {
  available_.store(available, std::memory_order_relaxed);
}

void FakeGpuBackend::SetOomAboveRows(uint64_t rows) {
  MutexLock lock(&mu_);
  oom_above_rows_ = rows;
}

void FakeGpuBackend::OomOnCall(uint64_t call) {
  MutexLock lock(&mu_);
  oom_calls_.insert(call);
}

void FakeGpuBackend::OomAtOffset(uint32_t offset) {
  MutexLock lock(&mu_);
  oom_offsets_.insert(offset);
}

void FakeGpuBackend::FailOnCall(uint64_t call) {
  MutexLock lock(&mu_);
  error_calls_.insert(call);
}

void FakeGpuBackend::SetFailAlways(bool fail) {
  MutexLock lock(&mu_);
  fail_always_ = fail;
}

void FakeGpuBackend::LoseDeviceOnCall(uint64_t call) {
  MutexLock lock(&mu_);
  lost_calls_.insert(call);
}

void FakeGpuBackend::ShortResultOnCall(uint64_t call) {
  MutexLock lock(&mu_);
  short_calls_.insert(call);
}

void FakeGpuBackend::SetRandomFaults(const RandomFaults& faults) {
  MutexLock lock(&mu_);
  random_ = true;
  random_faults_ = faults;
  rng_.seed(faults.seed);
}

void FakeGpuBackend::ClearFaults() {
  MutexLock lock(&mu_);
  oom_above_rows_ = 0;
  oom_calls_.clear();
  oom_offsets_.clear();
  error_calls_.clear();
  fail_always_ = false;
  lost_calls_.clear();
  short_calls_.clear();
  random_ = false;
}

void FakeGpuBackend::SetLatency(absl::Duration per_call, absl::Duration per_row) {
  MutexLock lock(&mu_);
  latency_per_call_ = per_call;
  latency_per_row_ = per_row;
}

void FakeGpuBackend::SetCallHook(std::function<void(const ChunkArgs&, uint64_t)> hook) {
  MutexLock lock(&mu_);
  hook_ = std::move(hook);
}

std::vector<FakeGpuCall> FakeGpuBackend::CallLog() const {
  MutexLock lock(&mu_);
  return log_;
}

FakeGpuBackend::Fault FakeGpuBackend::PickFault(uint64_t number, uint32_t offset, uint32_t rows) {
  if (lost_calls_.count(number) != 0) return Fault::kDeviceLost;
  if (fail_always_ || error_calls_.count(number) != 0) return Fault::kError;
  if ((oom_above_rows_ != 0 && rows > oom_above_rows_) || oom_calls_.count(number) != 0 ||
      oom_offsets_.count(offset) != 0) {
    return Fault::kOom;
  }
  if (short_calls_.count(number) != 0) return Fault::kShort;
  if (random_) {
    const int draw = static_cast<int>(rng_() % 1000);
    int edge = random_faults_.device_lost_per_mille;
    if (draw < edge) return Fault::kDeviceLost;
    edge += random_faults_.error_per_mille;
    if (draw < edge) return Fault::kError;
    edge += random_faults_.oom_per_mille;
    if (draw < edge) return Fault::kOom;
    edge += random_faults_.short_per_mille;
    if (draw < edge) return Fault::kShort;
  }
  return Fault::kNone;
}

absl::StatusOr<uint64_t> FakeGpuBackend::Cosine(const ChunkArgs& args) {
  const uint64_t number = calls_.fetch_add(1, std::memory_order_relaxed) + 1;
  std::function<void(const ChunkArgs&, uint64_t)> hook;
  absl::Duration latency;
  {
    MutexLock lock(&mu_);
    hook = hook_;
    latency = latency_per_call_ + latency_per_row_ * static_cast<int64_t>(args.targets.rows);
  }
  if (clock_ != nullptr) clock_->Advance(latency);
  if (hook) hook(args, number);

  FakeGpuCall call;
  call.number = number;
  call.target_offset = args.target_offset;
  call.rows = args.targets.rows;
  call.queries = args.queries.rows;
  call.top_k = args.top_k;
  Fault fault = Fault::kNone;
  {
    MutexLock lock(&mu_);
    fault = PickFault(number, args.target_offset, args.targets.rows);
    switch (fault) {
      case Fault::kNone:
        break;
      case Fault::kOom:
        call.outcome = absl::StatusCode::kResourceExhausted;
        break;
      case Fault::kError:
        call.outcome = absl::StatusCode::kInternal;
        break;
      case Fault::kDeviceLost:
        call.outcome = absl::StatusCode::kUnavailable;
        break;
      case Fault::kShort:
        call.short_result = true;
        break;
    }
    log_.push_back(call);
  }

  const std::string where =
      absl::StrCat("rows [", args.target_offset, ", ", args.target_offset + args.targets.rows,
                   ") on call ", number);
  switch (fault) {
    case Fault::kOom:
      return absl::ResourceExhaustedError(
          absl::StrCat("fake cudaErrorMemoryAllocation: out of memory for ", where));
    case Fault::kError:
      return absl::InternalError(absl::StrCat("fake cudaErrorLaunchFailure for ", where));
    case Fault::kDeviceLost:
      available_.store(false, std::memory_order_relaxed);
      return absl::UnavailableError(absl::StrCat("fake cudaErrorDevicesUnavailable for ", where));
    case Fault::kShort:
    case Fault::kNone:
      break;
  }
  uint64_t written = 0;
  if (args.resident != nullptr) {
    // Computed from the resident copy, so a test proves the chunk read it (and never the host rows).
    absl::StatusOr<ChunkArgs> from_copy = HostResidentTargets::ReadFromCopy(args, this);
    if (!from_copy.ok()) return from_copy.status();
    written = Compute(*from_copy, fault == Fault::kShort);
    resident_chunks_.fetch_add(1, std::memory_order_relaxed);
  } else {
    written = Compute(args, fault == Fault::kShort);
  }
  rows_computed_.fetch_add(args.targets.rows, std::memory_order_relaxed);
  return written;
}

absl::StatusOr<std::shared_ptr<const ResidentTargets>> FakeGpuBackend::MakeResident(
    const MatrixView& targets, absl::Span<const float> /*norms*/) {
  uploads_attempted_.fetch_add(1, std::memory_order_relaxed);
  {
    MutexLock lock(&mu_);
    if (fail_uploads_) return absl::ResourceExhaustedError("fake cudaErrorMemoryAllocation: resident set upload");
  }
  if (!Available()) return absl::UnavailableError("fake GPU unavailable");
  return std::make_shared<const HostResidentTargets>(this, targets, &resident_bytes_);
}

void FakeGpuBackend::SetFailUploads(bool fail) {
  MutexLock lock(&mu_);
  fail_uploads_ = fail;
}

}  // namespace simile
