// Internal to kernels/ (CUDA builds only): cuBLAS, loaded at run time with dlopen.
//
// Why dlopen: libcublas.so.13 and libcublasLt.so.13 weigh ~600 MB. Linked normally they would be
// needed by every simile binary built with CUDA, CPU-only deployments included, where the static
// CUDA runtime keeps libcudart out for the same reason. Loaded on first use, cuBLAS is needed only
// where a GPU backend is created; when it is missing the GPU backend reports itself unavailable
// with the loader's error, and the service runs on the CPU.
//
// The library loaded is the soname of the major version the headers describe
// ("libcublas.so.<CUBLAS_VER_MAJOR>"), found through the dynamic loader's usual search
// (LD_LIBRARY_PATH, the ld.so cache).
//
// Thread safety: LoadCublas may be called from any thread; it loads once per process.
#ifndef SIMILE_KERNELS_CUBLAS_LOADER_INTERNAL_H_
#define SIMILE_KERNELS_CUBLAS_LOADER_INTERNAL_H_

#include <cublas_api.h>

#include <string>

namespace simile::kernels::internal {

// The cuBLAS entry points simile uses (the _v2 API).
struct CublasApi {
  decltype(&cublasCreate_v2) create = nullptr;
  decltype(&cublasDestroy_v2) destroy = nullptr;
  decltype(&cublasSetStream_v2) set_stream = nullptr;
  decltype(&cublasSetWorkspace_v2) set_workspace = nullptr;
  decltype(&cublasSetMathMode) set_math_mode = nullptr;
  decltype(&cublasSgemm_v2) sgemm = nullptr;
  decltype(&cublasGetStatusName) status_name = nullptr;
  decltype(&cublasGetVersion_v2) get_version = nullptr;
  std::string library;  // The soname that was loaded.
};

// The loaded API, or null with *error set (e.g. "dlopen(libcublas.so.13): libcublas.so.13: cannot
// open shared object file: No such file or directory"). The result of the first call is kept.
const CublasApi* LoadCublas(std::string* error);

}  // namespace simile::kernels::internal

#endif  // SIMILE_KERNELS_CUBLAS_LOADER_INTERNAL_H_
