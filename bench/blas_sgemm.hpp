#pragma once
// The system BLAS's fp32 GEMM, a second baseline for bench_gemm: the library
// NumPy and PyTorch use (OpenBLAS from libopenblas0-pthread where installed,
// else Debian's reference libblas.so.3). Loaded at run time, so the build never
// depends on which BLAS the host has.
#include <cstdint>
#include <string>

namespace lpsim::bench {

struct Blas {
  std::string name;  // the library loaded, "" when none was found
  void (*sgemm)(int order, int ta, int tb, int m, int n, int k, float alpha, const float* a, int lda,
                const float* b, int ldb, float beta, float* c, int ldc) = nullptr;
  explicit operator bool() const { return sgemm != nullptr; }
  // C (m x n) <- A (m x k) * B (k x n), column-major with leading dimensions m, k, m (as eigen_sgemm).
  void operator()(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, const float* b, float* c) const;
};

// The first of OpenBLAS and libblas.so.3 that loads and has cblas_sgemm, with
// `threads` threads where the library can be told.
Blas load_blas(int threads);

}  // namespace lpsim::bench
