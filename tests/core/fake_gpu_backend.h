// FakeGpuBackend: a deterministic, fault-injecting GPU test double (BackendKind::kGpu) for the
// executor's tests, and FakeDeviceMemory, the DeviceMemoryQuery it hands out from memory_query().
//
// Results are real: every successful call computes its chunk with plain float loops (an
// implementation independent of the CPU kernel in core/cpu_cosine.h and of core/top_k.h), honouring
// the Backend contract in core/backend.h, so tests compare whatever mix of GPU and CPU chunks ran
// against an independent reference.
//
// Faults are injected through knobs, each following the Backend error contract:
// - out of memory (kResourceExhausted): chunks above N rows, the i-th call, or chunks starting at
//   a given target offset (whatever their size, so retries there fail down to the floor);
// - chunk failure (kInternal): the i-th call, or every call;
// - device lost (kUnavailable): the i-th call; Available() is false from then on;
// - short result: the i-th call writes only the first half of each query's results (the rest of
//   the output is left untouched) and reports that smaller count;
// - random faults: seeded per-mille odds of each of the above, for concurrency tests.
// When several apply to one call the first of: device lost, chunk failure, out of memory, short
// result wins. Call numbers are 1-based and count every Cosine() call since construction.
//
// Latency: each call advances the FakeClock given at construction by per_call + rows * per_row
// (before it computes or fails), so deadlines, latencies and breaker cool-downs move without
// sleeps.
//
// Hooks: SetCallHook runs a callback at the start of every call (after the latency, before faults
// and work) and FakeDeviceMemory::SetQueryHook at the start of every query, outside any lock of the
// double, for tests that must act at an exact point (cancel after chunk k, reload the configuration
// mid-request, hold a probe in flight while another request decides).
//
// Thread safety: every method of both classes may be called concurrently from any thread.
#ifndef SIMILE_TESTS_CORE_FAKE_GPU_BACKEND_H_
#define SIMILE_TESTS_CORE_FAKE_GPU_BACKEND_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/backend.h"
#include "core/mutex.h"
#include "core/vram_monitor.h"
#include "tests/core/fake_clock.h"

namespace simile {

// A DeviceMemoryQuery with settable answers and failures.
class FakeDeviceMemory final : public DeviceMemoryQuery {
 public:
  FakeDeviceMemory() = default;
  FakeDeviceMemory(const FakeDeviceMemory&) = delete;
  FakeDeviceMemory& operator=(const FakeDeviceMemory&) = delete;

  absl::StatusOr<DeviceMemoryInfo> Query() override;

  void SetInfo(uint64_t free_bytes, uint64_t total_bytes);
  // Every query fails (kInternal) while set.
  void SetFailAlways(bool fail);
  // The next `n` queries fail.
  void FailNextQueries(int n);
  // Runs at the start of every query, outside the double's lock; empty to remove.
  void SetQueryHook(std::function<void()> hook);

  [[nodiscard]] uint64_t queries() const { return queries_.load(std::memory_order_relaxed); }
  [[nodiscard]] uint64_t failures() const { return failures_.load(std::memory_order_relaxed); }

 private:
  mutable Mutex mu_;
  DeviceMemoryInfo info_ ABSL_GUARDED_BY(mu_) = {uint64_t{1} << 30, uint64_t{2} << 30};
  bool fail_always_ ABSL_GUARDED_BY(mu_) = false;
  int fail_next_ ABSL_GUARDED_BY(mu_) = 0;
  std::function<void()> hook_ ABSL_GUARDED_BY(mu_);
  // Relaxed: plain event counts; nothing else is published through them.
  std::atomic<uint64_t> queries_{0};
  std::atomic<uint64_t> failures_{0};
};

// One Cosine() call, as the double saw it.
struct FakeGpuCall {
  uint64_t number = 0;  // 1-based.
  uint32_t target_offset = 0;
  uint32_t rows = 0;
  uint32_t queries = 0;
  uint32_t top_k = 0;
  absl::StatusCode outcome = absl::StatusCode::kOk;
  bool short_result = false;  // Succeeded but reported (and wrote) fewer results than expected.
};

class FakeGpuBackend final : public Backend {
 public:
  // Odds, in 1/1000 per call, of each fault; drawn from one generator seeded with `seed`.
  struct RandomFaults {
    uint64_t seed = 1;
    int oom_per_mille = 0;
    int error_per_mille = 0;
    int short_per_mille = 0;
    int device_lost_per_mille = 0;
  };

  // `clock` (may be null: no latency) must outlive the backend.
  explicit FakeGpuBackend(FakeClock* clock = nullptr);
  FakeGpuBackend(const FakeGpuBackend&) = delete;
  FakeGpuBackend& operator=(const FakeGpuBackend&) = delete;

  // Backend.
  [[nodiscard]] BackendKind kind() const override { return BackendKind::kGpu; }
  [[nodiscard]] std::string description() const override { return "fake-gpu0"; }
  [[nodiscard]] bool Available() const override;
  [[nodiscard]] DeviceMemoryModel MemoryModel(uint32_t q, uint32_t dim,
                                              uint32_t top_k) const override;
  [[nodiscard]] DeviceMemoryQuery* memory_query() override { return &memory_; }
  // Keeps a host copy (core/host_resident_targets.h) that chunks with ChunkArgs::resident compute from.
  [[nodiscard]] absl::StatusOr<std::shared_ptr<const ResidentTargets>> MakeResident(
      const MatrixView& targets, absl::Span<const float> norms) override;
  [[nodiscard]] absl::StatusOr<uint64_t> Cosine(const ChunkArgs& args) override;

  FakeDeviceMemory& memory() { return memory_; }

  // ---- Knobs.
  void SetMemoryModel(DeviceMemoryModel model);
  void SetAvailable(bool available);
  // Out of memory for every chunk of more than `rows` rows (0: no limit).
  void SetOomAboveRows(uint64_t rows);
  // Out of memory on call number `call`.
  void OomOnCall(uint64_t call);
  // Out of memory for every chunk that starts at target row `offset`, whatever its size.
  void OomAtOffset(uint32_t offset);
  // kInternal on call number `call`; on every call while `fail` is set.
  void FailOnCall(uint64_t call);
  void SetFailAlways(bool fail);
  // kUnavailable on call number `call`, and Available() == false from then on.
  void LoseDeviceOnCall(uint64_t call);
  // Call number `call` writes only half of each query's results and reports that count.
  void ShortResultOnCall(uint64_t call);
  void SetRandomFaults(const RandomFaults& faults);
  // Removes every fault knob (not the memory model, latency, hook or availability).
  void ClearFaults();
  void SetLatency(absl::Duration per_call, absl::Duration per_row = absl::ZeroDuration());
  // Runs at the start of every call with the call's args and number; empty to remove.
  void SetCallHook(std::function<void(const ChunkArgs&, uint64_t call)> hook);
  // MakeResident fails with kResourceExhausted while set.
  void SetFailUploads(bool fail);

  // ---- Observations.
  [[nodiscard]] uint64_t calls() const { return calls_.load(std::memory_order_relaxed); }
  [[nodiscard]] uint64_t rows_computed() const {
    return rows_computed_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::vector<FakeGpuCall> CallLog() const;
  [[nodiscard]] uint64_t uploads_attempted() const { return uploads_attempted_.load(std::memory_order_relaxed); }
  // Chunks computed from a resident copy.
  [[nodiscard]] uint64_t resident_chunks() const { return resident_chunks_.load(std::memory_order_relaxed); }
  // Bytes of the resident copies alive now (the cache's and those chunks still hold).
  [[nodiscard]] uint64_t resident_bytes() const { return resident_bytes_.load(std::memory_order_relaxed); }

 private:
  enum class Fault : uint8_t { kNone, kOom, kError, kDeviceLost, kShort };

  // Which fault (if any) call `number` of `rows` rows starting at `offset` gets.
  Fault PickFault(uint64_t number, uint32_t offset, uint32_t rows)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  FakeClock* const clock_;
  FakeDeviceMemory memory_;

  mutable Mutex mu_;
  DeviceMemoryModel model_ ABSL_GUARDED_BY(mu_);
  uint64_t oom_above_rows_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<uint64_t> oom_calls_ ABSL_GUARDED_BY(mu_);
  std::set<uint32_t> oom_offsets_ ABSL_GUARDED_BY(mu_);
  std::set<uint64_t> error_calls_ ABSL_GUARDED_BY(mu_);
  bool fail_always_ ABSL_GUARDED_BY(mu_) = false;
  std::set<uint64_t> lost_calls_ ABSL_GUARDED_BY(mu_);
  std::set<uint64_t> short_calls_ ABSL_GUARDED_BY(mu_);
  bool random_ ABSL_GUARDED_BY(mu_) = false;
  RandomFaults random_faults_ ABSL_GUARDED_BY(mu_);
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  absl::Duration latency_per_call_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  absl::Duration latency_per_row_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  std::function<void(const ChunkArgs&, uint64_t)> hook_ ABSL_GUARDED_BY(mu_);
  std::vector<FakeGpuCall> log_ ABSL_GUARDED_BY(mu_);
  bool fail_uploads_ ABSL_GUARDED_BY(mu_) = false;

  // Relaxed: `available_` is a flag read on its own (no data is published through it); the
  // counters are plain event counts.
  std::atomic<bool> available_{true};
  std::atomic<uint64_t> calls_{0};
  std::atomic<uint64_t> rows_computed_{0};
  std::atomic<uint64_t> uploads_attempted_{0};
  std::atomic<uint64_t> resident_chunks_{0};
  std::atomic<uint64_t> resident_bytes_{0};
};

}  // namespace simile

#endif  // SIMILE_TESTS_CORE_FAKE_GPU_BACKEND_H_
