// Request decoding: turns a simile.v1.CosineRequest into a core CosineTask that views the request's
// own memory (no copy of the vectors), and prepares the response so that results are written
// straight into it.
//
// Decoding checks what belongs to the wire format: a matrix is present, exactly one of
// `values`/`raw` carries its data, and the data length matches rows * dim. Everything else (shapes,
// limits, finiteness) is core's ValidateTask. Errors are absl::InvalidArgumentError naming the
// field.
//
// Thread safety: pure functions over the given messages.
#ifndef SIMILE_SERVER_REQUEST_DECODER_H_
#define SIMILE_SERVER_REQUEST_DECODER_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/cosine_task.h"
#include "core/target_set_store.h"
#include "simile/v1/similarity.pb.h"

namespace simile::server {

// Storage for a matrix whose `raw` bytes are not float-aligned (protobuf never produces that in
// practice, but nothing guarantees it): the bytes are copied here once and the task views the copy.
struct DecodeScratch {
  std::vector<float> queries;
  std::vector<float> targets;
};

// Views a wire matrix in place (or, for misaligned `raw` bytes, a copy in `scratch`), after checking that
// exactly one of values/raw holds rows * dim floats. Errors are INVALID_ARGUMENT naming `name`. rows or dim 0
// gives a view with no data (shape validation reports it).
[[nodiscard]] absl::StatusOr<MatrixView> DecodeMatrix(const v1::Matrix& m, absl::string_view name,
                                                      std::vector<float>* scratch);

// Views `request` as a CosineTask. The task points into `request` (and maybe `scratch`): both must
// outlive it. For a request naming a target set, `target_set` is that set's version (the caller looked it up
// and keeps it alive as long as the task); else null.
[[nodiscard]] absl::StatusOr<CosineTask> DecodeCosineRequest(const v1::CosineRequest& request,
                                                             DecodeScratch* scratch,
                                                             const TargetSetVersion* target_set = nullptr);

// Shapes `response` for `task` (sizes, encoding like the request's queries) and returns spans over
// its storage for the executor to write into.
ResultBuffers PrepareCosineResponse(const v1::CosineRequest& request, const CosineTask& task,
                                    v1::CosineResponse* response);

}  // namespace simile::server

#endif  // SIMILE_SERVER_REQUEST_DECODER_H_
