// Mutex, MutexLock and CondVar: the locks of simile, over std::mutex and std::condition_variable,
// annotated for clang's thread-safety analysis (-Wthread-safety checks every ABSL_GUARDED_BY at
// compile time).
//
// Why not absl::Mutex: Debian's Abseil is a prebuilt library that ThreadSanitizer cannot see into,
// so every absl::Mutex hand-off looks like a data race to TSan. std::mutex is pthread_mutex
// underneath, which TSan intercepts, so the TSan build in CI reports real races only.
//
// Thread safety: these are the synchronization primitives; see each method.
#ifndef SIMILE_CORE_MUTEX_H_
#define SIMILE_CORE_MUTEX_H_

#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"

namespace simile {

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  // Tells the analysis the lock is held (for code it cannot follow, e.g. a condition-variable
  // predicate).
  void AssertHeld() const ABSL_ASSERT_EXCLUSIVE_LOCK() {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds `mu` for the scope.
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

class CondVar {
 public:
  // Blocks until `done()` is true. `mu` must be held; it is released while waiting and held again
  // when `done()` is evaluated and when Wait returns.
  template <typename Predicate>
  void Wait(Mutex* mu, Predicate done) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait(lock, done);
    lock.release();  // Still held; the caller's MutexLock releases it.
  }
  void SignalAll() { cv_.notify_all(); }
  void Signal() { cv_.notify_one(); }

 private:
  std::condition_variable cv_;
};

}  // namespace simile

#endif  // SIMILE_CORE_MUTEX_H_
