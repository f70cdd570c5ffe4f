// Executor: runs one CosineTask from validation to the last result, deciding where it runs and recovering from
// backend failures, and reports how it ran.
//
// Every call ends with either all results written to the caller's buffers or an error; never a partial result
// reported as complete. Errors:
// - InvalidArgument / ResourceExhausted from validation (core/task_validation.h);
// - FailedPrecondition when PLACEMENT_GPU is asked for and no usable GPU exists;
// - DeadlineExceeded / Cancelled when the caller's deadline passes or it goes away (checked between chunks);
// - Internal when a backend returns a wrong number of results or the CPU path itself fails.
//
// Thread safety: Run may be called concurrently from any number of threads.
#ifndef SIMILE_CORE_EXECUTOR_H_
#define SIMILE_CORE_EXECUTOR_H_

#include <string>

#include "absl/status/statusor.h"
#include "core/backend.h"
#include "core/clock.h"
#include "core/config_store.h"
#include "core/cosine_task.h"
#include "core/execution_report.h"
#include "core/request_context.h"

namespace simile {

class Executor {
 public:
  // Collaborators; none is owned, all must outlive the executor.
  struct Components {
    Backend* cpu = nullptr;        // Required.
    Backend* gpu = nullptr;        // Null when the server has no GPU backend.
    std::string gpu_unavailable_reason = "this server was built without CUDA";  // Shown when gpu is unusable.
    const Clock* clock = nullptr;  // Required.
    ConfigStore* config = nullptr; // Required.
  };

  explicit Executor(Components components);

  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Validates `task` against the current configuration, runs it, and writes its results to `out`, which must be
  // sized for the task (Q * N scores, or Q * top_k indices and scores).
  [[nodiscard]] absl::StatusOr<ExecutionReport> Run(const CosineTask& task, const ResultBuffers& out,
                                                    const RequestContext& context) const;

 private:
  [[nodiscard]] bool GpuUsable() const;
  [[nodiscard]] absl::Status CheckContext(const RequestContext& context) const;
  [[nodiscard]] absl::Status RunOnCpu(const CosineTask& task, const ResultBuffers& out,
                                      ExecutionReport* report) const;

  const Components c_;
};

}  // namespace simile

#endif  // SIMILE_CORE_EXECUTOR_H_
