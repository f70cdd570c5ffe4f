// Reading the configuration file (protobuf text format, simile.v1.ServerConfig) into a core
// ServingConfig.
//
// Thread safety: pure functions.
#ifndef SIMILE_SERVER_CONFIG_FILE_H_
#define SIMILE_SERVER_CONFIG_FILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/serving_config.h"

namespace simile::server {

// Parses `text`; unset fields keep ServingConfig's defaults. InvalidArgument with the parser's line
// and column, or the first invalid field.
[[nodiscard]] absl::StatusOr<ServingConfig> ParseServingConfig(absl::string_view text,
                                                               absl::string_view source);

// Reads the hardware profile at `profile_path`, then the configuration file at `path` over it
// (either may be empty: skipped). Both empty gives the defaults.
[[nodiscard]] absl::StatusOr<ServingConfig> LoadServingConfig(const std::string& path,
                                                              const std::string& profile_path = "");

}  // namespace simile::server

#endif  // SIMILE_SERVER_CONFIG_FILE_H_
