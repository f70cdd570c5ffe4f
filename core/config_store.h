// ConfigStore: holds the current ServingConfig and swaps it atomically when a new one is accepted.
//
// A request takes Current() once when it starts and keeps that shared_ptr to the end, so in-flight
// requests finish on the configuration they started with while new requests see the new one. An
// invalid configuration is rejected and the current one kept.
//
// Thread safety: all methods may be called concurrently.
#ifndef SIMILE_CORE_CONFIG_STORE_H_
#define SIMILE_CORE_CONFIG_STORE_H_

#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "core/mutex.h"
#include "core/serving_config.h"

namespace simile {

class ConfigStore {
 public:
  // `initial` must be valid (checked by the caller through Validate(); a bad one is a programming
  // error here).
  explicit ConfigStore(ServingConfig initial);

  ConfigStore(const ConfigStore&) = delete;
  ConfigStore& operator=(const ConfigStore&) = delete;

  // The configuration in force now. Cheap: one short critical section and a reference-count
  // increment.
  [[nodiscard]] std::shared_ptr<const ServingConfig> Current() const;

  // Validates `next`; if valid, publishes it with the next version number and returns OK. Otherwise
  // returns the validation error and keeps the current configuration.
  absl::Status Replace(ServingConfig next);

 private:
  mutable Mutex mu_;
  std::shared_ptr<const ServingConfig> current_ ABSL_GUARDED_BY(mu_);
};

}  // namespace simile

#endif  // SIMILE_CORE_CONFIG_STORE_H_
