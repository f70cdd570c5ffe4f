// Validation of a CosineTask before any work is done: shapes, configured limits, finiteness.
//
// Every error names the field and the problem, in the wire contract's terms (`queries.dim`,
// `targets` row 3), so that the server can return it to the caller unchanged:
// - InvalidArgument: rows or dim of 0, dims that differ, top_k larger than the number of targets,
// non-finite
//   values.
// - ResourceExhausted: a dimension, row count or result size above its configured limit.
//
// Thread safety: pure functions.
#ifndef SIMILE_CORE_TASK_VALIDATION_H_
#define SIMILE_CORE_TASK_VALIDATION_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "core/cosine_task.h"
#include "core/limits.h"

namespace simile {

// Checks shapes and limits (not the values). Cheap: O(1).
[[nodiscard]] absl::Status ValidateTaskShape(const CosineTask& task, const Limits& limits);

// Checks that every value of `m` is finite; the error names `name`, the row and the column of the
// first bad value. O(rows * dim), vectorized.
[[nodiscard]] absl::Status CheckFinite(const MatrixView& m, absl::string_view name);

// ValidateTaskShape, then CheckFinite on queries and on targets (unless task.targets_known_finite).
[[nodiscard]] absl::Status ValidateTask(const CosineTask& task, const Limits& limits);

}  // namespace simile

#endif  // SIMILE_CORE_TASK_VALIDATION_H_
