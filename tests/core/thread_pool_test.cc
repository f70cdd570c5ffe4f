// Tests of ThreadPool: ParallelFor coverage, nesting without deadlock, and Schedule draining before
// destruction.
#include "core/thread_pool.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <vector>

namespace simile {
namespace {

// A countdown latch with a timed wait, on std primitives so that ThreadSanitizer sees its hand-offs
// (Debian's prebuilt Abseil synchronization library is invisible to it).
class Latch {
 public:
  explicit Latch(int count) : count_(count) {}
  void CountDown() {
    std::lock_guard<std::mutex> lock(mu_);
    if (--count_ == 0) cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return count_ <= 0; });
  }
  // Returns false when the count did not reach zero within `timeout`.
  bool WaitFor(std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return count_ <= 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int count_;
};

TEST_CASE("ParallelFor calls every index exactly once in ranges of at most grain",
          "[thread_pool]") {
  ThreadPool pool(3);
  for (size_t n : {0, 1, 2, 7, 1000, 4099}) {
    for (size_t grain : {1, 3, 64, 5000}) {
      for (int max_parallelism : {0, 1, 2, 8}) {
        std::vector<std::atomic<int>> hits(n);
        std::atomic<int> oversized{0};
        pool.ParallelFor(
            n, grain,
            [&](size_t begin, size_t end) {
              if (end - begin > grain || begin >= end)
                oversized.fetch_add(1, std::memory_order_relaxed);
              for (size_t i = begin; i < end; ++i) hits[i].fetch_add(1, std::memory_order_relaxed);
            },
            max_parallelism);
        INFO("n=" << n << " grain=" << grain << " max_parallelism=" << max_parallelism);
        CHECK(oversized.load() == 0);
        size_t wrong = 0;
        for (const auto& h : hits) wrong += h.load() != 1 ? 1 : 0;
        CHECK(wrong == 0);
      }
    }
  }
}

TEST_CASE("ParallelFor with grain 0 behaves as grain 1", "[thread_pool]") {
  ThreadPool pool(2);
  std::vector<std::atomic<int>> hits(10);
  pool.ParallelFor(10, 0, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) hits[i].fetch_add(1, std::memory_order_relaxed);
  });
  for (const auto& h : hits) CHECK(h.load() == 1);
}

TEST_CASE("Nested ParallelFor from busy pool threads does not deadlock", "[thread_pool]") {
  constexpr int kThreads = 2;
  std::atomic<int> leaves{0};
  Latch outer_done(kThreads);
  Latch all_done(1);
  ThreadPool pool(kThreads);  // Last: destroyed (joined) before what its tasks use.
  // Every worker runs an outer task, so no worker is free to help; each nests two levels of
  // ParallelFor.
  for (int w = 0; w < kThreads; ++w) {
    pool.Schedule([&] {
      pool.ParallelFor(8, 1, [&](size_t, size_t) {
        pool.ParallelFor(16, 2, [&](size_t begin, size_t end) {
          leaves.fetch_add(static_cast<int>(end - begin), std::memory_order_relaxed);
        });
      });
      outer_done.CountDown();
    });
  }
  pool.Schedule([&] {
    outer_done.Wait();
    all_done.CountDown();
  });
  if (!all_done.WaitFor(std::chrono::seconds(60))) {
    FAIL_CHECK("nested ParallelFor did not finish within 60 s");
    std::abort();  // The pool's destructor would wait forever.
  }
  CHECK(leaves.load() == kThreads * 8 * 16);
}

TEST_CASE("ParallelFor from outside and inside the pool at once covers every index",
          "[thread_pool]") {
  std::vector<std::atomic<int>> hits(3 * 500);
  Latch done(2);
  ThreadPool pool(2);  // Last: destroyed (joined) before what its tasks use.
  for (int part = 1; part <= 2; ++part) {
    pool.Schedule([&, part] {
      pool.ParallelFor(500, 7, [&](size_t begin, size_t end) {
        for (size_t i = begin; i < end; ++i)
          hits[part * 500 + i].fetch_add(1, std::memory_order_relaxed);
      });
      done.CountDown();
    });
  }
  pool.ParallelFor(500, 7, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) hits[i].fetch_add(1, std::memory_order_relaxed);
  });
  done.Wait();
  for (const auto& h : hits) CHECK(h.load() == 1);
}

TEST_CASE("ThreadPool runs every scheduled task before destruction", "[thread_pool]") {
  std::atomic<int> ran{0};
  {
    ThreadPool pool(3);
    for (int i = 0; i < 1000; ++i) {
      pool.Schedule([&pool, &ran, i] {
        ran.fetch_add(1, std::memory_order_relaxed);
        // Tasks scheduled by tasks (even during shutdown) run too.
        if (i % 100 == 0) pool.Schedule([&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
      });
    }
  }
  CHECK(ran.load() == 1010);
}

TEST_CASE("QueueLength counts tasks waiting for a worker", "[thread_pool]") {
  // The latches outlive the pool (declared first, destroyed last): the worker may still be inside
  // release.Wait() after the main thread's CountDown, until the pool's destructor joins it.
  Latch started(1);
  Latch release(1);
  ThreadPool pool(1);
  pool.Schedule([&] {
    started.CountDown();
    release.Wait();
  });
  started.Wait();
  for (int i = 0; i < 3; ++i) pool.Schedule([] {});
  CHECK(pool.QueueLength() == 3);
  release.CountDown();
}

TEST_CASE("ThreadPool starts at least one worker", "[thread_pool]") {
  ThreadPool pool(0);
  CHECK(pool.num_threads() == 1);
  Latch ran(1);
  pool.Schedule([&] { ran.CountDown(); });
  CHECK(ran.WaitFor(std::chrono::seconds(30)));
}

}  // namespace
}  // namespace simile
