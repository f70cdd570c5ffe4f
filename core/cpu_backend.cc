#include "core/cpu_backend.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/cpu_cosine.h"

namespace simile {

std::string CpuBackend::description() const {
  return absl::StrCat("cpu (", pool_ == nullptr ? 1 : pool_->num_threads(), " threads)");
}

absl::StatusOr<uint64_t> CpuBackend::Cosine(const ChunkArgs& args) {
  if (args.top_k == 0) {
    CpuCosineScores(args.queries, args.targets, args.out.scores, args.out.ld, pool_);
  } else {
    const uint32_t k = std::min(args.top_k, args.targets.rows);
    CpuCosineTopK(args.queries, args.targets, k, args.target_offset, args.out.top_indices,
                  args.out.top_scores, pool_);
  }
  return args.ExpectedResults();
}

}  // namespace simile
