#include "core/multi_gpu_backend.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace simile {
namespace {

std::string Describe(const std::vector<Backend*>& devices) {
  std::string out = absl::StrCat(devices.size(), " GPUs: ");
  for (size_t i = 0; i < devices.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : "; ", devices[i]->description());
  }
  return out;
}

// One target set resident on every available device: any device can then run any of its chunks, so the
// load spreads as it does for inline targets. bytes() is one device's share (the cap is per device).
class ReplicatedTargets final : public ResidentTargets {
 public:
  ReplicatedTargets(const Backend* owner, std::vector<std::shared_ptr<const ResidentTargets>> replicas)
      : owner_(owner), replicas_(std::move(replicas)) {
    for (const auto& r : replicas_) {
      if (r != nullptr) any_ = r.get();
    }
  }
  [[nodiscard]] const Backend* owner() const override { return owner_; }
  [[nodiscard]] uint64_t bytes() const override { return any_->bytes(); }
  [[nodiscard]] uint32_t rows() const override { return any_->rows(); }
  [[nodiscard]] uint32_t dim() const override { return any_->dim(); }
  // Device i's copy, or null (the device was unavailable at upload).
  [[nodiscard]] const ResidentTargets* replica(size_t i) const { return replicas_[i].get(); }

 private:
  const Backend* const owner_;
  const std::vector<std::shared_ptr<const ResidentTargets>> replicas_;
  const ResidentTargets* any_ = nullptr;  // Non-null: MakeResident makes at least one replica.
};

}  // namespace

absl::StatusOr<std::shared_ptr<const ResidentTargets>> MultiGpuBackend::MakeResident(
    const MatrixView& targets, absl::Span<const float> norms) {
  std::vector<std::shared_ptr<const ResidentTargets>> replicas(devices_.size());
  bool any = false;
  for (size_t i = 0; i < devices_.size(); ++i) {
    if (!devices_[i]->Available()) continue;
    absl::StatusOr<std::shared_ptr<const ResidentTargets>> r = devices_[i]->MakeResident(targets, norms);
    // All or nothing: a set missing on a device would pin its chunks to the others.
    if (!r.ok()) return r.status();  // The replicas made so far are freed here.
    replicas[i] = *std::move(r);
    any = true;
  }
  if (!any) return absl::UnavailableError("no GPU is available");
  return std::make_shared<const ReplicatedTargets>(this, std::move(replicas));
}

absl::StatusOr<std::unique_ptr<MultiGpuBackend>> MultiGpuBackend::Create(
    std::vector<Backend*> devices) {
  if (devices.empty()) return absl::InvalidArgumentError("MultiGpuBackend: no devices");
  for (const Backend* d : devices) {
    if (d == nullptr || d->kind() != BackendKind::kGpu) {
      return absl::InvalidArgumentError("MultiGpuBackend: every device must be a GPU backend");
    }
  }
  return std::unique_ptr<MultiGpuBackend>(new MultiGpuBackend(std::move(devices)));
}

MultiGpuBackend::MultiGpuBackend(std::vector<Backend*> devices)
    : devices_(std::move(devices)),
      description_(Describe(devices_)),
      query_(&devices_),
      in_flight_(new std::atomic<int>[devices_.size()]) {
  for (size_t i = 0; i < devices_.size(); ++i) in_flight_[i].store(0, std::memory_order_relaxed);
}

bool MultiGpuBackend::Available() const {
  return std::any_of(devices_.begin(), devices_.end(),
                     [](const Backend* d) { return d->Available(); });
}

DeviceMemoryModel MultiGpuBackend::MemoryModel(uint32_t q, uint32_t dim, uint32_t top_k) const {
  DeviceMemoryModel model;
  for (const Backend* d : devices_) {
    const DeviceMemoryModel m = d->MemoryModel(q, dim, top_k);
    model.fixed_bytes = std::max(model.fixed_bytes, m.fixed_bytes);
    model.bytes_per_row_extra = std::max(model.bytes_per_row_extra, m.bytes_per_row_extra);
  }
  return model;
}

int MultiGpuBackend::Pick(const std::vector<bool>& tried) {
  const size_t n = devices_.size();
  const size_t start = next_.fetch_add(1, std::memory_order_relaxed) % n;
  int best = -1;
  int best_load = 0;
  for (size_t step = 0; step < n; ++step) {
    const size_t i = (start + step) % n;
    if (tried[i] || !devices_[i]->Available()) continue;
    const int load = in_flight_[i].load(std::memory_order_relaxed);
    if (best < 0 || load < best_load) {
      best = static_cast<int>(i);
      best_load = load;
    }
  }
  return best;
}

absl::StatusOr<uint64_t> MultiGpuBackend::Cosine(const ChunkArgs& args) {
  std::vector<bool> tried(devices_.size(), false);
  const ReplicatedTargets* replicated = nullptr;
  if (args.resident != nullptr) {
    if (args.resident->owner() != this) {
      return absl::InvalidArgumentError("the chunk's resident targets belong to another backend");
    }
    replicated = static_cast<const ReplicatedTargets*>(args.resident);
    // Only devices holding a copy may run the chunk.
    for (size_t i = 0; i < devices_.size(); ++i) tried[i] = replicated->replica(i) == nullptr;
  }
  absl::Status last = absl::UnavailableError(replicated != nullptr
                                                 ? "no GPU holding the resident target set is available"
                                                 : "no GPU is available");
  for (int i = Pick(tried); i >= 0; i = Pick(tried)) {
    tried[i] = true;
    ChunkArgs device_args = args;
    if (replicated != nullptr) device_args.resident = replicated->replica(i);
    in_flight_[i].fetch_add(1, std::memory_order_relaxed);
    absl::StatusOr<uint64_t> result = devices_[i]->Cosine(device_args);
    in_flight_[i].fetch_sub(1, std::memory_order_relaxed);
    if (result.ok() || result.status().code() != absl::StatusCode::kUnavailable) return result;
    last = result.status();  // Device lost: try the next one.
  }
  return last;
}

absl::StatusOr<DeviceMemoryInfo> MultiGpuBackend::MinFreeQuery::Query() {
  absl::Status last = absl::UnavailableError("no GPU is available");
  bool found = false;
  DeviceMemoryInfo smallest;
  for (Backend* d : *devices_) {
    if (!d->Available() || d->memory_query() == nullptr) continue;
    absl::StatusOr<DeviceMemoryInfo> info = d->memory_query()->Query();
    if (!info.ok()) {
      last = info.status();
      continue;
    }
    if (!found || info->free_bytes < smallest.free_bytes) smallest = *info;
    found = true;
  }
  if (!found) return last;
  return smallest;
}

}  // namespace simile
