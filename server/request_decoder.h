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
#include "simile/v1/similarity.pb.h"

namespace simile::server {

// Storage for a matrix whose `raw` bytes are not float-aligned (protobuf never produces that in
// practice, but nothing guarantees it): the bytes are copied here once and the task views the copy.
struct DecodeScratch {
  std::vector<float> queries;
  std::vector<float> targets;
};

// Views `request` as a CosineTask. The task points into `request` (and maybe `scratch`): both must
// outlive it.
[[nodiscard]] absl::StatusOr<CosineTask> DecodeCosineRequest(const v1::CosineRequest& request,
                                                             DecodeScratch* scratch);

// Shapes `response` for `task` (sizes, encoding like the request's queries) and returns spans over
// its storage for the executor to write into.
ResultBuffers PrepareCosineResponse(const v1::CosineRequest& request, const CosineTask& task,
                                    v1::CosineResponse* response);

}  // namespace simile::server

#endif  // SIMILE_SERVER_REQUEST_DECODER_H_
