// CosineTask and ResultBuffers: one similarity request as core/ sees it (no gRPC, no protobuf), and
// where its results go.
//
// Thread safety: plain values over non-owning views; see MatrixView.
#ifndef SIMILE_CORE_COSINE_TASK_H_
#define SIMILE_CORE_COSINE_TASK_H_

#include <cstdint>

#include "absl/types/span.h"
#include "core/matrix_view.h"

namespace simile {

struct TargetSetVersion;

// Where the caller wants the work to run (mirrors simile.v1.Placement).
enum class Placement : uint8_t {
  kAuto,  // The dispatcher decides.
  kCpu,   // CPU only.
  kGpu,   // GPU or fail; never a silent fallback.
};

struct CosineTask {
  MatrixView queries;  // Q rows.
  MatrixView targets;  // N rows, same dim as queries.
  uint32_t top_k = 0;  // 0: the full Q x N matrix; else each query's k best targets (k <= N).
  Placement placement = Placement::kAuto;
  // True when the targets were checked finite before (a target set, checked at upload): validation then
  // skips its scan of them.
  bool targets_known_finite = false;
  // The target set the targets come from (`targets` is its view), or null for inline targets; the caller
  // keeps it alive for the call. Lets a GPU keep the set resident (core/residency_cache.h).
  const TargetSetVersion* target_set = nullptr;

  [[nodiscard]] uint64_t num_scores() const {
    return static_cast<uint64_t>(queries.rows) * targets.rows;
  }
};

// Caller-owned storage for a task's results (for the server: memory inside the response message, so
// results are written once, in place).
struct ResultBuffers {
  absl::Span<float> scores;          // top_k == 0: Q * N scores, element [q * N + t].
  absl::Span<uint32_t> top_indices;  // top_k > 0: Q * k target indices, best first per query.
  absl::Span<float> top_scores;      // top_k > 0: the matching Q * k scores.
};

}  // namespace simile

#endif  // SIMILE_CORE_COSINE_TASK_H_
