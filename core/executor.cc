#include "core/executor.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "core/task_validation.h"

namespace simile {
namespace {

absl::Status CheckBuffers(const CosineTask& task, const ResultBuffers& out) {
  const bool ok = task.top_k == 0
                      ? out.scores.size() == task.num_scores()
                      : out.top_indices.size() == uint64_t{task.queries.rows} * task.top_k &&
                            out.top_scores.size() == out.top_indices.size();
  if (ok) return absl::OkStatus();
  return absl::InternalError("result buffers are not sized for the task");
}

}  // namespace

Executor::Executor(Components components) : c_(std::move(components)) {}

bool Executor::GpuUsable() const { return c_.gpu != nullptr && c_.gpu->Available(); }

absl::Status Executor::CheckContext(const RequestContext& context) const {
  if (context.is_cancelled && context.is_cancelled()) {
    return absl::CancelledError("the caller cancelled the request");
  }
  if (c_.clock->Now() >= context.deadline) {
    return absl::DeadlineExceededError("the request's deadline passed before its work was done");
  }
  return absl::OkStatus();
}

absl::StatusOr<ExecutionReport> Executor::Run(const CosineTask& task, const ResultBuffers& out,
                                              const RequestContext& context) const {
  const std::shared_ptr<const ServingConfig> config = c_.config->Current();
  if (absl::Status s = ValidateTask(task, config->limits); !s.ok()) return s;
  if (absl::Status s = CheckBuffers(task, out); !s.ok()) return s;

  const absl::Time start = c_.clock->Now();
  ExecutionReport report;
  switch (task.placement) {
    case Placement::kGpu:
      if (!GpuUsable()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "placement GPU was requested but this server has no usable GPU: ", c_.gpu_unavailable_reason));
      }
      return absl::UnimplementedError("the GPU path is not wired in yet");
    case Placement::kCpu:
      report.backend = BackendKind::kCpu;
      report.rule = DispatchRule::kPlacementCpu;
      break;
    case Placement::kAuto:
      report.backend = BackendKind::kCpu;
      report.rule = DispatchRule::kGpuUnavailable;
      break;
  }
  if (absl::Status s = CheckContext(context); !s.ok()) return s;
  if (absl::Status s = RunOnCpu(task, out, &report); !s.ok()) return s;
  report.compute_time = c_.clock->Now() - start;
  return report;
}

absl::Status Executor::RunOnCpu(const CosineTask& task, const ResultBuffers& out,
                                ExecutionReport* report) const {
  ChunkArgs args;
  args.queries = task.queries;
  args.targets = task.targets;
  args.top_k = task.top_k;
  args.out.scores = out.scores.data();
  args.out.ld = task.targets.rows;
  args.out.top_indices = out.top_indices.data();
  args.out.top_scores = out.top_scores.data();
  absl::StatusOr<uint64_t> written = c_.cpu->Cosine(args);
  if (!written.ok()) {
    return absl::InternalError(absl::StrCat("the CPU backend failed: ", written.status().message()));
  }
  if (*written != args.ExpectedResults()) {
    return absl::InternalError(absl::StrCat("the CPU backend wrote ", *written, " results instead of ",
                                            args.ExpectedResults()));
  }
  ++report->chunks;
  ++report->cpu_chunks;
  return absl::OkStatus();
}

}  // namespace simile
