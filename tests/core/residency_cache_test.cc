// ResidencyCache: uploads once, hits after, evicts least recently used within the cap, drops stale versions,
// and never frees a copy a reader still holds. Against the fake GPU, whose resident copies are real.
#include <catch2/catch.hpp>

#include <cmath>
#include <memory>
#include <string>

#include "core/residency_cache.h"
#include "tests/core/fake_gpu_backend.h"

namespace simile {
namespace {

// A set of `rows` x 4 floats (bytes(): rows * 20).
std::shared_ptr<TargetSetVersion> MakeSet(const std::string& name, uint64_t version, uint32_t rows) {
  auto set = std::make_shared<TargetSetVersion>();
  set->name = name;
  set->version = version;
  set->dim = 4;
  for (uint32_t r = 0; r < rows; ++r) {
    for (uint32_t c = 0; c < 4; ++c) set->data.push_back(static_cast<float>(r + c + 1));
    set->norms.push_back(1.0f);  // Not read by the cache.
  }
  return set;
}

TEST_CASE("ResidencyCache: the first Acquire uploads, later ones hit the same copy", "[residency]") {
  FakeGpuBackend gpu;
  ResidencyCache cache(&gpu);
  const auto a = MakeSet("a", 1, 10);
  const ResidencyCache::Acquired first = cache.Acquire(*a, 1 << 20);
  REQUIRE(first.targets != nullptr);
  CHECK_FALSE(first.was_resident);
  const ResidencyCache::Acquired second = cache.Acquire(*a, 1 << 20);
  CHECK(second.targets == first.targets);
  CHECK(second.was_resident);
  CHECK(gpu.uploads_attempted() == 1);
  CHECK(cache.IsResident("a", 1));
  const ResidencyStats s = cache.GetStats();
  CHECK(s.sets == 1);
  CHECK(s.rows == 10);
  CHECK(s.bytes == 10 * 4 * sizeof(float));
  CHECK(s.uploads == 1);
  CHECK(s.hits == 1);
}

TEST_CASE("ResidencyCache: a set larger than the cap is not resident, and nothing is evicted for it",
          "[residency]") {
  FakeGpuBackend gpu;
  ResidencyCache cache(&gpu);
  const auto small = MakeSet("small", 1, 10);
  const auto big = MakeSet("big", 1, 100);
  REQUIRE(cache.Acquire(*small, 1000).targets != nullptr);
  CHECK_FALSE(cache.WouldBeResident(*big, 1000));
  const ResidencyCache::Acquired r = cache.Acquire(*big, 1000);
  CHECK(r.targets == nullptr);
  CHECK(r.status.code() == absl::StatusCode::kResourceExhausted);
  CHECK(cache.IsResident("small", 1));
  CHECK(gpu.uploads_attempted() == 1);
}

TEST_CASE("ResidencyCache: eviction takes the least recently used set first", "[residency]") {
  FakeGpuBackend gpu;
  ResidencyCache cache(&gpu);
  const auto a = MakeSet("a", 1, 10);  // 200 bytes of host data + norms; 160 resident.
  const auto b = MakeSet("b", 1, 10);
  const auto c = MakeSet("c", 1, 10);
  const uint64_t cap = 2 * a->bytes();  // Room for two.
  REQUIRE(cache.Acquire(*a, cap).targets != nullptr);
  REQUIRE(cache.Acquire(*b, cap).targets != nullptr);
  REQUIRE(cache.Acquire(*a, cap).was_resident);  // a is now more recent than b.
  REQUIRE(cache.Acquire(*c, cap).targets != nullptr);
  CHECK(cache.IsResident("a", 1));
  CHECK_FALSE(cache.IsResident("b", 1));
  CHECK(cache.IsResident("c", 1));
  CHECK(cache.GetStats().evictions == 1);
  CHECK(gpu.resident_bytes() == 2 * 10 * 4 * sizeof(float));  // b's copy was freed.
  cache.Shrink(0);
  CHECK(cache.GetStats().sets == 0);
  CHECK(gpu.resident_bytes() == 0);
}

TEST_CASE("ResidencyCache: an evicted copy lives until its last reader lets go", "[residency]") {
  FakeGpuBackend gpu;
  ResidencyCache cache(&gpu);
  const auto a = MakeSet("a", 1, 10);
  std::shared_ptr<const ResidentTargets> reader = cache.Acquire(*a, 1 << 20).targets;
  REQUIRE(reader != nullptr);
  cache.Forget("a", 0);  // The set was deleted.
  CHECK_FALSE(cache.IsResident("a", 1));
  CHECK(gpu.resident_bytes() == reader->bytes());  // Still readable.
  reader.reset();
  CHECK(gpu.resident_bytes() == 0);
}

TEST_CASE("ResidencyCache: a newer version replaces the older one; Forget keeps the current", "[residency]") {
  FakeGpuBackend gpu;
  ResidencyCache cache(&gpu);
  const auto v1 = MakeSet("a", 1, 10);
  const auto v2 = MakeSet("a", 2, 12);
  const auto other = MakeSet("b", 1, 10);
  REQUIRE(cache.Acquire(*v1, 1 << 20).targets != nullptr);
  REQUIRE(cache.Acquire(*other, 1 << 20).targets != nullptr);
  REQUIRE(cache.Acquire(*v2, 1 << 20).targets != nullptr);
  CHECK_FALSE(cache.IsResident("a", 1));
  CHECK(cache.IsResident("a", 2));
  CHECK(cache.IsResident("b", 1));
  cache.Forget("a", 2);
  CHECK(cache.IsResident("a", 2));
  cache.Forget("a", 0);
  CHECK_FALSE(cache.IsResident("a", 2));
  CHECK(cache.IsResident("b", 1));
  CHECK(cache.GetStats().evictions == 0);  // Stale versions are not evictions.
}

TEST_CASE("ResidencyCache: a failed upload is reported and counted, and leaves nothing", "[residency]") {
  FakeGpuBackend gpu;
  gpu.SetFailUploads(true);
  ResidencyCache cache(&gpu);
  const auto a = MakeSet("a", 1, 10);
  const ResidencyCache::Acquired r = cache.Acquire(*a, 1 << 20);
  CHECK(r.targets == nullptr);
  CHECK(r.status.code() == absl::StatusCode::kResourceExhausted);
  CHECK(cache.GetStats().upload_failures == 1);
  CHECK(cache.GetStats().sets == 0);
  gpu.SetFailUploads(false);
  CHECK(cache.Acquire(*a, 1 << 20).targets != nullptr);
}

}  // namespace
}  // namespace simile
