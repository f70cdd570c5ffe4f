#include "core/cpu_backend.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/cpu_cosine.h"

namespace simile {

std::string CpuBackend::description() const {
  return absl::StrCat("cpu (", pool_ == nullptr ? 1 : pool_->num_threads(), " threads)");
}

absl::StatusOr<uint64_t> CpuBackend::Cosine(const ChunkArgs& args) {
  bool finite = true;
  if (args.top_k == 0) {
    if (args.check_targets_finite) {
      finite = CpuCosineScoresCheckingTargets(args.queries, args.targets, args.out.scores,
                                              args.out.ld, pool_);
    } else {
      CpuCosineScores(args.queries, args.targets, args.out.scores, args.out.ld, pool_);
    }
  } else {
    const uint32_t k = std::min(args.top_k, args.targets.rows);
    if (args.check_targets_finite) {
      finite = CpuCosineTopKCheckingTargets(args.queries, args.targets, k, args.target_offset,
                                            args.out.top_indices, args.out.top_scores, pool_);
    } else {
      CpuCosineTopK(args.queries, args.targets, k, args.target_offset, args.out.top_indices,
                    args.out.top_scores, pool_);
    }
  }
  // The executor locates the first bad value itself (the message names its row and column).
  if (!finite) return absl::InvalidArgumentError("targets hold a non-finite value");
  return args.ExpectedResults();
}

}  // namespace simile
