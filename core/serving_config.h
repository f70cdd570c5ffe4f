// ServingConfig: everything about how requests are served that an operator may change at run time (limits, and
// the dispatcher's thresholds). Loaded from the config file at start-up and again on SIGHUP.
//
// Thread safety: a plain value; shared between threads only as `std::shared_ptr<const ServingConfig>` through
// ConfigStore, so it is never written once published.
#ifndef SIMILE_CORE_SERVING_CONFIG_H_
#define SIMILE_CORE_SERVING_CONFIG_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "core/limits.h"

namespace simile {

struct ServingConfig {
  // Where this configuration came from (a file path, or "defaults"), and its sequence number in this process
  // (1 for the start-up configuration, +1 per accepted reload). Set by ConfigStore.
  std::string source = "defaults";
  uint64_t version = 0;

  Limits limits;

  // InvalidArgument naming the first bad field.
  [[nodiscard]] absl::Status Validate() const;
};

}  // namespace simile

#endif  // SIMILE_CORE_SERVING_CONFIG_H_
