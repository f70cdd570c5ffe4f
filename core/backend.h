// Backend: one device that computes cosine similarities (the CPU, or one GPU).
//
// The executor hands a backend one chunk at a time: all queries against a contiguous range of
// target rows. Error contract (the executor's recovery depends on it):
// - absl::StatusCode::kResourceExhausted: the device ran out of memory for this chunk. Nothing else
// is wrong;
//   the executor retries the chunk smaller.
// - absl::StatusCode::kUnavailable: the device is unusable (sticky CUDA error, device lost). The
// backend reports
//   Available() == false from then on.
// - absl::StatusCode::kInvalidArgument, only from a backend that ChecksTargetsFinite() and only
//   when the chunk asked for it (ChunkArgs::check_targets_finite): a target value is NaN or
//   infinite. The results are not to be used; the executor finds the first bad value and reports
//   the request invalid.
// - any other code: this chunk failed; the device may still work.
// On success the backend returns how many result values it wrote, which the executor checks against
// what the chunk must produce, so that a short result is never taken for a full one.
//
// Thread safety: implementations must allow concurrent Cosine calls from several threads.
#ifndef SIMILE_CORE_BACKEND_H_
#define SIMILE_CORE_BACKEND_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/backend_kind.h"
#include "absl/types/span.h"
#include "core/matrix_view.h"

namespace simile {

class Backend;

// A copy of a whole target set in one device's memory, made by Backend::MakeResident and read by later chunks
// (ChunkArgs::resident) without crossing PCIe again. Device memory is freed when the last holder lets go: the
// residency cache (core/residency_cache.h) drops its reference on eviction, and chunks still reading it keep it
// alive until they finish.
class ResidentTargets {
 public:
  virtual ~ResidentTargets() = default;
  // The backend that made it: the only one that may read it.
  [[nodiscard]] virtual const Backend* owner() const = 0;
  // Device bytes it holds (per device, for a copy replicated on several).
  [[nodiscard]] virtual uint64_t bytes() const = 0;
  [[nodiscard]] virtual uint32_t rows() const = 0;
  [[nodiscard]] virtual uint32_t dim() const = 0;
};

// Where one chunk's results go. Exactly one layout is used, chosen by the chunk's top_k.
struct ChunkOutput {
  // top_k == 0: score of query q against the chunk's target t at scores[q * ld + t].
  float* scores = nullptr;
  size_t ld = 0;
  // top_k > 0: k_eff = min(top_k, chunk rows) candidates per query, best first, at [q * k_eff + i];
  // indices are global target rows (the chunk's first row is `target_offset`).
  uint32_t* top_indices = nullptr;
  float* top_scores = nullptr;
};

struct ChunkArgs {
  MatrixView queries;
  MatrixView targets;  // The chunk's rows only (host memory; always valid).
  uint32_t target_offset = 0;
  uint32_t top_k = 0;
  ChunkOutput out;
  // Set only for the backend that made it: the whole target set is already in its memory, and the chunk's rows
  // are its rows [target_offset, target_offset + targets.rows). The backend reads them there instead of
  // copying `targets`.
  const ResidentTargets* resident = nullptr;
  // True when the targets have not been checked finite yet: the backend checks them during its own
  // pass over them (kInvalidArgument if one is not). The executor sets it only for a backend that
  // ChecksTargetsFinite(), i.e. the CPU: a GPU never receives unchecked data.
  bool check_targets_finite = false;

  // The number of result values a successful call must report.
  [[nodiscard]] uint64_t ExpectedResults() const {
    const uint64_t per_query =
        top_k == 0 ? targets.rows : (top_k < targets.rows ? top_k : targets.rows);
    return static_cast<uint64_t>(queries.rows) * per_query;
  }
};

// Device memory one request needs on a backend, for chunk planning: fixed_bytes per request
// (queries, their norms, per-request buffers) plus bytes_per_row_extra per target row beyond the
// row's own dim * 4 bytes (its norm, its scores). Zero for the CPU, which is never planned against
// a memory budget.
struct DeviceMemoryModel {
  uint64_t fixed_bytes = 0;
  uint64_t bytes_per_row_extra = 0;
};

class DeviceMemoryQuery;

class Backend {
 public:
  virtual ~Backend() = default;

  [[nodiscard]] virtual BackendKind kind() const = 0;
  // A short human-readable name, e.g. "cpu" or "gpu0 (NVIDIA H100 80GB HBM3)".
  [[nodiscard]] virtual std::string description() const = 0;
  // False when the device cannot run work (absent, no driver, or marked unusable after a fatal
  // error).
  [[nodiscard]] virtual bool Available() const = 0;

  // The device memory a request of q queries of dimension dim (and top_k) needs; see
  // DeviceMemoryModel.
  [[nodiscard]] virtual DeviceMemoryModel MemoryModel(uint32_t q, uint32_t dim,
                                                      uint32_t top_k) const {
    return {};
  }
  // The device's free/total memory query (not owned; lives as long as the backend); null for the
  // CPU.
  [[nodiscard]] virtual DeviceMemoryQuery* memory_query() { return nullptr; }

  // Copies `targets` (a whole target set; `norms` holds one L2 norm per row) into device memory for later
  // chunks (ChunkArgs::resident). RESOURCE_EXHAUSTED when device memory is short, UNIMPLEMENTED for a
  // backend that keeps nothing resident (the CPU), UNAVAILABLE when the device is unusable.
  [[nodiscard]] virtual absl::StatusOr<std::shared_ptr<const ResidentTargets>> MakeResident(
      const MatrixView& targets, absl::Span<const float> norms);

  // Whether Cosine honours ChunkArgs::check_targets_finite.
  [[nodiscard]] virtual bool ChecksTargetsFinite() const { return false; }
  // Computes one chunk (see the error contract above). Returns the number of result values written.
  [[nodiscard]] virtual absl::StatusOr<uint64_t> Cosine(const ChunkArgs& args) = 0;
};

}  // namespace simile

#endif  // SIMILE_CORE_BACKEND_H_
