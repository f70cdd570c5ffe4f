#include "kernels/caching_allocator.h"

#include <cstdint>
#include <iterator>
#include <limits>
#include <string>
#include <utility>

namespace simile::kernels {
namespace {

// bytes rounded up to a multiple of granularity; 0 when that would overflow.
uint64_t RoundUp(uint64_t bytes, uint64_t granularity) {
  const uint64_t rem = bytes % granularity;
  if (rem == 0) return bytes;
  const uint64_t pad = granularity - rem;
  return bytes > std::numeric_limits<uint64_t>::max() - pad ? 0 : bytes + pad;
}

}  // namespace

CachingAllocator::Block& CachingAllocator::Block::operator=(Block&& other) noexcept {
  if (this != &other) {
    Reset();
    pool_ = std::exchange(other.pool_, nullptr);
    ptr_ = std::exchange(other.ptr_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void CachingAllocator::Block::Reset() {
  if (ptr_ != nullptr) pool_->Return(ptr_, size_);
  pool_ = nullptr;
  ptr_ = nullptr;
  size_ = 0;
}

CachingAllocator::CachingAllocator(AllocateFn allocate, FreeFn free, Options options)
    : allocate_(std::move(allocate)), free_(std::move(free)), options_(std::move(options)) {}

CachingAllocator::~CachingAllocator() {
  MutexLock lock(&mu_);
  FreeIdleLocked(std::numeric_limits<uint64_t>::max());
}

GpuError CachingAllocator::Acquire(uint64_t bytes, Block* out) {
  *out = Block();
  if (bytes == 0) return GpuError::Ok();
  const uint64_t granularity = options_.granularity == 0 ? 1 : options_.granularity;
  const uint64_t size = RoundUp(bytes, granularity);
  if (size == 0) {
    return GpuError::Make(GpuErrorKind::kOutOfMemory,
                          options_.name + ": request of " + std::to_string(bytes) + " bytes");
  }

  MutexLock lock(&mu_);
  // 1. Best fit among the idle blocks, if it is at most twice the size (a small request does not
  // pin a large block that a later large request would need).
  if (auto it = idle_.lower_bound(size); it != idle_.end() && it->first - size <= size) {
    const uint64_t block_size = it->first;
    void* ptr = it->second;
    idle_.erase(it);
    idle_bytes_ -= block_size;
    *out = Block(this, ptr, block_size);
    return GpuError::Ok();
  }
  // 2. The cap.
  if (options_.limit_bytes != 0) {
    if (size > options_.limit_bytes) {
      return GpuError::Make(GpuErrorKind::kOutOfMemory,
                            options_.name + ": a block of " + std::to_string(size) +
                                " bytes exceeds the pool's cap of " +
                                std::to_string(options_.limit_bytes) + " bytes");
    }
    if (held_bytes_ + size > options_.limit_bytes) {
      FreeIdleLocked(held_bytes_ + size - options_.limit_bytes);
    }
    if (held_bytes_ + size > options_.limit_bytes) {
      return GpuError::Make(GpuErrorKind::kOutOfMemory,
                            options_.name + ": " + std::to_string(size) + " more bytes would exceed the pool's cap of " +
                                std::to_string(options_.limit_bytes) + " bytes (" +
                                std::to_string(held_bytes_) + " in use)");
    }
  }
  // 3. A new block; on out-of-memory, give back every idle block and try once more.
  void* ptr = nullptr;
  GpuError error = allocate_(size, &ptr);
  if (error.kind == GpuErrorKind::kOutOfMemory && idle_bytes_ > 0) {
    FreeIdleLocked(std::numeric_limits<uint64_t>::max());
    ptr = nullptr;
    error = allocate_(size, &ptr);
  }
  if (!error.ok()) return error;
  held_bytes_ += size;
  ++allocations_;
  *out = Block(this, ptr, size);
  return GpuError::Ok();
}

void CachingAllocator::Return(void* ptr, uint64_t size) {
  MutexLock lock(&mu_);
  idle_.emplace(size, ptr);
  idle_bytes_ += size;
}

void CachingAllocator::ReleaseIdle() {
  MutexLock lock(&mu_);
  FreeIdleLocked(std::numeric_limits<uint64_t>::max());
}

void CachingAllocator::FreeIdleLocked(uint64_t target) {
  uint64_t freed = 0;
  while (freed < target && !idle_.empty()) {
    auto it = std::prev(idle_.end());  // The largest idle block.
    free_(it->second);
    freed += it->first;
    idle_bytes_ -= it->first;
    held_bytes_ -= it->first;
    idle_.erase(it);
  }
}

uint64_t CachingAllocator::idle_bytes() const {
  MutexLock lock(&mu_);
  return idle_bytes_;
}

uint64_t CachingAllocator::held_bytes() const {
  MutexLock lock(&mu_);
  return held_bytes_;
}

uint64_t CachingAllocator::allocations() const {
  MutexLock lock(&mu_);
  return allocations_;
}

}  // namespace simile::kernels
