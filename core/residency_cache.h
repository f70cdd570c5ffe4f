// ResidencyCache: which target sets (core/target_set_store.h) are resident in one GPU backend's memory, within
// a byte cap, evicting the least recently used first.
//
// A set becomes resident the first time the dispatcher sends a request on it to the GPU (Acquire uploads it
// then); later requests read the device copy and send no target bytes over PCIe. A set larger than the cap is
// never resident: its requests stream it through the GPU in chunks like inline targets. Entries are keyed by
// (name, version): a version is immutable, so a resident copy is never stale; Forget drops the copies of a
// deleted set or of versions an append replaced. Eviction only drops the cache's reference: a chunk still
// reading an evicted copy keeps it alive, and its device memory is freed when that chunk ends.
//
// Resident bytes count against the VRAM budget because they are really allocated on the device: the free
// memory the VRAM monitor reads (cudaMemGetInfo) is already net of them.
//
// Thread safety: every method may be called from any thread. `mu_` guards the entries and counters and is
// held only for map updates; `upload_mu_` serializes uploads (rare and long: one at a time per device, so two
// requests that miss on the same set upload it once) and is never held while waiting for `mu_`'s holders
// beyond a map update. Lock order: upload_mu_, then mu_.
#ifndef SIMILE_CORE_RESIDENCY_CACHE_H_
#define SIMILE_CORE_RESIDENCY_CACHE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "core/backend.h"
#include "core/mutex.h"
#include "core/target_set_store.h"

namespace simile {

struct ResidencyStats {
  uint64_t sets = 0;   // Resident versions.
  uint64_t rows = 0;
  uint64_t bytes = 0;  // Device bytes they hold (per device when replicated).
  uint64_t uploads = 0;          // Successful uploads.
  uint64_t upload_failures = 0;  // Uploads the device refused (out of memory, device error).
  uint64_t evictions = 0;        // Versions dropped to make room (not counting Forget).
  uint64_t hits = 0;             // Acquires that found the version resident.
};

class ResidencyCache {
 public:
  // `device` (not owned) must outlive the cache.
  explicit ResidencyCache(Backend* device) : device_(device) {}
  ResidencyCache(const ResidencyCache&) = delete;
  ResidencyCache& operator=(const ResidencyCache&) = delete;

  struct Acquired {
    std::shared_ptr<const ResidentTargets> targets;  // Null: not resident; see `status`.
    bool was_resident = false;  // It was resident before this call: no bytes crossed to the device.
    absl::Status status;        // Why it is not resident (too large for the cap, or the upload failed).
  };

  // The resident copy of `set`, uploading it first if needed, after evicting least recently used versions
  // until it fits in `max_bytes`. The caller keeps `targets` for as long as it reads the copy.
  [[nodiscard]] Acquired Acquire(const TargetSetVersion& set, uint64_t max_bytes);

  // Whether a request on `set` would read a resident copy: it is resident now, or it could be uploaded
  // within `max_bytes` (its host bytes estimate its device bytes).
  [[nodiscard]] bool WouldBeResident(const TargetSetVersion& set, uint64_t max_bytes) const;
  [[nodiscard]] bool IsResident(absl::string_view name, uint64_t version) const;

  // Drops the copies of `name` other than `keep_version` (0: every version, for a deleted set).
  void Forget(absl::string_view name, uint64_t keep_version);
  // Evicts least recently used versions until at most `max_bytes` are resident (a lowered cap).
  void Shrink(uint64_t max_bytes);

  [[nodiscard]] ResidencyStats GetStats() const;

 private:
  struct Entry {
    std::shared_ptr<const ResidentTargets> targets;
    uint64_t last_used = 0;  // Value of use_clock_ at the last Acquire.
  };
  using Key = std::pair<std::string, uint64_t>;
  // Looks entries up by a view of the name, so a request that hits allocates nothing.
  using KeyView = std::pair<absl::string_view, uint64_t>;
  struct KeyLess {
    using is_transparent = void;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return KeyView(a.first, a.second) < KeyView(b.first, b.second);
    }
  };
  using Entries = std::map<Key, Entry, KeyLess>;

  // The entry for `key`, marked used now; null if absent.
  std::shared_ptr<const ResidentTargets> Hit(const KeyView& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Evicts the least recently used entry other than `keep`; false if there is none.
  bool EvictOne(const KeyView* keep) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Erase(Entries::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Backend* const device_;
  Mutex upload_mu_;
  mutable Mutex mu_ ABSL_ACQUIRED_AFTER(upload_mu_);
  Entries entries_ ABSL_GUARDED_BY(mu_);
  uint64_t use_clock_ ABSL_GUARDED_BY(mu_) = 0;
  ResidencyStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace simile

#endif  // SIMILE_CORE_RESIDENCY_CACHE_H_
