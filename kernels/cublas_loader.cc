// CUDA builds only: kernels/cublas_loader_internal.h.
#include <cublas_api.h>
#include <dlfcn.h>

#include <string>

#include "kernels/cublas_loader_internal.h"

namespace simile::kernels::internal {
namespace {

struct Loaded {
  CublasApi api;
  std::string error;  // Empty on success.
};

template <typename Fn>
bool Resolve(void* handle, const char* symbol, Fn* fn, std::string* error) {
  void* address = dlsym(handle, symbol);
  if (address == nullptr) {
    *error = std::string("dlsym(") + symbol + ") failed in the loaded cuBLAS";
    return false;
  }
  *fn = reinterpret_cast<Fn>(address);
  return true;
}

Loaded Load() {
  Loaded loaded;
  const std::string soname = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
  // Never closed: cuBLAS stays loaded for the life of the process.
  void* handle = dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    loaded.error = "dlopen(" + soname + "): " + (why != nullptr ? why : "unknown error");
    return loaded;
  }
  CublasApi& api = loaded.api;
  api.library = soname;
  std::string& e = loaded.error;
  if (!Resolve(handle, "cublasCreate_v2", &api.create, &e) ||
      !Resolve(handle, "cublasDestroy_v2", &api.destroy, &e) ||
      !Resolve(handle, "cublasSetStream_v2", &api.set_stream, &e) ||
      !Resolve(handle, "cublasSetWorkspace_v2", &api.set_workspace, &e) ||
      !Resolve(handle, "cublasSetMathMode", &api.set_math_mode, &e) ||
      !Resolve(handle, "cublasSgemm_v2", &api.sgemm, &e) ||
      !Resolve(handle, "cublasGetStatusName", &api.status_name, &e) ||
      !Resolve(handle, "cublasGetVersion_v2", &api.get_version, &e)) {
    e = soname + ": " + e;
  }
  return loaded;
}

}  // namespace

const CublasApi* LoadCublas(std::string* error) {
  static const Loaded* const loaded = new Loaded(Load());  // Thread-safe, once; never destroyed.
  if (!loaded->error.empty()) {
    *error = loaded->error;
    return nullptr;
  }
  return &loaded->api;
}

}  // namespace simile::kernels::internal
