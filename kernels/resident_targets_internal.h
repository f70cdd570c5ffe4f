// Internal to kernels/ (CUDA builds only): a target set resident in one GPU's memory (core/backend.h's
// ResidentTargets), laid out as the pipeline reads targets: rows padded with zeros to padded_dim (dim rounded
// up to a multiple of 4, kernels/gpu_plan.h), so that chunks read it in place with no staging and no copy.
//
// Its memory is a cudaMalloc of its own, not a pool block: it lives for many requests, and its exact size is
// what the residency cap counts. Freed (cudaFree on its device) when the last holder lets go; cudaFree waits
// for the device, and no chunk can still be reading it then (each chunk holds a reference and drains its
// streams before it returns).
//
// Thread safety: immutable after Upload.
#ifndef SIMILE_KERNELS_RESIDENT_TARGETS_INTERNAL_H_
#define SIMILE_KERNELS_RESIDENT_TARGETS_INTERNAL_H_

#include <cstdint>
#include <memory>

#include "core/backend.h"
#include "kernels/gpu_error.h"

namespace simile::kernels::internal {

class DeviceResidentTargets final : public ResidentTargets {
 public:
  // Copies `targets` to device `ordinal` (synchronously), padded. kOutOfMemory when cudaMalloc fails.
  static GpuError Upload(const Backend* owner, int ordinal, const MatrixView& targets,
                         std::shared_ptr<const DeviceResidentTargets>* out);

  ~DeviceResidentTargets() override;
  DeviceResidentTargets(const DeviceResidentTargets&) = delete;
  DeviceResidentTargets& operator=(const DeviceResidentTargets&) = delete;

  [[nodiscard]] const Backend* owner() const override { return owner_; }
  [[nodiscard]] uint64_t bytes() const override { return uint64_t{rows_} * padded_dim_ * sizeof(float); }
  [[nodiscard]] uint32_t rows() const override { return rows_; }
  [[nodiscard]] uint32_t dim() const override { return dim_; }
  [[nodiscard]] int ordinal() const { return ordinal_; }
  // Device pointer to row `row` (padded_dim floats per row).
  [[nodiscard]] const float* Row(uint32_t row) const { return data_ + uint64_t{row} * padded_dim_; }

 private:
  DeviceResidentTargets(const Backend* owner, int ordinal, uint32_t rows, uint32_t dim, uint32_t padded_dim,
                        float* data)
      : owner_(owner), ordinal_(ordinal), rows_(rows), dim_(dim), padded_dim_(padded_dim), data_(data) {}

  const Backend* const owner_;
  const int ordinal_;
  const uint32_t rows_;
  const uint32_t dim_;
  const uint32_t padded_dim_;
  float* const data_;
};

}  // namespace simile::kernels::internal

#endif  // SIMILE_KERNELS_RESIDENT_TARGETS_INTERNAL_H_
