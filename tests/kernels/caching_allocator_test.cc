// CachingAllocator over a fake device with a fixed capacity: reuse, best fit, the cap, recovery
// from out-of-memory by releasing idle blocks, error propagation, and concurrent use. Host-only.
#include "kernels/caching_allocator.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

namespace simile::kernels {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

// A device of `capacity` bytes handing out fake addresses.
class FakeDevice {
 public:
  explicit FakeDevice(uint64_t capacity) : capacity_(capacity) {}

  CachingAllocator::AllocateFn Allocate() {
    return [this](uint64_t bytes, void** ptr) -> GpuError {
      std::lock_guard<std::mutex> lock(mu_);
      ++calls_;
      if (fail_internal_) return GpuError::Make(GpuErrorKind::kInternal, "fake internal error");
      if (used_ + bytes > capacity_) {
        return GpuError::Make(GpuErrorKind::kOutOfMemory, "fake out of memory");
      }
      next_ += 4096;
      *ptr = reinterpret_cast<void*>(next_);
      blocks_[*ptr] = bytes;
      used_ += bytes;
      return GpuError::Ok();
    };
  }
  CachingAllocator::FreeFn Free() {
    return [this](void* ptr) {
      std::lock_guard<std::mutex> lock(mu_);
      used_ -= blocks_.at(ptr);
      blocks_.erase(ptr);
    };
  }
  uint64_t used() {
    std::lock_guard<std::mutex> lock(mu_);
    return used_;
  }
  int calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  void set_fail_internal(bool fail) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_internal_ = fail;
  }

 private:
  std::mutex mu_;
  const uint64_t capacity_;
  uint64_t used_ = 0;
  uintptr_t next_ = 0x10000;
  int calls_ = 0;
  bool fail_internal_ = false;
  std::map<void*, uint64_t> blocks_;
};

CachingAllocator::Options WithLimit(uint64_t limit) {
  CachingAllocator::Options options;
  options.name = "test pool";
  options.limit_bytes = limit;
  return options;
}

TEST_CASE("A returned block is reused, rounded up to the granularity") {
  FakeDevice device(64 * kMiB);
  CachingAllocator pool(device.Allocate(), device.Free(), WithLimit(0));
  {
    CachingAllocator::Block block;
    REQUIRE(pool.Acquire(3 * kMiB + 1, &block).ok());
    CHECK(block.size() == 4 * kMiB);
    CHECK(pool.idle_bytes() == 0);
  }
  CHECK(pool.idle_bytes() == 4 * kMiB);
  CachingAllocator::Block again;
  REQUIRE(pool.Acquire(4 * kMiB, &again).ok());
  CHECK(pool.allocations() == 1);
  CHECK(device.calls() == 1);
  CHECK(pool.held_bytes() == 4 * kMiB);
}

TEST_CASE("Acquire takes the smallest idle block that fits") {
  FakeDevice device(64 * kMiB);
  CachingAllocator pool(device.Allocate(), device.Free(), WithLimit(0));
  {
    CachingAllocator::Block a, b, c;
    REQUIRE(pool.Acquire(8 * kMiB, &a).ok());
    REQUIRE(pool.Acquire(4 * kMiB, &b).ok());
    REQUIRE(pool.Acquire(16 * kMiB, &c).ok());
  }
  CachingAllocator::Block block;
  REQUIRE(pool.Acquire(3 * kMiB, &block).ok());
  CHECK(block.size() == 4 * kMiB);
  CachingAllocator::Block bigger;
  REQUIRE(pool.Acquire(10 * kMiB, &bigger).ok());
  CHECK(bigger.size() == 16 * kMiB);
  CHECK(pool.allocations() == 3);
}

TEST_CASE("A small request does not take an idle block over twice its size") {
  FakeDevice device(20 * kMiB);
  CachingAllocator pool(device.Allocate(), device.Free(), WithLimit(0));
  {
    CachingAllocator::Block big;
    REQUIRE(pool.Acquire(16 * kMiB, &big).ok());
  }
  CachingAllocator::Block small;
  REQUIRE(pool.Acquire(2 * kMiB, &small).ok());
  CHECK(small.size() == 2 * kMiB);
  CHECK(pool.idle_bytes() == 16 * kMiB);
  // Out of device memory for another small block: the idle big block is freed and the retry fits.
  CachingAllocator::Block second;
  REQUIRE(pool.Acquire(4 * kMiB, &second).ok());
  CHECK(second.size() == 4 * kMiB);
  CHECK(pool.idle_bytes() == 0);
  CHECK(device.used() == 6 * kMiB);
}

TEST_CASE("Out of memory frees the idle blocks and retries once") {
  FakeDevice device(10 * kMiB);
  CachingAllocator pool(device.Allocate(), device.Free(), WithLimit(0));
  CachingAllocator::Block in_use;
  REQUIRE(pool.Acquire(4 * kMiB, &in_use).ok());
  {
    CachingAllocator::Block idle;
    REQUIRE(pool.Acquire(4 * kMiB, &idle).ok());
  }
  CHECK(pool.idle_bytes() == 4 * kMiB);
  CachingAllocator::Block block;
  REQUIRE(pool.Acquire(6 * kMiB, &block).ok());  // 4 + 4 + 6 > 10: fits once the idle 4 go.
  CHECK(pool.idle_bytes() == 0);
  CHECK(device.used() == 10 * kMiB);
  CHECK(device.calls() == 4);

  block.Reset();                                          // 6 MiB idle.
  const GpuError error = pool.Acquire(8 * kMiB, &block);  // 4 + 8 > 10 even after freeing.
  CHECK(error.kind == GpuErrorKind::kOutOfMemory);
  CHECK(pool.idle_bytes() == 0);
  CHECK(block.empty());
  CHECK(device.used() == 4 * kMiB);
}

TEST_CASE("Out of memory after the retry is reported as out of memory") {
  FakeDevice device(8 * kMiB);
  CachingAllocator pool(device.Allocate(), device.Free(), WithLimit(0));
  CachingAllocator::Block block;
  const GpuError error = pool.Acquire(10 * kMiB, &block);
  CHECK(error.kind == GpuErrorKind::kOutOfMemory);
  CHECK(error.message == "fake out of memory");
}

TEST_CASE("The cap is enforced, freeing idle blocks first") {
  FakeDevice device(1024 * kMiB);
  CachingAllocator pool(device.Allocate(), device.Free(), WithLimit(16 * kMiB));
  CachingAllocator::Block too_big;
  GpuError error = pool.Acquire(17 * kMiB, &too_big);
  CHECK(error.kind == GpuErrorKind::kOutOfMemory);
  CHECK_THAT(error.message, Catch::Contains("cap"));
  CHECK(device.calls() == 0);

  {
    CachingAllocator::Block idle;
    REQUIRE(pool.Acquire(10 * kMiB, &idle).ok());
  }
  CachingAllocator::Block a;
  REQUIRE(pool.Acquire(12 * kMiB, &a).ok());  // Frees the idle 10 MiB to stay under 16.
  CHECK(pool.held_bytes() == 12 * kMiB);
  CachingAllocator::Block b;
  error = pool.Acquire(6 * kMiB, &b);
  CHECK(error.kind == GpuErrorKind::kOutOfMemory);
  CHECK_THAT(error.message, Catch::Contains("test pool"));
}

TEST_CASE("Allocation errors other than out of memory are returned without a retry") {
  FakeDevice device(64 * kMiB);
  CachingAllocator pool(device.Allocate(), device.Free(), WithLimit(0));
  {
    CachingAllocator::Block idle;
    REQUIRE(pool.Acquire(2 * kMiB, &idle).ok());
  }
  device.set_fail_internal(true);
  CachingAllocator::Block block;
  const GpuError error = pool.Acquire(8 * kMiB, &block);
  CHECK(error.kind == GpuErrorKind::kInternal);
  CHECK(device.calls() == 2);
  CHECK(pool.idle_bytes() == 2 * kMiB);
}

TEST_CASE("Zero bytes give an empty block; moves and Reset return blocks once") {
  FakeDevice device(64 * kMiB);
  {
    CachingAllocator pool(device.Allocate(), device.Free(), WithLimit(0));
    CachingAllocator::Block empty;
    REQUIRE(pool.Acquire(0, &empty).ok());
    CHECK(empty.empty());
    CachingAllocator::Block a;
    REQUIRE(pool.Acquire(kMiB, &a).ok());
    CachingAllocator::Block b(std::move(a));
    CHECK(a.empty());  // NOLINT(bugprone-use-after-move): moved-from state is specified.
    CHECK(!b.empty());
    b.Reset();
    b.Reset();
    CHECK(pool.idle_bytes() == 2 * kMiB);
    pool.ReleaseIdle();
    CHECK(pool.held_bytes() == 0);
    CHECK(device.used() == 0);
    CachingAllocator::Block c;
    REQUIRE(pool.Acquire(kMiB, &c).ok());
  }  // c returned, then the pool frees it.
  CHECK(device.used() == 0);
}

TEST_CASE("Concurrent acquire and release keep the accounting exact") {
  FakeDevice device(256 * kMiB);
  CachingAllocator pool(device.Allocate(), device.Free(), WithLimit(128 * kMiB));
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&pool, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < 2000; ++i) {
        CachingAllocator::Block block;
        const GpuError error = pool.Acquire((rng() % 16 + 1) * kMiB / 2, &block);
        if (!error.ok()) REQUIRE(error.kind == GpuErrorKind::kOutOfMemory);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  CHECK(pool.idle_bytes() == pool.held_bytes());
  CHECK(device.used() == pool.held_bytes());
  CHECK(pool.held_bytes() <= 128 * kMiB);
}

}  // namespace
}  // namespace simile::kernels
