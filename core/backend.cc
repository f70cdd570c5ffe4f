#include "core/backend.h"

#include "absl/strings/str_cat.h"

namespace simile {

absl::StatusOr<std::shared_ptr<const ResidentTargets>> Backend::MakeResident(const MatrixView& targets,
                                                                             absl::Span<const float> norms) {
  (void)targets;
  (void)norms;
  return absl::UnimplementedError(absl::StrCat(description(), " keeps no target sets resident"));
}

}  // namespace simile
