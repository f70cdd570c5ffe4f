#include "core/residency_cache.h"

#include "absl/strings/str_cat.h"

namespace simile {

ResidencyCache::Acquired ResidencyCache::Acquire(const TargetSetVersion& set, uint64_t max_bytes) {
  const KeyView key{set.name, set.version};
  {
    MutexLock lock(&mu_);
    if (auto targets = Hit(key)) return Acquired{std::move(targets), true, absl::OkStatus()};
  }
  if (set.bytes() > max_bytes) {
    return Acquired{nullptr, false,
                    absl::ResourceExhaustedError(absl::StrCat(
                        "target set '", set.name, "' (", set.bytes(),
                        " bytes) is larger than the GPU residency cap of ", max_bytes, " bytes"))};
  }

  MutexLock upload_lock(&upload_mu_);
  {
    // Another request may have uploaded it while this one waited; otherwise make room now, so that the
    // upload finds the memory (evicted copies still being read are freed when their readers finish).
    MutexLock lock(&mu_);
    if (auto targets = Hit(key)) return Acquired{std::move(targets), true, absl::OkStatus()};
    while (stats_.bytes + set.bytes() > max_bytes && EvictOne(&key)) {
    }
  }
  absl::StatusOr<std::shared_ptr<const ResidentTargets>> uploaded =
      device_->MakeResident(set.view(), set.norms);
  MutexLock lock(&mu_);
  if (!uploaded.ok()) {
    ++stats_.upload_failures;
    return Acquired{nullptr, false, uploaded.status()};
  }
  ++stats_.uploads;
  // Older versions of the same set are dead weight once a newer one is queried.
  for (auto it = entries_.lower_bound(KeyView{set.name, 0});
       it != entries_.end() && it->first.first == set.name;) {
    auto next = std::next(it);
    if (it->first.second < set.version) Erase(it);
    it = next;
  }
  Entry& entry = entries_[Key{set.name, set.version}];
  entry.targets = *uploaded;
  entry.last_used = ++use_clock_;
  stats_.sets += 1;
  stats_.rows += entry.targets->rows();
  stats_.bytes += entry.targets->bytes();
  std::shared_ptr<const ResidentTargets> targets = entry.targets;
  // Device bytes may exceed the host estimate used above (rows padded for aligned loads).
  while (stats_.bytes > max_bytes && EvictOne(&key)) {
  }
  return Acquired{std::move(targets), false, absl::OkStatus()};
}

std::shared_ptr<const ResidentTargets> ResidencyCache::Hit(const KeyView& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  it->second.last_used = ++use_clock_;
  ++stats_.hits;
  return it->second.targets;
}

bool ResidencyCache::WouldBeResident(const TargetSetVersion& set, uint64_t max_bytes) const {
  return set.bytes() <= max_bytes || IsResident(set.name, set.version);
}

bool ResidencyCache::IsResident(absl::string_view name, uint64_t version) const {
  MutexLock lock(&mu_);
  return entries_.find(KeyView{name, version}) != entries_.end();
}

void ResidencyCache::Forget(absl::string_view name, uint64_t keep_version) {
  MutexLock lock(&mu_);
  for (auto it = entries_.lower_bound(KeyView{name, 0});
       it != entries_.end() && it->first.first == name;) {
    auto next = std::next(it);
    if (it->first.second != keep_version) Erase(it);
    it = next;
  }
}

void ResidencyCache::Shrink(uint64_t max_bytes) {
  MutexLock lock(&mu_);
  while (stats_.bytes > max_bytes && EvictOne(nullptr)) {
  }
}

ResidencyStats ResidencyCache::GetStats() const {
  MutexLock lock(&mu_);
  return stats_;
}

bool ResidencyCache::EvictOne(const KeyView* keep) {
  auto victim = entries_.end();
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (keep != nullptr && KeyView(it->first.first, it->first.second) == *keep) continue;
    if (victim == entries_.end() || it->second.last_used < victim->second.last_used) victim = it;
  }
  if (victim == entries_.end()) return false;
  Erase(victim);
  ++stats_.evictions;
  return true;
}

void ResidencyCache::Erase(Entries::iterator it) {
  stats_.sets -= 1;
  stats_.rows -= it->second.targets->rows();
  stats_.bytes -= it->second.targets->bytes();
  entries_.erase(it);
}

}  // namespace simile
