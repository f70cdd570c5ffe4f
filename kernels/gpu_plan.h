// GPU call planning: how one Backend::Cosine call (Q queries against a chunk of n target rows) is
// laid out on a GPU, as pure functions of the shape and the options, so that every size, pass and
// byte count is unit-tested without a GPU and the memory model the chunk planner uses
// (core/chunk_planner.h) is checked against the layout the pipeline really allocates.
//
// What a call does (kernels/cosine_pipeline_internal.h runs it):
// - Rows are padded to padded_dim = dim rounded up to a multiple of 4 floats, with zeros, so that
//   every row starts 16-byte aligned and every kernel reads whole float4s (zeros change no dot
//   product and no norm). The padding is written on the host while staging, so no kernel has a
//   scalar tail.
// - The targets are cut into sub-chunks of sub_rows rows: sub-chunk i+1 is copied to the device
//   while sub-chunk i is computed (two device buffers, two pinned staging buffers). sub_rows is
//   bounded by sub_chunk_target_bytes (device bytes of one target buffer) and
//   sub_chunk_score_bytes (Q * sub_rows * 4, the score buffer).
// - Scores: Q <= max_fused_queries: one fused kernel reads each target row once and computes the
//   dots and the row's norm in the same pass (memory bound). Otherwise cuBLAS SGEMM of the
//   normalized queries against the raw targets, a norms kernel, and an epilogue dividing by the
//   target norms (compute bound).
// - top_k == 0: the scores go back to the host (pinned, double-buffered). 0 < k_eff <= 1024
//   (kMaxDeviceTopK): selection on the GPU; each sub-chunk's candidates are merged into a running
//   best list of k_eff per query, and only Q * k_eff results cross PCIe at the end. k_eff > 1024:
//   the scores go back to the host, which selects (core/top_k.h).
//
// Top-k on the GPU: each (score, index) pair is packed into one 64-bit key whose unsigned order is
// the CPU's order (higher score first, equal scores: lower index first; see MakeTopKKey), so
// selection is selection of the largest keys. Passes over one sub-chunk of n rows:
//   1. first pass: scores -> groups of k_eff keys. k_eff <= 32: each block takes a span of
//      kRegisterSpan scores and keeps per-thread top-8 or top-32 lists in registers, then sorts
//      the few candidates that can still be in the block's top k_eff; k_eff > 32: each block
//      sorts a tile of kSortTile scores in shared memory.
//   2. reduce passes while more than kSortTile - k_eff keys per query remain: tiles of kSortTile
//      keys -> k_eff keys each.
//   3. final merge: the remaining keys and the running best list (k_eff) in one tile -> the new
//      running best list.
// Unused slots hold the key 0, which is below every real key.
//
// Thread safety: pure functions of their arguments.
#ifndef SIMILE_KERNELS_GPU_PLAN_H_
#define SIMILE_KERNELS_GPU_PLAN_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "core/backend.h"
#include "kernels/top_k_shape.h"

namespace simile::kernels {

// Alignment of every region of the device workspace and of the pinned staging.
inline constexpr uint64_t kRegionAlignment = 256;

struct GpuPlanOptions {
  // Device bytes of one target sub-chunk buffer (there are two). 32 MiB: ~1 ms of PCIe, far above
  // per-transfer and per-launch overheads.
  uint64_t sub_chunk_target_bytes = uint64_t{32} << 20;
  // Device bytes of the sub-chunk score buffer (Q * sub_rows floats), and of each of the two pinned
  // result buffers when scores go back to the host.
  uint64_t sub_chunk_score_bytes = uint64_t{32} << 20;
  // Q up to this uses the fused one-pass kernel; more uses SGEMM. 0..4 (0: always SGEMM).
  uint32_t max_fused_queries = 4;

  // InvalidArgument naming the bad field.
  [[nodiscard]] absl::Status Validate() const;
};

enum class ScorePath : uint8_t {
  kFused,  // One pass over the targets: dots and norms together.
  kGemm,   // Norms kernel + cuBLAS SGEMM + epilogue.
};

enum class TopKMode : uint8_t {
  kNone,    // top_k == 0: every score goes back to the host.
  kDevice,  // Selection on the GPU; Q * k_eff results go back.
  kHost,    // k_eff > kMaxDeviceTopK: scores go back, the host selects.
};

enum class TopKFirstPass : uint8_t {
  kRegister8,   // k_eff <= 8.
  kRegister32,  // k_eff <= 32.
  kSortTiles,   // k_eff <= kMaxDeviceTopK.
};

// One kernel launch of the top-k selection over a sub-chunk of n rows (see the top of the file).
struct TopKPass {
  enum class Kind : uint8_t { kFirst, kReduce, kFinalMerge };
  enum class Buffer : uint8_t { kScores, kCandA, kCandB, kBest };
  Kind kind = Kind::kFirst;
  Buffer input = Buffer::kScores;
  Buffer output = Buffer::kCandA;
  uint64_t input_count = 0;  // Scores or keys per query read (final merge: besides the best list).
  uint64_t groups = 0;       // Blocks per query; each writes k_eff keys.
  // Keys per query written: groups * k_eff.
  [[nodiscard]] uint64_t output_count(uint32_t k_eff) const { return groups * k_eff; }
};

[[nodiscard]] TopKFirstPass FirstPassFor(uint32_t k_eff);
// Scores each first-pass block reads: kRegisterSpan or kSortTile.
[[nodiscard]] uint32_t FirstPassSpan(TopKFirstPass pass);
// The passes over a sub-chunk of n >= 1 rows for 1 <= k_eff <= kMaxDeviceTopK, in launch order:
// one kFirst, zero or more kReduce (alternating kCandA -> kCandB -> kCandA ...), one kFinalMerge
// into kBest.
[[nodiscard]] std::vector<TopKPass> PlanTopKPasses(uint64_t n, uint32_t k_eff);

// Byte offsets of one call's regions in its device workspace (one pool block); 0-sized regions
// are absent. Every offset is a multiple of kRegionAlignment.
struct DeviceLayout {
  uint64_t queries = 0;       // Q * padded_dim floats, normalized in place.
  uint64_t targets[2] = {};   // sub_rows * padded_dim floats each.
  uint64_t norms = 0;         // sub_rows floats (kGemm only).
  uint64_t scores = 0;        // Q * sub_rows floats, row q at q * sub_rows.
  uint64_t cand_a = 0;        // Q * cand_a_per_query keys (kDevice only).
  uint64_t cand_b = 0;        // Q * cand_b_per_query keys (kDevice only, when a reduce pass runs).
  uint64_t best = 0;          // Q * k_eff keys (kDevice only).
  uint64_t out_indices = 0;   // Q * k_eff uint32 (kDevice only).
  uint64_t out_scores = 0;    // Q * k_eff floats (kDevice only).
  uint64_t total_bytes = 0;
};

// Byte offsets in the call's pinned host staging block.
struct PinnedLayout {
  uint64_t targets[2] = {};  // sub_rows * padded_dim floats each.
  uint64_t results[2] = {};  // Q * sub_rows floats each (kNone and kHost only).
  uint64_t total_bytes = 0;
};

struct GpuCallPlan {
  uint32_t q = 0;
  uint32_t dim = 0;
  uint32_t padded_dim = 0;  // dim rounded up to a multiple of 4.
  uint64_t rows = 0;        // n: the chunk's target rows.
  uint32_t top_k = 0;
  uint32_t k_eff = 0;       // min(top_k, rows); 0 when top_k == 0.
  bool resident_targets = false;  // Targets read in place from a resident set (no target buffers).
  ScorePath score_path = ScorePath::kFused;
  TopKMode top_k_mode = TopKMode::kNone;
  uint64_t sub_rows = 0;    // Rows per sub-chunk (the last has the remainder).
  uint64_t num_sub_chunks = 0;
  // Keys per query of the candidate buffers (kDevice), sized for a full sub-chunk.
  uint64_t cand_a_per_query = 0;
  uint64_t cand_b_per_query = 0;
  DeviceLayout device;
  PinnedLayout pinned;

  // Rows of sub-chunk i (< num_sub_chunks).
  [[nodiscard]] uint64_t SubRows(uint64_t i) const {
    const uint64_t begin = i * sub_rows;
    return rows - begin < sub_rows ? rows - begin : sub_rows;
  }
};

// Plans one call. InvalidArgument when q, dim or rows is 0, dim > UINT32_MAX - 3, rows >
// UINT32_MAX, the buffers' sizes overflow, or the options are invalid. top_k may exceed rows
// (k_eff = min(top_k, rows)).
// resident_targets: the targets are already in device memory (a resident target set, read in place), so the
// layouts have no target buffers (device and pinned).
[[nodiscard]] absl::StatusOr<GpuCallPlan> PlanGpuCall(uint32_t q, uint32_t dim, uint64_t rows,
                                                      uint32_t top_k,
                                                      const GpuPlanOptions& options,
                                                      bool resident_targets = false);

// The DeviceMemoryModel (core/backend.h) of the GPU backend: an upper bound of
// PlanGpuCall(q, dim, n, top_k).device.total_bytes of the form
// fixed_bytes + n * (dim * 4 + bytes_per_row_extra), valid for every n >= 1. For n above the
// sub-chunk size the call uses only sub_rows rows of device buffers, so the model overstates
// large chunks (the planner then makes more, smaller chunks than it would need to: safe).
// Saturates at UINT64_MAX on overflow.
[[nodiscard]] DeviceMemoryModel GpuMemoryModel(uint32_t q, uint32_t dim, uint32_t top_k,
                                               const GpuPlanOptions& options);

}  // namespace simile::kernels

#endif  // SIMILE_KERNELS_GPU_PLAN_H_
