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

#include <cstddef>
#include <cstdint>

#include "sim/mac_config.hpp"
#include "sim/stats.hpp"

namespace lpsim::sim {

// The accumulation conditions: order seq or chunk<N>, no product rounding,
// narrow float accumulator (and outer) with deterministic rounding.
bool float_lanes_accumulation(const MacConfig& cfg);

// True when the configuration fits all the conditions above, exact products
// included, whatever the operand values (both operand formats given).
bool float_lanes_apply(const MacConfig& cfg);

// Whether these operand values (finite ones; the others are redone lane by
// lane) multiply exactly in float: the significant bits of the widest element
// of each side add up to at most 24 and every product lies on float's grid
// and below its range. Lets operands without a format — e.g. values a
// training quantizer produced, scale x int8 — take the path.
bool float_products_exact(const float* a, std::size_t na, const float* b, std::size_t nb);

// Columns per packed panel of B.
inline constexpr std::int64_t kLaneCols = 16;

// out[r*kLaneCols + j] (r < rows <= 4, j < kLaneCols) = the accumulation of
// a[r*lda + l] * panel[l*kLaneCols + j] over l < k, in float, before the
// output rounding. Panel columns past the matrix hold zeros. With counts, adds
// the events of the additions of the outputs j < cols, as the golden model
// counts them (additions, swamped, overflows, saturations).
void float_lanes_block(const MacConfig& cfg, const float* a, std::int64_t lda, int rows, const float* panel,
                       std::int64_t k, float* out, int cols = kLaneCols, MacCounts* counts = nullptr);

// AVX512-FP16 (float_lanes_avx512.cpp, where the exactness argument is):
// seq accumulation into IEEE fp16 with RNE, no product rounding, no
// promotion, at the AVX-512 level on a host with avx512fp16.
bool fp16_lanes_apply(const MacConfig& cfg);

// c[i*ldc + j] = that accumulation of row i of a (m x k) and column j of b
// (k x n), before the output rounding, NaN as the canonical quiet NaN; false
// (c untouched) when fp16_lanes_apply is false, some operand is not an fp16
// value, or MXCSR flushes subnormals.
bool fp16_lanes_gemm(const MacConfig& cfg, std::int64_t m, std::int64_t n, std::int64_t k, const float* a,
                     const float* b, float* c, std::int64_t ldc);

}  // namespace lpsim::sim
