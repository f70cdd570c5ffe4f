#include "core/host_resident_targets.h"

#include "absl/strings/str_cat.h"

namespace simile {

HostResidentTargets::HostResidentTargets(const Backend* owner, const MatrixView& targets,
                                         std::atomic<uint64_t>* used_bytes)
    : owner_(owner),
      rows_(targets.rows),
      dim_(targets.dim),
      data_(targets.data, targets.data + targets.size()),
      used_bytes_(used_bytes) {
  // Relaxed: a byte count read on its own; the copy itself is published by the shared_ptr that holds it.
  used_bytes_->fetch_add(bytes(), std::memory_order_relaxed);
}

HostResidentTargets::~HostResidentTargets() { used_bytes_->fetch_sub(bytes(), std::memory_order_relaxed); }

absl::StatusOr<ChunkArgs> HostResidentTargets::ReadFromCopy(const ChunkArgs& args, const Backend* owner) {
  // Every HostResidentTargets reports its owner, so the owner check also identifies the type.
  if (args.resident == nullptr || args.resident->owner() != owner) {
    return absl::InvalidArgumentError("the chunk's resident targets belong to another backend");
  }
  const auto* copy = static_cast<const HostResidentTargets*>(args.resident);
  if (copy->dim() != args.targets.dim ||
      uint64_t{args.target_offset} + args.targets.rows > copy->rows()) {
    return absl::InvalidArgumentError(absl::StrCat("resident rows [", args.target_offset, ", ",
                                                   uint64_t{args.target_offset} + args.targets.rows,
                                                   ") are outside the resident set of ", copy->rows(), " rows"));
  }
  ChunkArgs out = args;
  out.targets = copy->Rows(args.target_offset, args.targets.rows);
  out.resident = nullptr;
  return out;
}

}  // namespace simile
