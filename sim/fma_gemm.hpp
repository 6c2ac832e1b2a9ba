// The "fma-fp32" fast path of gemm.cpp as a blocked GEMM (GotoBLAS-style
// packing, 6x16 register tile). Exact for the MAC model "exact products,
// fp32 accumulator, RNE, sequential": each output is one chain of IEEE fmas
// in k order; blocking over i and j does not reorder it, and blocking over k
// stores the fp32 accumulator in C between blocks, which is exact.
#pragma once

#include <cstdint>

namespace lpsim::sim {

// C (m x n, ldc) = A (m x k, row-major, lda) . B (k x n, row-major, ldb).
void fma_gemm_fp32(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda, const float* b,
                   std::int64_t ldb, float* c, std::int64_t ldc);

}  // namespace lpsim::sim
