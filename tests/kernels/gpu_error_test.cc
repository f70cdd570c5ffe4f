// The classification of CUDA error codes and cuBLAS statuses, and their absl::Status codes: the
// Backend error contract depends on it (out of memory -> split and retry; sticky -> device lost).
// Host-only: runs everywhere.
#include <catch2/catch.hpp>

#include "absl/status/status.h"
#include "kernels/gpu_error.h"
#include "kernels/gpu_error_status.h"

namespace simile::kernels {
namespace {

TEST_CASE("Only cudaErrorMemoryAllocation is out of memory") {
  CHECK(ClassifyCudaError(0) == GpuErrorKind::kOk);
  CHECK(ClassifyCudaError(2) == GpuErrorKind::kOutOfMemory);
  // Not memory: an invalid value, a launch that asks for too many registers or threads.
  CHECK(ClassifyCudaError(1) == GpuErrorKind::kInternal);
  CHECK(ClassifyCudaError(701) == GpuErrorKind::kInternal);
}

TEST_CASE("Sticky CUDA errors and a missing device or driver are device-lost") {
  // Illegal address, launch timeout, assert, hardware stack error, illegal instruction, misaligned
  // address, invalid address space, invalid PC, launch failure, tensor memory leak, ECC, NVLink,
  // contained, external device, MPS client terminated, context destroyed.
  for (int code : {700, 702, 710, 714, 715, 716, 717, 718, 719, 721, 214, 220, 226, 911, 810, 709}) {
    INFO("code " << code);
    CHECK(ClassifyCudaError(code) == GpuErrorKind::kDeviceLost);
  }
  // Initialization error, cudart unloading, insufficient driver, devices unavailable, no device,
  // system not ready, driver mismatch, unknown.
  for (int code : {3, 4, 35, 46, 100, 802, 803, 999}) {
    INFO("code " << code);
    CHECK(ClassifyCudaError(code) == GpuErrorKind::kDeviceLost);
  }
}

TEST_CASE("Other CUDA errors fail the chunk only") {
  // Invalid configuration, invalid device function, no kernel image, not ready, not supported.
  for (int code : {9, 98, 209, 600, 801, 12345}) {
    INFO("code " << code);
    CHECK(ClassifyCudaError(code) == GpuErrorKind::kInternal);
  }
}

TEST_CASE("cuBLAS allocation failure is out of memory, other cuBLAS failures internal") {
  CHECK(ClassifyCublasStatus(0) == GpuErrorKind::kOk);
  CHECK(ClassifyCublasStatus(3) == GpuErrorKind::kOutOfMemory);
  for (int status : {1, 7, 8, 11, 13, 14, 15, 16}) {
    INFO("status " << status);
    CHECK(ClassifyCublasStatus(status) == GpuErrorKind::kInternal);
  }
}

TEST_CASE("GpuError kinds map to the Backend contract's status codes") {
  CHECK(ToStatus(GpuError::Ok(), "gpu0").ok());
  const absl::Status oom = ToStatus(GpuError::Make(GpuErrorKind::kOutOfMemory, "cudaMalloc"), "gpu1");
  CHECK(oom.code() == absl::StatusCode::kResourceExhausted);
  CHECK(oom.message() == "gpu1: cudaMalloc");
  CHECK(ToStatus(GpuError::Make(GpuErrorKind::kDeviceLost, "x"), "g").code() ==
        absl::StatusCode::kUnavailable);
  CHECK(ToStatus(GpuError::Make(GpuErrorKind::kInternal, "x"), "g").code() ==
        absl::StatusCode::kInternal);
  CHECK(ToStatus(GpuError::Make(GpuErrorKind::kInvalidArgument, "x"), "g").code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(std::string(GpuErrorKindName(GpuErrorKind::kDeviceLost)) == "device_lost");
}

TEST_CASE("Combine keeps the first error unless a later one says the device is lost") {
  const GpuError oom = GpuError::Make(GpuErrorKind::kOutOfMemory, "first");
  const GpuError internal = GpuError::Make(GpuErrorKind::kInternal, "second");
  const GpuError lost = GpuError::Make(GpuErrorKind::kDeviceLost, "sticky");
  CHECK(Combine(GpuError::Ok(), internal).message == "second");
  CHECK(Combine(oom, internal).message == "first");
  CHECK(Combine(oom, GpuError::Ok()).message == "first");
  const GpuError combined = Combine(oom, lost);
  CHECK(combined.kind == GpuErrorKind::kDeviceLost);
  CHECK(combined.message == "sticky (after: first)");
  CHECK(Combine(lost, GpuError::Make(GpuErrorKind::kDeviceLost, "again")).message == "sticky");
}

}  // namespace
}  // namespace simile::kernels
