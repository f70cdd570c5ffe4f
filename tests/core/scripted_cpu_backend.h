// ScriptedCpuBackend: the real CpuBackend behind a test wrapper that can add latency (by advancing
// a FakeClock), fail a call, report a short result, or run a hook, so that the executor's CPU path
// (its latency in the tracker, its failures, cancellation between CPU chunks) is tested
// deterministically.
//
// Thread safety: every method may be called concurrently from any thread.
#ifndef SIMILE_TESTS_CORE_SCRIPTED_CPU_BACKEND_H_
#define SIMILE_TESTS_CORE_SCRIPTED_CPU_BACKEND_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/backend.h"
#include "core/cpu_backend.h"
#include "core/mutex.h"
#include "core/thread_pool.h"
#include "tests/core/fake_clock.h"

namespace simile {

class ScriptedCpuBackend final : public Backend {
 public:
  // `clock` (may be null: no latency) and `pool` (may be null) must outlive the backend.
  explicit ScriptedCpuBackend(FakeClock* clock, ThreadPool* pool = nullptr)
      : clock_(clock), inner_(pool) {}
  ScriptedCpuBackend(const ScriptedCpuBackend&) = delete;
  ScriptedCpuBackend& operator=(const ScriptedCpuBackend&) = delete;

  [[nodiscard]] BackendKind kind() const override { return BackendKind::kCpu; }
  [[nodiscard]] std::string description() const override { return "scripted-cpu"; }
  [[nodiscard]] bool Available() const override { return true; }
  // Like the real CPU backend, so that the executor's in-kernel finiteness check is tested through
  // it.
  [[nodiscard]] bool ChecksTargetsFinite() const override { return inner_.ChecksTargetsFinite(); }

  [[nodiscard]] absl::StatusOr<uint64_t> Cosine(const ChunkArgs& args) override {
    const uint64_t number = calls_.fetch_add(1, std::memory_order_relaxed) + 1;
    std::function<void(const ChunkArgs&, uint64_t)> hook;
    absl::Duration latency;
    bool fail = false;
    bool short_result = false;
    {
      MutexLock lock(&mu_);
      hook = hook_;
      latency = latency_;
      fail = fail_always_ || fail_calls_.count(number) != 0;
      short_result = short_calls_.count(number) != 0;
    }
    if (clock_ != nullptr) clock_->Advance(latency);
    if (hook) hook(args, number);
    if (fail) return absl::InternalError(absl::StrCat("scripted CPU failure on call ", number));
    absl::StatusOr<uint64_t> written = inner_.Cosine(args);
    if (written.ok()) rows_.fetch_add(args.targets.rows, std::memory_order_relaxed);
    if (written.ok() && short_result) return *written - 1;
    return written;
  }

  void SetLatency(absl::Duration latency) {
    MutexLock lock(&mu_);
    latency_ = latency;
  }
  void FailOnCall(uint64_t call) {
    MutexLock lock(&mu_);
    fail_calls_.insert(call);
  }
  void SetFailAlways(bool fail) {
    MutexLock lock(&mu_);
    fail_always_ = fail;
  }
  // Call number `call` computes everything but reports one result fewer than expected.
  void ShortResultOnCall(uint64_t call) {
    MutexLock lock(&mu_);
    short_calls_.insert(call);
  }
  // Runs at the start of every call (after the latency); empty to remove.
  void SetCallHook(std::function<void(const ChunkArgs&, uint64_t call)> hook) {
    MutexLock lock(&mu_);
    hook_ = std::move(hook);
  }

  [[nodiscard]] uint64_t calls() const { return calls_.load(std::memory_order_relaxed); }
  [[nodiscard]] uint64_t rows_computed() const { return rows_.load(std::memory_order_relaxed); }

 private:
  FakeClock* const clock_;
  CpuBackend inner_;

  mutable Mutex mu_;
  absl::Duration latency_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  std::set<uint64_t> fail_calls_ ABSL_GUARDED_BY(mu_);
  bool fail_always_ ABSL_GUARDED_BY(mu_) = false;
  std::set<uint64_t> short_calls_ ABSL_GUARDED_BY(mu_);
  std::function<void(const ChunkArgs&, uint64_t)> hook_ ABSL_GUARDED_BY(mu_);

  // Relaxed: plain event counts; nothing else is published through them.
  std::atomic<uint64_t> calls_{0};
  std::atomic<uint64_t> rows_{0};
};

}  // namespace simile

#endif  // SIMILE_TESTS_CORE_SCRIPTED_CPU_BACKEND_H_
