// CreateGpuBackends: without a usable GPU it reports why, once, with the CUDA error (this runs on
// every machine: CI and the development machines have no GPU); with one it creates a backend per
// device. Bad options are rejected before any device is touched.
#include <catch2/catch.hpp>

#include <string>

#include "absl/status/status.h"
#include "core/backend.h"
#include "core/vram_monitor.h"
#include "kernels/gpu_backend.h"
#include "kernels/gpu_probe.h"

namespace simile::kernels {
namespace {

TEST_CASE("The factory reports the reason there is no GPU, or one backend per device") {
  const GpuProbeResult probe = ProbeGpus();
  absl::StatusOr<GpuBackendSet> set = CreateGpuBackends(GpuBackendOptions());
  if (!set.ok()) {
    const std::string message(set.status().message());
    INFO("factory: " << set.status().ToString());
    CHECK(set.status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK_THAT(message, Catch::StartsWith("no usable GPU: "));
    if (!BuiltWithCuda()) {
      CHECK_THAT(message, Catch::Contains("built without CUDA"));
    } else if (probe.devices.empty()) {
      // The CUDA runtime's own words, e.g. "cudaGetDeviceCount failed: cudaErrorInsufficientDriver
      // (35): CUDA driver version is insufficient for CUDA runtime version" where there is no
      // driver, or cudaErrorNoDevice (100) where there is a driver but no device.
      CHECK(message == "no usable GPU: " + probe.unavailable_reason);
      CHECK_THAT(message, Catch::Contains("cudaError"));
    }
    WARN("no GPU here, as expected on CI: " << message);
    return;
  }
  REQUIRE(!set->backends.empty());
  for (const std::unique_ptr<Backend>& backend : set->backends) {
    CHECK(backend->kind() == BackendKind::kGpu);
    CHECK(backend->Available());
    CHECK_THAT(backend->description(), Catch::StartsWith("gpu"));
    REQUIRE(backend->memory_query() != nullptr);
    absl::StatusOr<DeviceMemoryInfo> info = backend->memory_query()->Query();
    REQUIRE(info.ok());
    CHECK(info->total_bytes > 0);
    CHECK(info->free_bytes <= info->total_bytes);
    const DeviceMemoryModel model = backend->MemoryModel(16, 768, 10);
    CHECK(model.fixed_bytes > 0);
  }
}

TEST_CASE("The factory rejects bad options before looking for devices") {
  GpuBackendOptions options;
  options.lanes_per_device = 0;
  CHECK(CreateGpuBackends(options).status().code() == absl::StatusCode::kInvalidArgument);
  options = GpuBackendOptions();
  options.devices = {-1};
  CHECK(CreateGpuBackends(options).status().code() == absl::StatusCode::kInvalidArgument);
  options = GpuBackendOptions();
  options.plan.max_fused_queries = 9;
  CHECK(CreateGpuBackends(options).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(GpuBackendOptions().Validate().ok());
}

}  // namespace
}  // namespace simile::kernels
