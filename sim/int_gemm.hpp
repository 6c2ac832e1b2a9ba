// The "integer" fast path of gemm.cpp for 16-bit-or-narrower integer
// operands: C (int32 lanes) = A . B with AVX2 vpmaddwd (two products per
// 32-bit lane, added exactly). The caller guarantees that no partial sum can
// leave int32 (then any order gives the exact sum) or that the accumulator
// wraps modulo 2^W with W <= 32 (then int32 wrap-around is exact modulo 2^W).
#pragma once

#include <cstdint>

namespace lpsim::sim {

// c[i*n + j] = sum_l a[i*k + l] * b[l*n + j], wrapping modulo 2^32.
// a and b hold integers in [-32768, 32767].
void int16_gemm(std::int64_t m, std::int64_t n, std::int64_t k, const std::int16_t* a, const std::int16_t* b,
                std::int32_t* c);

}  // namespace lpsim::sim
