#include "client/cosine_types.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace simile::client {

absl::string_view PlacementName(Placement placement) {
  switch (placement) {
    case Placement::kAuto:
      return "auto";
    case Placement::kCpu:
      return "cpu";
    case Placement::kGpu:
      return "gpu";
  }
  return "?";
}

absl::string_view EncodingName(Encoding encoding) {
  switch (encoding) {
    case Encoding::kRaw:
      return "raw";
    case Encoding::kValues:
      return "values";
  }
  return "?";
}

absl::StatusOr<Placement> ParsePlacement(absl::string_view name) {
  for (Placement p : {Placement::kAuto, Placement::kCpu, Placement::kGpu}) {
    if (name == PlacementName(p)) {
      return p;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("placement must be auto, cpu or gpu, not '", name, "'"));
}

absl::StatusOr<Encoding> ParseEncoding(absl::string_view name) {
  for (Encoding e : {Encoding::kRaw, Encoding::kValues}) {
    if (name == EncodingName(e)) {
      return e;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("encoding must be raw or values, not '", name, "'"));
}

v1::Placement ToProto(Placement placement) {
  switch (placement) {
    case Placement::kAuto:
      return v1::PLACEMENT_AUTO;
    case Placement::kCpu:
      return v1::PLACEMENT_CPU;
    case Placement::kGpu:
      return v1::PLACEMENT_GPU;
  }
  return v1::PLACEMENT_AUTO;
}

}  // namespace simile::client
