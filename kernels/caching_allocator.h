// CachingAllocator: a pool of large memory blocks reused across requests, so that the request path
// allocates from the device (or pins host memory) only when the pool has no idle block big enough.
// One per device for device memory and one per device for pinned host staging memory
// (kernels/device_resources_internal.h); the allocation functions are injected, so the pool logic
// is tested without a GPU.
//
// Acquire(bytes): rounds up to `granularity`, then
//   1. takes the smallest idle block that is big enough (best fit), if any and if it is at most
//      twice the rounded size (so that a small request does not hold a large block);
//   2. else, if holding one more block would exceed `limit_bytes` (0: no cap), frees idle blocks
//      (largest first) until it would not; if it still would: kOutOfMemory ("pool cap");
//   3. else allocates a new block; if that fails with kOutOfMemory, frees every idle block and
//      tries once more (the memory may be held by this pool's own idle blocks of other sizes);
//      a second kOutOfMemory is returned as is. Other allocation errors are returned at once.
// A Block returns itself to the pool when destroyed (RAII). Idle blocks stay allocated until
// ReleaseIdle(), an out-of-memory retry, or the pool's destruction; idle_bytes() says how much
// memory the pool holds without using it, so that the device's free memory can be reported as
// cudaMemGetInfo's free plus idle_bytes().
//
// Thread safety: every method may be called concurrently. The allocation and free functions are
// called with the pool's mutex held (they are slow, but rare: steady-state requests reuse blocks),
// and must not call back into the pool. Blocks must not outlive their pool.
#ifndef SIMILE_KERNELS_CACHING_ALLOCATOR_H_
#define SIMILE_KERNELS_CACHING_ALLOCATOR_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "core/mutex.h"
#include "kernels/gpu_error.h"

namespace simile::kernels {

class CachingAllocator {
 public:
  // Allocates `bytes` and stores the address in *ptr; an error (kOutOfMemory when there is no
  // memory) otherwise.
  using AllocateFn = std::function<GpuError(uint64_t bytes, void** ptr)>;
  // Frees what AllocateFn returned. Must not fail (errors are the caller's to log or ignore).
  using FreeFn = std::function<void(void* ptr)>;

  struct Options {
    // What the pool holds memory for, in messages, e.g. "gpu0 device pool".
    std::string name = "pool";
    // Block sizes are multiples of this (> 0). 2 MiB: the device's large-page size.
    uint64_t granularity = uint64_t{2} << 20;
    // The most memory the pool may hold (idle and in use together); 0: no cap.
    uint64_t limit_bytes = 0;
  };

  // A block in use; returns itself to the pool when destroyed or reset. Movable, not copyable.
  class Block {
   public:
    Block() = default;
    ~Block() { Reset(); }
    Block(Block&& other) noexcept { *this = std::move(other); }
    Block& operator=(Block&& other) noexcept;
    Block(const Block&) = delete;
    Block& operator=(const Block&) = delete;

    [[nodiscard]] void* data() const { return ptr_; }
    // The block's size (the request rounded up to the granularity, or a larger idle block).
    [[nodiscard]] uint64_t size() const { return size_; }
    [[nodiscard]] bool empty() const { return ptr_ == nullptr; }
    // Returns the block to its pool now (no-op when empty).
    void Reset();

   private:
    friend class CachingAllocator;
    Block(CachingAllocator* pool, void* ptr, uint64_t size) : pool_(pool), ptr_(ptr), size_(size) {}

    CachingAllocator* pool_ = nullptr;
    void* ptr_ = nullptr;
    uint64_t size_ = 0;
  };

  CachingAllocator(AllocateFn allocate, FreeFn free, Options options);
  // Frees every block the pool holds. Every Block must have been returned first.
  ~CachingAllocator();

  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // See the top of the file. `bytes` == 0 gives an empty block and OK.
  [[nodiscard]] GpuError Acquire(uint64_t bytes, Block* out);

  // Frees every idle block.
  void ReleaseIdle();

  // Memory the pool holds but no Block uses.
  [[nodiscard]] uint64_t idle_bytes() const;
  // Memory the pool holds (idle and in use).
  [[nodiscard]] uint64_t held_bytes() const;
  // Blocks allocated through AllocateFn since construction (for tests and metrics).
  [[nodiscard]] uint64_t allocations() const;

  [[nodiscard]] const Options& options() const { return options_; }

 private:
  void Return(void* ptr, uint64_t size);
  // Frees idle blocks, largest first, until at least `target` bytes are freed (UINT64_MAX: all).
  void FreeIdleLocked(uint64_t target) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const AllocateFn allocate_;
  const FreeFn free_;
  const Options options_;

  mutable Mutex mu_;
  std::multimap<uint64_t, void*> idle_ ABSL_GUARDED_BY(mu_);  // size -> block
  uint64_t idle_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t held_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t allocations_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace simile::kernels

#endif  // SIMILE_KERNELS_CACHING_ALLOCATOR_H_
