// The plain values of the client API: what a caller hands SimileClient::Cosine (CosineArgs) and
// what it gets back (CosineResult), plus the request options Placement and Encoding with their
// command-line spellings.
//
// Thread safety: plain values with no shared state. CosineArgs only borrows the caller's float
// buffers; they must stay alive and unchanged until the call that uses them returns.
#ifndef SIMILE_CLIENT_COSINE_TYPES_H_
#define SIMILE_CLIENT_COSINE_TYPES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "simile/v1/similarity.pb.h"

namespace simile::client {

// Where the caller wants the work to run (simile.v1.Placement).
enum class Placement { kAuto, kCpu, kGpu };

// How the request carries its floats (simile.v1.Matrix): `raw` little-endian bytes, the fast path,
// or the `repeated float values` field. The server answers a full score matrix in the encoding of
// the queries.
enum class Encoding { kRaw, kValues };

// "auto", "cpu", "gpu" / "raw", "values" (the CLI's and the Python client's spellings).
[[nodiscard]] absl::string_view PlacementName(Placement placement);
[[nodiscard]] absl::string_view EncodingName(Encoding encoding);
// INVALID_ARGUMENT naming the accepted spellings when `name` is none of them.
[[nodiscard]] absl::StatusOr<Placement> ParsePlacement(absl::string_view name);
[[nodiscard]] absl::StatusOr<Encoding> ParseEncoding(absl::string_view name);

[[nodiscard]] v1::Placement ToProto(Placement placement);

// One Cosine call: `q` query rows and `n` target rows of `dim` floats each, row-major.
struct CosineArgs {
  absl::Span<const float> queries;  // Exactly q * dim floats.
  uint32_t q = 0;
  absl::Span<const float> targets;  // Exactly n * dim floats (empty, n = 0, with target_set).
  uint32_t n = 0;
  // Instead of targets: the name of a set uploaded with SimileClient::UploadTargetSet, and its version
  // (0: the current one). N is then the set's.
  std::string target_set;
  uint64_t target_set_version = 0;
  uint32_t dim = 0;
  // 0: the full Q x N score matrix. k >= 1: each query's k best targets (the server requires k <=
  // n).
  uint32_t top_k = 0;
  Placement placement = Placement::kAuto;
  Encoding encoding = Encoding::kRaw;
  // Time allowed for the call; nullopt: ClientOptions::default_deadline; absl::InfiniteDuration():
  // none.
  std::optional<absl::Duration> deadline;
};

// The answer to one Cosine call, checked against the request's shape.
struct CosineResult {
  uint32_t num_queries = 0;
  uint32_t num_targets = 0;
  uint32_t top_k = 0;
  // top_k == 0: the Q x N scores, query-major: scores[q * N + t] = cosine(queries[q], targets[t]).
  // Empty when top_k > 0.
  std::vector<float> scores;
  // top_k > 0: entries [q * k, (q + 1) * k) are query q's k best targets (0-based target rows) and
  // their scores, best first, equal scores by lower index. Empty when top_k == 0.
  std::vector<uint32_t> top_indices;
  std::vector<float> top_scores;
  // How the server ran the request (backend, dispatch rule, chunks, fallback, server-side times).
  v1::ExecutionReport report;
  // Client-side wall time of the RPC: serialization, transport both ways, server work, parsing.
  absl::Duration latency;
};

}  // namespace simile::client

#endif  // SIMILE_CLIENT_COSINE_TYPES_H_
