// ThreadPool: the service's one pool of worker threads, for request execution and for splitting one
// request's kernel across cores.
//
// Why one pool: OpenMP and BLAS pools spin after use and fight each other and gRPC's threads for
// the cores (BUILD-NOTES measured a 2-thread request 5-8x slower with two pools). Everything
// compute-heavy runs here.
//
// ParallelFor never deadlocks even when called from a pool thread while every other thread is busy:
// the calling thread works through the range itself and pool threads only help, so progress never
// depends on a free worker.
//
// Thread safety: every method may be called from any thread, including pool threads.
#ifndef SIMILE_CORE_THREAD_POOL_H_
#define SIMILE_CORE_THREAD_POOL_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "core/mutex.h"

namespace simile {

class ThreadPool {
 public:
  // Starts `num_threads` workers (at least 1).
  explicit ThreadPool(int num_threads);
  // Runs every task already scheduled, then joins the workers.
  ~ThreadPool();

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Queues `task` to run on a worker thread.
  void Schedule(absl::AnyInvocable<void()> task);

  // Calls fn(begin, end) over disjoint sub-ranges that together cover [0, n), each at most `grain`
  // long (grain >= 1), using the calling thread and up to `max_parallelism - 1` pool threads (0:
  // every worker). Returns when every sub-range is done. fn must be safe to call concurrently on
  // disjoint ranges.
  void ParallelFor(size_t n, size_t grain, absl::FunctionRef<void(size_t, size_t)> fn,
                   int max_parallelism = 0);

  [[nodiscard]] int num_threads() const { return static_cast<int>(workers_.size()); }

  // Number of tasks waiting for a worker (a point-in-time reading, for metrics and admission
  // control).
  [[nodiscard]] size_t QueueLength() const;

 private:
  void WorkerLoop();
  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable Mutex mu_;
  CondVar work_cv_;  // Signalled when a task is queued or stopping_ is set.
  std::deque<absl::AnyInvocable<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;  // Constant after construction.
};

}  // namespace simile

#endif  // SIMILE_CORE_THREAD_POOL_H_
