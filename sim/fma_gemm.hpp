// The "fma-fp32" fast path of gemm.cpp as a blocked GEMM (GotoBLAS-style
// packing; register tile 6x16 in AVX2, 12x32 in AVX-512: fma_gemm_avx512.cpp).
// Exact for the MAC model "exact products, fp32 accumulator, RNE, sequential":
// each output is one chain of IEEE fmas in k order; blocking over i and j does
// not reorder it, and blocking over k stores the fp32 accumulator in C between
// blocks, which is exact.
#pragma once

#include <cstdint>

namespace lpsim::sim {

// C (m x n, ldc) = op(A) . op(B), with gemm.hpp's layout: op(A)(i, l) is
// a[i*lda + l], or a[l*lda + i] when trans_a; op(B)(l, j) is b[l*ldb + j], or
// b[j*ldb + l] when trans_b.
void fma_gemm_fp32(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda, bool trans_a,
                   const float* b, std::int64_t ldb, bool trans_b, float* c, std::int64_t ldc);

namespace detail {
// The AVX-512 kernels (arith::isa() >= AVX512 only; k > 0), same arguments and bits.
void fma_gemm_fp32_avx512(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda,
                          bool trans_a, const float* b, std::int64_t ldb, bool trans_b, float* c, std::int64_t ldc);
}  // namespace detail

}  // namespace lpsim::sim
