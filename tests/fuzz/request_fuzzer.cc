// libFuzzer target over everything a request goes through before and including the CPU kernel: protobuf
// parsing of arbitrary bytes, DecodeCosineRequest, ValidateTask, PrepareCosineResponse and (for small tasks) the
// CPU backend. Properties checked on every input: no crash or sanitizer report; a task that passes validation
// has consistent shapes and result buffers of exactly the validated size; computed scores are finite and in
// [-1, 1]. Limits are set small so that memory stays proportional to the payload (the run uses
// -malloc_limit_mb).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/cpu_backend.h"
#include "core/limits.h"
#include "core/task_validation.h"
#include "server/request_decoder.h"
#include "simile/v1/similarity.pb.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  simile::v1::CosineRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  simile::server::DecodeScratch scratch;
  absl::StatusOr<simile::CosineTask> task = simile::server::DecodeCosineRequest(request, &scratch);
  if (!task.ok()) return 0;
  simile::Limits limits;
  limits.max_dim = 4096;
  limits.max_queries = 256;
  limits.max_targets = 65536;
  limits.max_result_elements = 1 << 16;
  if (!simile::ValidateTask(*task, limits).ok()) return 0;

  // Validated: the views cover exactly rows * dim floats of the request's own payload.
  Check(task->queries.dim == task->targets.dim);
  Check(task->top_k <= task->targets.rows);
  simile::v1::CosineResponse response;
  const simile::ResultBuffers out = simile::server::PrepareCosineResponse(request, *task, &response);
  if (task->top_k == 0) {
    Check(out.scores.size() == task->num_scores());
  } else {
    Check(out.top_indices.size() == uint64_t{task->queries.rows} * task->top_k);
  }
  if (task->num_scores() * task->queries.dim > (1u << 20)) return 0;  // Keep each run fast.

  simile::CpuBackend cpu(nullptr);
  simile::ChunkArgs args;
  args.queries = task->queries;
  args.targets = task->targets;
  args.top_k = task->top_k;
  args.out.scores = out.scores.data();
  args.out.ld = task->targets.rows;
  args.out.top_indices = out.top_indices.data();
  args.out.top_scores = out.top_scores.data();
  absl::StatusOr<uint64_t> written = cpu.Cosine(args);
  Check(written.ok() && *written == args.ExpectedResults());
  for (const float s : out.scores) Check(std::isfinite(s) && s >= -1.0f && s <= 1.0f);
  for (const float s : out.top_scores) Check(std::isfinite(s) && s >= -1.0f && s <= 1.0f);
  for (const uint32_t i : out.top_indices) Check(i < task->targets.rows);
  return 0;
}
