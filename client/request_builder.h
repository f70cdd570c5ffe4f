// Conversions between the client's plain values and the wire messages: CosineArgs -> CosineRequest,
// and a CosineResponse -> CosineResult checked against the shape that was asked for.
// SimileClient::Cosine is these two around one RPC; callers that keep prebuilt requests (the load
// generator) use BuildCosineRequest once and SimileClient::CosineProto many times.
//
// Copies: each float buffer is copied exactly once, straight from the caller's span into the
// message (into `raw` with one memcpy-like assign, or into `values` with one bulk append). gRPC's
// serialization then makes the wire copy; nothing else touches the data. A response's scores are
// copied once into the result vectors.
//
// Thread safety: pure functions; the messages passed in must not be shared with another thread
// during a call.
#ifndef SIMILE_CLIENT_REQUEST_BUILDER_H_
#define SIMILE_CLIENT_REQUEST_BUILDER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/cosine_types.h"
#include "simile/v1/similarity.pb.h"

namespace simile::client {

// Replaces the contents of `request` with `args` (args.deadline is not part of the message).
// Reusing one request across calls reuses its buffers. INVALID_ARGUMENT when a span's size is not
// rows * dim (the only check made here: everything else is the server's to judge, so its status
// table stays the one truth); RESOURCE_EXHAUSTED when a matrix is over protobuf's 2 GiB limit.
[[nodiscard]] absl::Status BuildCosineRequest(const CosineArgs& args, v1::CosineRequest* request);

// Copies the scores of `response` into a CosineResult, after checking that it answers a request for
// `q` queries, `n` targets and `top_k`: counts, the score matrix's shape and data length (in `raw`
// or `values`, whichever the server used), the top-k list lengths and index range. INTERNAL, naming
// the mismatch, when it does not. `latency` is left zero for the caller to fill.
[[nodiscard]] absl::StatusOr<CosineResult> DecodeCosineResponse(uint32_t q, uint32_t n,
                                                                uint32_t top_k,
                                                                const v1::CosineResponse& response);

}  // namespace simile::client

#endif  // SIMILE_CLIENT_REQUEST_BUILDER_H_
