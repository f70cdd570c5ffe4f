// An independent float64 check of a CosineResult: recomputes every cosine on this machine in double
// precision and compares. Used by `simile cosine --check`, by tests, and by anyone who distrusts a
// backend.
//
// Full matrix: every score must be within `tolerance` of the reference. Top-k: each returned score
// must be within `tolerance` of the reference score of its index; indices must be distinct; the
// list must be in the server's promised order (by score, best first, equal scores by lower index,
// judged on the returned scores); and no target left out may beat the weakest returned one by more
// than `tolerance` in the reference. The cosine of a zero vector is 0, as in the wire contract.
//
// Cost: Q * N * dim multiply-adds in double on one thread; meant for checking, not for big batches.
//
// Thread safety: a pure function.
#ifndef SIMILE_CLIENT_REFERENCE_CHECK_H_
#define SIMILE_CLIENT_REFERENCE_CHECK_H_

#include <string>

#include "client/cosine_types.h"

namespace simile::client {

struct CheckOutcome {
  // Largest |returned score - float64 reference| over every score returned.
  double max_abs_error = 0.0;
  // Empty when the result passed; otherwise the first problem found, for humans.
  std::string problem;

  [[nodiscard]] bool ok() const { return problem.empty(); }
};

// Checks `result` against the float64 cosines of `args` (spans and shapes as sent; result as
// decoded by DecodeCosineResponse, so its vector sizes already match the shapes).
[[nodiscard]] CheckOutcome CheckCosineResult(const CosineArgs& args, const CosineResult& result,
                                             double tolerance);

}  // namespace simile::client

#endif  // SIMILE_CLIENT_REFERENCE_CHECK_H_
