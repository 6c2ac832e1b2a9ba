// The "integer" fast path of gemm.cpp for 16-bit-or-narrower integer
// operands: C (int32 lanes) = A . B with AMX-INT8 tiles (int_gemm_amx.cpp),
// AVX512-VNNI vpdpbusd / vpdpwssd (int_gemm_avx512.cpp) or AVX2 vpmaddwd (two products per 32-bit lane,
// added exactly). The caller guarantees that no partial sum can
// leave int32 (then any order gives the exact sum) or that the accumulator
// wraps modulo 2^W with W <= 32 (then int32 wrap-around is exact modulo 2^W).
//
// int32_rows is the same path for accumulators whose partial sums may leave
// their range (saturating, or wrapping below 32 bits with a sum beyond
// int32): each addition is exact in an int32 lane and then wrapped or
// clamped, in k order, eight outputs per vector.
#pragma once

#include <cstdint>
#include <optional>

#include "sim/mac_config.hpp"
#include "sim/stats.hpp"

namespace lpsim::sim {

// c[i*n + j] = sum_l A[i*k + l] * B[l*n + j], wrapping modulo 2^32, for the
// codes A = a * 2^frac_a and B = b * 2^frac_b of operand values on those
// grids: integers in [-32768, 32767].
void int16_gemm(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, int frac_a, const float* b, int frac_b,
                std::int32_t* c);

// The same product on AMX tiles (int_gemm_amx.cpp; int16_gemm tries it
// first): tdpbssd / tdpbsud / tdpbusd / tdpbuud when the codes of A and of B
// each fit int8 or uint8. False, nothing written, below the amx level, for
// wider codes (int_gemm_vnni then) or an empty product.
bool int_gemm_amx(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, int frac_a, const float* b,
                  int frac_b, std::int32_t* c);

// The same product with AVX512-VNNI (int_gemm_avx512.cpp; int16_gemm tries it
// first): vpdpbusd when every code of A and of B spans at most 256
// consecutive values (int8, uint8, ...), else vpdpwssd. False, nothing
// written, below the AVX-512 level or without VNNI.
bool int_gemm_vnni(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, int frac_a, const float* b,
                   int frac_b, std::int32_t* c);

// A fixed-point accumulator on the integer grid of the products: codes in
// [lo, hi], W bits, wrapping (modulo 2^W) or saturating.
struct IntAccumulator {
  std::int64_t lo = 0, hi = 0;
  int width = 0;
  bool wrap = false, is_signed = true;
};

// The accumulator of a fixed-point configuration on the products' grid
// (accumulator fraction bits = the operands' sum) when int32_rows applies:
// every |product| and the accumulator's range within 2^30, so that
// acc + product is exact in int32, and AVX2 present; else empty.
std::optional<IntAccumulator> int32_lanes(const MacConfig& cfg, std::int64_t k);

// w <= 256 outputs; acc_j = 0; for l in k order: acc_j = range(acc_j + a[l] * b[l*n + j0 + j]),
// j < w; out[j] = acc_j. With `counts`, also the events of every addition as
// gemm.cpp's scalar integer path counts them (additions, overflows of a
// wrapping accumulator, saturations, swamped addends).
void int32_rows(const IntAccumulator& acc, const std::int32_t* a, const std::int32_t* b, std::int64_t n, std::int64_t k,
                std::int64_t j0, std::int64_t w, std::int32_t* out, MacCounts* counts);

}  // namespace lpsim::sim
