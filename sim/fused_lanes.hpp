// The "fused-lanes" fast path of gemm.cpp: fused<N> multi-term additions
// (the tensor-core model of dot.cpp's fused_step), four outputs per AVX2
// register of doubles.
//
// Why it is exact (the same steps as fused_step):
//  - products of float operands have at most 48 significant bits: exact in double;
//  - each term is scaled by 2^(align - emax) (exact) and truncated toward zero
//    by the hardware; every truncated term is below 2^(align + 2), so the sum
//    of N terms and the accumulator is an integer below 2^53 (checked when the
//    path is chosen) and double additions of it are exact, as fused_step's
//    int64 sum is;
//  - that exact value is rounded into the accumulator on its bits while it is
//    a normal number of the format and the result is finite in it; every other
//    lane (infinities, NaN, subnormal or overflowing results, all-zero steps
//    into a format without -0) is redone by fused_step itself.
#pragma once

#include <cstdint>
#include <functional>

#include "sim/mac_config.hpp"

namespace lpsim::sim {

bool fused_lanes_apply(const MacConfig& cfg);

// Columns per packed panel of B.
inline constexpr std::int64_t kFusedCols = 8;

// out[j] (j < kFusedCols) = one output row's fused accumulation (before the
// output rounding) of a[l] * panel[l*kFusedCols + j] over l < k. ea and eb
// hold the nominal exponents of a and of the panel (fused_nominal_exponents).
// addend: kFusedCols values of C (D = A.B + C, entering as in dot.hpp), or nullptr.
void fused_lanes_row(const MacConfig& cfg, const double* a, const double* ea, const double* panel,
                     const double* eb_panel, std::int64_t k, const double* addend, double* out);

// The whole product (row-major a: m x k, b: k x n, c: m x n or nullptr) in
// int32 lanes on AVX-512 (fused_lanes_avx512.cpp says why it is exact): each
// output row segment, before the output rounding, goes to sink(i, j0, w, row)
// (from several threads). False, nothing computed, below the avx512 level or
// where its conditions fail (operands' significands over 24 bits together,
// |a||b| outside [2^-126, 2^126], a value not finite, N terms beyond int32, an
// accumulator wider than fp32, an outer accumulator other than fp32 RNE).
using FusedRowSink = std::function<void(std::int64_t i, std::int64_t j0, std::int64_t w, double* row)>;
bool fused_lanes_avx512(const MacConfig& cfg, const float* a, const float* b, const float* c, std::int64_t m,
                        std::int64_t n, std::int64_t k, const FusedRowSink& sink);

// The alignment exponent of each operand value: max(ilogb(x), emin of its
// format) as in fused_step (0 for zeros, which never align).
void fused_nominal_exponents(const MacConfig& cfg, bool left, const double* x, double* e, std::int64_t n);

}  // namespace lpsim::sim
