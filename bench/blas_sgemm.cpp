#include "bench/blas_sgemm.hpp"

#include <dlfcn.h>

namespace lpsim::bench {

namespace {
constexpr int kColMajor = 102, kNoTrans = 111;  // CBLAS_ORDER / CBLAS_TRANSPOSE values
}

void Blas::operator()(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, const float* b, float* c) const {
  sgemm(kColMajor, kNoTrans, kNoTrans, int(m), int(n), int(k), 1.f, a, int(m), b, int(k), 0.f, c, int(m));
}

Blas load_blas(int threads) {
  for (const char* lib : {"libopenblas.so.0", "libblas.so.3"}) {
    void* h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!h) continue;
    Blas b;
    b.sgemm = reinterpret_cast<decltype(b.sgemm)>(dlsym(h, "cblas_sgemm"));
    if (!b.sgemm) {
      dlclose(h);
      continue;
    }
    b.name = lib;
    if (auto set = reinterpret_cast<void (*)(int)>(dlsym(h, "openblas_set_num_threads"))) set(threads);
    return b;  // the handle stays open for the process's life
  }
  return {};
}

}  // namespace lpsim::bench
