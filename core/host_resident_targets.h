// HostResidentTargets: a ResidentTargets whose "device memory" is a host copy, for the backends that stand in
// for a GPU (core/simulated_gpu_backend.h, the tests' fake GPU). The copy is real, so a chunk that reads it
// instead of ChunkArgs::targets proves the resident path end to end; its bytes are added to a counter the
// backend owns while the copy lives, so that the backend's free memory shrinks as a GPU's would.
//
// Thread safety: immutable after construction; the counter is atomic.
#ifndef SIMILE_CORE_HOST_RESIDENT_TARGETS_H_
#define SIMILE_CORE_HOST_RESIDENT_TARGETS_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "core/backend.h"

namespace simile {

class HostResidentTargets final : public ResidentTargets {
 public:
  // Copies `targets`; adds bytes() to `*used_bytes` (which must outlive this object) until destruction.
  HostResidentTargets(const Backend* owner, const MatrixView& targets, std::atomic<uint64_t>* used_bytes);
  ~HostResidentTargets() override;
  HostResidentTargets(const HostResidentTargets&) = delete;
  HostResidentTargets& operator=(const HostResidentTargets&) = delete;

  [[nodiscard]] const Backend* owner() const override { return owner_; }
  [[nodiscard]] uint64_t bytes() const override { return data_.size() * sizeof(float); }
  [[nodiscard]] uint32_t rows() const override { return rows_; }
  [[nodiscard]] uint32_t dim() const override { return dim_; }

  // The copy of rows [offset, offset + rows).
  [[nodiscard]] MatrixView Rows(uint32_t offset, uint32_t rows) const {
    return MatrixView{data_.data() + uint64_t{offset} * dim_, rows, dim_};
  }

  // `args` with its targets replaced by the resident copy of the same rows (and `resident` cleared), for a
  // backend that computes with a host kernel. InvalidArgument if `args.resident` is not a HostResidentTargets
  // of `owner` or its rows are out of range.
  [[nodiscard]] static absl::StatusOr<ChunkArgs> ReadFromCopy(const ChunkArgs& args, const Backend* owner);

 private:
  const Backend* const owner_;
  const uint32_t rows_;
  const uint32_t dim_;
  const std::vector<float> data_;
  std::atomic<uint64_t>* const used_bytes_;
};

}  // namespace simile

#endif  // SIMILE_CORE_HOST_RESIDENT_TARGETS_H_
