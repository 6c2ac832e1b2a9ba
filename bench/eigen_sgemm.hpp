#pragma once
// Eigen's fp32 GEMM, the baseline bench_gemm measures against. It lives in its
// own translation unit so that only Eigen's code is built for the host's ISA
// (-march=native) and with the warnings of code we don't own relaxed.
#include <cstdint>

namespace lpsim::bench {

void eigen_threads(int n);
// C (m x n) <- A (m x k) * B (k x n), all column-major with leading dimensions m, k, m.
void eigen_sgemm(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, const float* b, float* c);

}  // namespace lpsim::bench
