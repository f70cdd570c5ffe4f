#include "core/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <utility>

namespace simile {
namespace {

// Shared by the caller of ParallelFor and the pool threads helping it. Held by shared_ptr because a
// helper task may start only after the caller has returned; such a helper finds no chunk left and
// never touches `fn`.
class ParallelForState {
 public:
  ParallelForState(size_t n, size_t grain, absl::FunctionRef<void(size_t, size_t)> fn)
      : n_(n), grain_(grain), num_chunks_((n + grain - 1) / grain), fn_(fn) {}

  // Claims and runs chunks until none are left.
  void Work() {
    size_t finished = 0;
    for (;;) {
      // Relaxed: the counter only hands out distinct chunk indices; it publishes no data.
      const size_t chunk = next_chunk_.fetch_add(1, std::memory_order_relaxed);
      if (chunk >= num_chunks_) break;
      const size_t begin = chunk * grain_;
      fn_(begin, std::min(n_, begin + grain_));
      ++finished;
    }
    if (finished == 0) return;
    // acq_rel: releases this thread's writes made in fn_ and, for the last finisher, acquires
    // everyone else's before it signals the caller through the mutex.
    if (chunks_done_.fetch_add(finished, std::memory_order_acq_rel) + finished == num_chunks_) {
      MutexLock lock(&mu_);
      all_done_ = true;
      done_cv_.SignalAll();
    }
  }

  void WaitUntilDone() {
    MutexLock lock(&mu_);
    done_cv_.Wait(&mu_, [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return all_done_; });
  }

 private:
  const size_t n_;
  const size_t grain_;
  const size_t num_chunks_;
  const absl::FunctionRef<void(size_t, size_t)> fn_;  // Called only while the caller waits.
  std::atomic<size_t> next_chunk_{0};
  std::atomic<size_t> chunks_done_{0};
  Mutex mu_;
  CondVar done_cv_;  // Signalled when all_done_ becomes true.
  bool all_done_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  const int n = std::max(1, num_threads);
  workers_.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    work_cv_.SignalAll();
  }
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::Schedule(absl::AnyInvocable<void()> task) {
  MutexLock lock(&mu_);
  queue_.push_back(std::move(task));
  work_cv_.Signal();
}

size_t ThreadPool::QueueLength() const {
  MutexLock lock(&mu_);
  return queue_.size();
}

bool ThreadPool::HasWorkOrStopping() const { return stopping_ || !queue_.empty(); }

void ThreadPool::WorkerLoop() {
  for (;;) {
    absl::AnyInvocable<void()> task;
    {
      MutexLock lock(&mu_);
      // The predicate runs with mu_ held (CondVar::Wait's contract); the analysis cannot see into
      // the lambda.
      work_cv_.Wait(&mu_, [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return HasWorkOrStopping(); });
      if (queue_.empty()) return;  // Stopping and drained.
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

void ThreadPool::ParallelFor(size_t n, size_t grain, absl::FunctionRef<void(size_t, size_t)> fn,
                             int max_parallelism) {
  if (n == 0) return;
  grain = std::max<size_t>(1, grain);
  const size_t num_chunks = (n + grain - 1) / grain;
  size_t helpers = std::min(num_chunks, workers_.size() + 1) - 1;
  if (max_parallelism > 0) helpers = std::min(helpers, static_cast<size_t>(max_parallelism - 1));
  if (helpers == 0) {  // One chunk or no help wanted: no allocation, no queueing.
    for (size_t begin = 0; begin < n; begin += grain) fn(begin, std::min(n, begin + grain));
    return;
  }
  auto state = std::make_shared<ParallelForState>(n, grain, fn);
  for (size_t i = 0; i < helpers; ++i) Schedule([state] { state->Work(); });
  state->Work();
  state->WaitUntilDone();
}

}  // namespace simile
