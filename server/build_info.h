// What was built: simile's version, the git commit, and whether the CUDA backend is in.
#ifndef SIMILE_SERVER_BUILD_INFO_H_
#define SIMILE_SERVER_BUILD_INFO_H_

namespace simile::server {

struct BuildInfo {
  const char* version;  // e.g. "0.1.0".
  const char* commit;   // Short git commit, or "unknown" outside a git checkout.
  bool cuda;            // Built with the CUDA backend.
};

[[nodiscard]] const BuildInfo& GetBuildInfo();

}  // namespace simile::server

#endif  // SIMILE_SERVER_BUILD_INFO_H_
