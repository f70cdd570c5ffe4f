#include "core/config_store.h"

#include <utility>

namespace simile {

ConfigStore::ConfigStore(ServingConfig initial) {
  initial.version = 1;
  current_ = std::make_shared<const ServingConfig>(std::move(initial));
}

std::shared_ptr<const ServingConfig> ConfigStore::Current() const {
  MutexLock lock(&mu_);
  return current_;
}

absl::Status ConfigStore::Replace(ServingConfig next) {
  if (absl::Status s = next.Validate(); !s.ok()) return s;
  auto published = std::make_shared<ServingConfig>(std::move(next));
  MutexLock lock(&mu_);
  published->version = current_->version + 1;
  current_ = std::move(published);
  return absl::OkStatus();
}

}  // namespace simile
