// The "float-lanes" fast path of gemm.cpp: sequential or chunked accumulation
// into a narrow floating-point accumulator (fp16, e8m13, ...), rounded after
// every addition, eight outputs per AVX2 register.
//
// Why it is exact (the same single rounding as the golden model):
//  - products: operands with p_a + p_b <= 24 significant bits whose product
//    grid and range lie inside float's, so a float multiply is exact;
//  - additions: TwoSum in float gives the exact sum as s + e; stepping s to
//    its odd neighbour when e != 0 is the exact sum rounded to odd at 24 bits,
//    and rounding that to a format of p <= 22 bits equals rounding the exact
//    sum (Boldo & Melquiond 2005; see exact_round.hpp);
//  - that last rounding is integer arithmetic on the float's bits, valid while
//    the value is a normal number of the accumulator and the result is finite
//    in it. Any lane outside that (subnormal range, overflow, inf, NaN) is
//    redone from its two addends by the scalar golden rounding.
#pragma once

#include <cstdint>

#include "sim/mac_config.hpp"

namespace lpsim::sim {

// True when the configuration's arithmetic fits the conditions above
// (order seq or chunk<N>, no product rounding, deterministic rounding).
bool float_lanes_apply(const MacConfig& cfg);

// Columns per packed panel of B.
inline constexpr std::int64_t kLaneCols = 16;

// out[r*kLaneCols + j] (r < rows <= 4, j < kLaneCols) = the accumulation of
// a[r*lda + l] * panel[l*kLaneCols + j] over l < k, in float, before the
// output rounding. Panel columns past the matrix hold zeros.
void float_lanes_block(const MacConfig& cfg, const float* a, std::int64_t lda, int rows, const float* panel,
                       std::int64_t k, float* out);

}  // namespace lpsim::sim
