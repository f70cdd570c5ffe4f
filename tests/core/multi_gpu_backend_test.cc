// MultiGpuBackend over fake devices: requests spread across the devices, a lost device is skipped
// and its chunk retried on another, UNAVAILABLE only when none is left, other errors pass through,
// and the memory query and model are the most conservative of the devices'.
#include "core/multi_gpu_backend.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "core/backend.h"
#include "core/cpu_backend.h"
#include "tests/core/fake_gpu_backend.h"
#include "tests/testing/cosine_reference.h"

namespace simile {
namespace {

// One chunk of random data with its output buffer.
struct Chunk {
  explicit Chunk(uint64_t seed) : queries(2 * 8), targets(50 * 8), scores(2 * 50, -7.0f) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (float& v : queries) v = u(rng);
    for (float& v : targets) v = u(rng);
    args.queries = MatrixView{queries.data(), 2, 8};
    args.targets = MatrixView{targets.data(), 50, 8};
    args.out.scores = scores.data();
    args.out.ld = 50;
  }
  std::vector<float> queries;
  std::vector<float> targets;
  std::vector<float> scores;
  ChunkArgs args;
};

std::unique_ptr<MultiGpuBackend> Make(std::vector<Backend*> devices) {
  absl::StatusOr<std::unique_ptr<MultiGpuBackend>> multi = MultiGpuBackend::Create(devices);
  REQUIRE(multi.ok());
  return *std::move(multi);
}

TEST_CASE("MultiGpuBackend spreads calls across idle devices and computes correct results",
          "[multi_gpu]") {
  FakeGpuBackend a;
  FakeGpuBackend b;
  std::unique_ptr<MultiGpuBackend> multi = Make({&a, &b});
  CHECK(multi->kind() == BackendKind::kGpu);
  CHECK(multi->description() == "2 GPUs: fake-gpu0; fake-gpu0");
  for (int i = 0; i < 10; ++i) {
    Chunk c(i);
    REQUIRE(multi->Cosine(c.args).value() == 100);
    const std::vector<double> ref = testing::ReferenceCosine(c.queries, c.targets, 8);
    for (size_t e = 0; e < ref.size(); ++e) CHECK(c.scores[e] == Approx(ref[e]).margin(1e-5));
  }
  CHECK(a.calls() == 5);
  CHECK(b.calls() == 5);
  CHECK(multi->InFlight(0) == 0);
  CHECK(multi->InFlight(1) == 0);
}

TEST_CASE(
    "MultiGpuBackend retries a lost device's chunk on another and is unavailable when all "
    "are lost",
    "[multi_gpu]") {
  FakeGpuBackend a;
  FakeGpuBackend b;
  std::unique_ptr<MultiGpuBackend> multi = Make({&a, &b});
  a.LoseDeviceOnCall(1);
  b.LoseDeviceOnCall(1);
  Chunk c(1);
  // The first call goes to one device, which is lost; the retry goes to the other, also lost.
  const absl::StatusOr<uint64_t> r = multi->Cosine(c.args);
  CHECK(r.status().code() == absl::StatusCode::kUnavailable);
  CHECK_FALSE(multi->Available());
  CHECK(multi->memory_query()->Query().status().code() == absl::StatusCode::kUnavailable);

  FakeGpuBackend x;
  FakeGpuBackend y;
  std::unique_ptr<MultiGpuBackend> two = Make({&x, &y});
  x.LoseDeviceOnCall(1);
  y.LoseDeviceOnCall(5);
  for (int i = 0; i < 3; ++i) {
    Chunk d(10 + i);
    CHECK(two->Cosine(d.args).ok());
  }
  CHECK(two->Available());
  CHECK_FALSE(x.Available());
  CHECK(x.calls() + y.calls() == 4);  // x failed once; every chunk then ran on y.
}

TEST_CASE("MultiGpuBackend passes other errors through and reports the smallest free memory",
          "[multi_gpu]") {
  FakeGpuBackend a;
  FakeGpuBackend b;
  std::unique_ptr<MultiGpuBackend> multi = Make({&a, &b});
  a.SetOomAboveRows(10);
  b.SetOomAboveRows(10);
  Chunk c(3);
  CHECK(multi->Cosine(c.args).status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(a.calls() + b.calls() == 1);

  a.memory().SetInfo(300, 1000);
  b.memory().SetInfo(200, 2000);
  absl::StatusOr<DeviceMemoryInfo> info = multi->memory_query()->Query();
  REQUIRE(info.ok());
  CHECK(info->free_bytes == 200);
  CHECK(info->total_bytes == 2000);
  b.memory().SetFailAlways(true);
  CHECK(multi->memory_query()->Query()->free_bytes == 300);

  a.SetMemoryModel({100, 4});
  b.SetMemoryModel({50, 8});
  const DeviceMemoryModel m = multi->MemoryModel(1, 8, 0);
  CHECK(m.fixed_bytes == 100);
  CHECK(m.bytes_per_row_extra == 8);

  CHECK_FALSE(MultiGpuBackend::Create({}).ok());
  CpuBackend* no_cpu = nullptr;
  CHECK_FALSE(MultiGpuBackend::Create({no_cpu}).ok());
}

TEST_CASE("MultiGpuBackend replicates a resident set on every device and reads each device's own copy",
          "[multi_gpu][residency]") {
  FakeGpuBackend a;
  FakeGpuBackend b;
  std::unique_ptr<MultiGpuBackend> multi = Make({&a, &b});
  Chunk whole(42);
  absl::StatusOr<std::shared_ptr<const ResidentTargets>> resident =
      multi->MakeResident(whole.args.targets, {});
  REQUIRE(resident.ok());
  CHECK((*resident)->owner() == multi.get());
  CHECK((*resident)->rows() == 50);
  CHECK(a.resident_bytes() == 50 * 8 * sizeof(float));
  CHECK(b.resident_bytes() == 50 * 8 * sizeof(float));
  const std::vector<double> ref = testing::ReferenceCosine(whole.queries, whole.targets, 8);
  for (int i = 0; i < 4; ++i) {
    // Rows [10, 30) of the set, read from the resident copies (the host rows are poisoned).
    Chunk c(42);
    std::vector<float> poisoned(20 * 8, std::nanf(""));
    c.args.targets = MatrixView{poisoned.data(), 20, 8};
    c.args.target_offset = 10;
    c.args.resident = resident->get();
    REQUIRE(multi->Cosine(c.args).value() == 40);
    for (uint32_t q = 0; q < 2; ++q) {
      for (uint32_t t = 0; t < 20; ++t) CHECK(c.scores[q * 50 + t] == Approx(ref[q * 50 + 10 + t]).margin(1e-5));
    }
  }
  CHECK(a.resident_chunks() == 2);
  CHECK(b.resident_chunks() == 2);
  resident->reset();
  CHECK(a.resident_bytes() == 0);
  CHECK(b.resident_bytes() == 0);
}

TEST_CASE("MultiGpuBackend: a resident upload is all or nothing", "[multi_gpu][residency]") {
  FakeGpuBackend a;
  FakeGpuBackend b;
  b.SetFailUploads(true);
  std::unique_ptr<MultiGpuBackend> multi = Make({&a, &b});
  Chunk whole(43);
  absl::StatusOr<std::shared_ptr<const ResidentTargets>> resident =
      multi->MakeResident(whole.args.targets, {});
  CHECK(resident.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(a.resident_bytes() == 0);  // a's replica was freed.
}

}  // namespace
}  // namespace simile
