// The array quantizer's AVX-512 lanes: the integer steps of the scalar kernel
// (quantize_kernel.hpp) on 16 float or 8 double lanes, special cases in mask
// registers, and Philox on 16 counters at once for stochastic rounding.
// Bit-identical to kernel() and so to the golden model. Unlike the block path
// of quantize.cpp it writes straight to `out`: each vector of 16 elements is
// loaded, rounded, its rare golden lanes (NaN/inf, wrap overflow, SR ties,
// exotic formats) redone from the loaded input, then stored, so in == out is
// safe and no staging buffer or flag array costs memory traffic.

// GCC 12 flags the deliberately undefined vectors (__Y = __Y) inside the
// AVX-512 intrinsics' own headers as maybe-uninitialized: a false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "arith/golden.hpp"
#include "arith/quantize_kernel.hpp"

#define LPSIM_AVX512 gnu::target("avx512f,avx512bw,avx512dq,avx512vl")

namespace lpsim::arith::detail {

namespace {

constexpr std::uint64_t kNoBad = std::numeric_limits<std::uint64_t>::max();
constexpr std::size_t kChunk = 1 << 14;         // elements per OpenMP task; any split gives the same bits

// What a range of the array needs beside the kernel parameters: the golden
// model's arguments for the lanes it settles.
struct Ctx {
  const Format* f;
  Rounding r;
};

// Lanes in `mask` through the golden model, from the loaded inputs x; a NaN
// the format cannot hold keeps the input and records its position.
template <class T>
[[gnu::noinline, gnu::cold]] void golden_lanes(const Ctx& c, const RandomKey& key, const T* x, T* v, unsigned mask,
                                               std::uint64_t idx, std::uint64_t pos, std::uint64_t& first_bad) {
  for (; mask; mask &= mask - 1) {
    const int j = std::countr_zero(mask);
    double g;
    if (golden_quantize(double(x[j]), *c.f, c.r, key, idx + std::uint64_t(j), g)) {
      v[j] = T(g);
    } else {
      v[j] = x[j];
      first_bad = std::min<std::uint64_t>(first_bad, pos + std::uint64_t(j));
    }
  }
}

// Philox4x32-10 (philox.hpp) on 16 counters: lane j counts element index + j
// (low word, carrying into the high word), word 2 is the stream, word 3 zero
// (random word 0). w0, w1: output words 0 and 1, i.e. random_word(seed,
// stream, index + j, 0) = w1:w0.
[[LPSIM_AVX512, gnu::always_inline]] inline void philox16(std::uint64_t index, const RandomKey& key, __m512i& w0,
                                                          __m512i& w1) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i lo = _mm512_set1_epi32(std::int32_t(std::uint32_t(index)));
  const __m512i hi = _mm512_set1_epi32(std::int32_t(std::uint32_t(index >> 32)));
  __m512i c0 = _mm512_add_epi32(lo, lane);
  __m512i c1 = _mm512_mask_add_epi32(hi, _mm512_cmplt_epu32_mask(c0, lo), hi, _mm512_set1_epi32(1));
  __m512i c2 = _mm512_set1_epi32(std::int32_t(key.stream)), c3 = _mm512_setzero_si512();
  const __m512i m0 = _mm512_set1_epi32(std::int32_t(0xD2511F53u)), m1 = _mm512_set1_epi32(std::int32_t(0xCD9E8D57u));
  std::uint32_t k0 = std::uint32_t(key.seed), k1 = std::uint32_t(key.seed >> 32);
  for (int r = 0; r < 10; ++r) {
    // 32 x 32 -> 64-bit products of the even and the odd lanes (odd words
    // moved down by a shuffle, not a shift: measured faster, the shift port
    // is the multiplier's); a masked in-pair swap gathers each lane's high
    // (or low) word.
    const __m512i pe0 = _mm512_mul_epu32(c0, m0), po0 = _mm512_mul_epu32(_mm512_shuffle_epi32(c0, _MM_PERM_DDBB), m0);
    const __m512i pe1 = _mm512_mul_epu32(c2, m1), po1 = _mm512_mul_epu32(_mm512_shuffle_epi32(c2, _MM_PERM_DDBB), m1);
    const __m512i hi0 = _mm512_mask_shuffle_epi32(po0, 0x5555, pe0, _MM_PERM_CDAB);
    const __m512i lo0 = _mm512_mask_shuffle_epi32(pe0, 0xAAAA, po0, _MM_PERM_CDAB);
    const __m512i hi1 = _mm512_mask_shuffle_epi32(po1, 0x5555, pe1, _MM_PERM_CDAB);
    const __m512i lo1 = _mm512_mask_shuffle_epi32(pe1, 0xAAAA, po1, _MM_PERM_CDAB);
    c0 = _mm512_ternarylogic_epi32(hi1, c1, _mm512_set1_epi32(std::int32_t(k0)), 0x96);  // three-way xor
    c2 = _mm512_ternarylogic_epi32(hi0, c3, _mm512_set1_epi32(std::int32_t(k1)), 0x96);
    c1 = lo1;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  w0 = c0;
  w1 = c1;
}

// The deterministic modes' decision (kernel()): which lanes step the
// magnitude nq up. rem: dropped bits, half: half a unit of nq, odd: nq's code
// is odd, neg: negative inputs.
template <Mode M>
[[LPSIM_AVX512, gnu::always_inline]] inline __mmask16 decide(__mmask16 gt, __mmask16 eq, __mmask16 inexact,
                                                             __mmask16 odd, __mmask16 neg) {
  if constexpr (M == Mode::RNE) return gt | (eq & inexact & odd);
  else if constexpr (M == Mode::RNA) return (gt | eq) & inexact;
  else if constexpr (M == Mode::RU) return inexact & ~neg;
  else if constexpr (M == Mode::RD) return inexact & neg;
  else if constexpr (M == Mode::RO) return inexact & ~odd;
  else return 0;  // RZ
}

// ---- float input: 16 lanes of 32 bits ----------------------------------

struct F32 {
  __m512i emin_b, qe_off, qe_floor, emin_m1, qe_fixed, limit, max_pos, max_neg;
  __m512 maxf, min_normal, ovf_pos, ovf_neg, scale, clamp_pos, clamp_neg;
  __m512i mhi, mlo;  // SR: the top sr_bits of the 64-bit comparison (all ones for exact sr)
  // RNE onto a float format, vectors whose lanes are all 0 or normal in it (|x| in [min_normal,
  // max_finite]): the mantissa rounding on the bits alone (step_rne_normal).
  __m512i lo, span, shift, half_m1, keep;
  // ... and vectors that also hold lanes below min_normal (step_rne_sub): sub_c = 2^23 q, q the
  // format's subnormal quantum.
  __m512i hi_bits;
  __m512 sub_c;
  bool rne_sub;
  bool sub_golden, check_floor, nosub, no_negzero, man_zero, wrap, truncated, rne_normal;
  RandomKey key;
};

[[LPSIM_AVX512]] F32 consts_f32(const Params<float>& p) {
  F32 c;
  c.emin_b = _mm512_set1_epi32(p.emin_eff + 127);
  c.qe_off = _mm512_set1_epi32(127 + p.man);
  c.qe_floor = _mm512_set1_epi32(1 - 127 - 23);
  c.emin_m1 = _mm512_set1_epi32(p.emin - 1);
  c.qe_fixed = _mm512_set1_epi32(p.qe_fixed);
  c.limit = _mm512_set1_epi32(std::int32_t(p.limit_bits));
  c.max_pos = _mm512_set1_epi32(std::int32_t(p.maxmag_pos));
  c.max_neg = _mm512_set1_epi32(std::int32_t(p.maxmag_neg));
  c.maxf = _mm512_set1_ps(p.max_finite);
  c.min_normal = _mm512_set1_ps(p.min_normal);
  c.ovf_pos = _mm512_set1_ps(p.ovf_pos);
  c.ovf_neg = _mm512_set1_ps(p.ovf_neg);
  c.scale = _mm512_set1_ps(p.scale);
  c.clamp_pos = _mm512_set1_ps(p.clamp_pos);
  c.clamp_neg = _mm512_set1_ps(p.clamp_neg);
  const int k = p.sr_bits;
  const std::uint32_t hi = k == 0 || k >= 32 ? ~0u : ~0u << (32 - k);
  const std::uint32_t lo = k == 0 || k >= 64 ? ~0u : k <= 32 ? 0u : ~0u << (64 - k);
  c.mhi = _mm512_set1_epi32(std::int32_t(hi));
  c.mlo = _mm512_set1_epi32(std::int32_t(lo));
  c.sub_golden = p.sub_input_golden;
  c.check_floor = p.emin_eff - p.man < 1 - 127 - 23;  // qe >= emin_eff - man always
  c.nosub = p.nosub;
  c.no_negzero = p.no_negzero;
  c.man_zero = p.man_zero;
  c.wrap = p.wrap;
  c.truncated = k != 0;
  c.key = p.key;
  // Formats whose normal range and maximum are floats' (no wider exponent, no :nosub, no e<E>m0) and
  // with fewer mantissa bits than float.
  c.rne_normal = !p.fixed && !p.nosub && !p.man_zero && !p.sub_input_golden && p.man >= 0 && p.man < 23 &&
                 p.min_normal > 0 && std::isfinite(p.max_finite);
  const std::uint32_t lo_bits = std::bit_cast<std::uint32_t>(p.min_normal), hi_bits = std::bit_cast<std::uint32_t>(p.max_finite);
  const int drop = std::clamp(23 - int(p.man), 1, 23);  // mantissa bits rounded off (unused unless rne_normal)
  c.lo = _mm512_set1_epi32(std::int32_t(lo_bits));
  c.span = _mm512_set1_epi32(std::int32_t(hi_bits - lo_bits));
  c.shift = _mm512_set1_epi32(drop);
  c.half_m1 = _mm512_set1_epi32(std::int32_t((1u << (drop - 1)) - 1));
  c.keep = _mm512_set1_epi32(std::int32_t(~((1u << drop) - 1)));
  c.hi_bits = _mm512_set1_epi32(std::int32_t(hi_bits));
  // 2^23 q a normal float (q = min_normal 2^-man >= 2^-149): true of every format with rne_normal.
  const float sub_c = std::ldexp(p.min_normal, 23 - int(p.man));
  c.rne_sub = c.rne_normal && std::isnormal(sub_c);
  c.sub_c = _mm512_set1_ps(sub_c);
  return c;
}

// RNE of a vector whose every lane is 0 or has |x| in [min_normal, max_finite] of a float format
// with d = 23 - man < 23 dropped bits: on the bits, a + (2^(d-1) - 1) + (bit d of a), then the low
// d bits cleared, is round to nearest even of the magnitude (a carry out of the mantissa moves to
// the next binade, as the value does). The result stays in [min_normal, max_finite] (both are
// values of the format and rounding is monotone), so nothing overflows or becomes subnormal, and
// 0 stays 0; the sign is put back, and formats without -0 add +0.
[[LPSIM_AVX512, gnu::always_inline]] inline __m512 step_rne_normal(const F32& c, __m512i u) {
  const __m512i a = _mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff));
  const __m512i odd = _mm512_and_si512(_mm512_srlv_epi32(a, c.shift), _mm512_set1_epi32(1));
  const __m512i r = _mm512_and_si512(_mm512_add_epi32(_mm512_add_epi32(a, c.half_m1), odd), c.keep);
  __m512 val = _mm512_castsi512_ps(_mm512_or_si512(r, _mm512_and_si512(u, _mm512_set1_epi32(INT32_MIN))));
  if (c.no_negzero) val = _mm512_add_ps(val, _mm512_setzero_ps());
  return val;
}

// RNE of a vector whose lanes all have |x| <= max_finite, some below min_normal (subnormal in the
// format, or 0 after rounding): those lanes are (|x| + C) - C with C = 2^23 q. |x| + C lies in
// [2^23 q, 2^24 q), where a float's ulp is q, so the sum is |x| rounded to a multiple of q, ties to
// the even multiple (C / q = 2^23 is even); subtracting C is exact. The result k q <= min_normal is
// the format's subnormal (or 0, or min_normal itself); the other lanes are step_rne_normal's.
[[LPSIM_AVX512, gnu::always_inline]] inline __m512 step_rne_sub(const F32& c, __m512i u) {
  const __m512i a = _mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff));
  const __mmask16 below = _mm512_cmplt_epu32_mask(a, c.lo);
  const __m512 sub = _mm512_sub_ps(_mm512_add_ps(_mm512_castsi512_ps(a), c.sub_c), c.sub_c);
  __m512 val = _mm512_castsi512_ps(
      _mm512_or_si512(_mm512_castps_si512(sub), _mm512_and_si512(u, _mm512_set1_epi32(INT32_MIN))));
  if (c.no_negzero) val = _mm512_add_ps(val, _mm512_setzero_ps());
  return _mm512_mask_mov_ps(step_rne_normal(c, u), below, val);
}

// Whether every lane of u is 0 or normal in the format (the case of step_rne_normal).
[[LPSIM_AVX512, gnu::always_inline]] inline bool all_rne_normal(const F32& c, __m512i u) {
  const __m512i a = _mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff));
  const __mmask16 in = _mm512_cmple_epu32_mask(_mm512_sub_epi32(a, c.lo), c.span) |
                       _mm512_cmpeq_epi32_mask(a, _mm512_setzero_si512());
  return in == 0xffff;
}

// One vector of kernel<float, M, FIXED>: the rounded values, and in `golden`
// the lanes kernel() would flag. idx: element index of lane 0 (SR).
template <Mode M, bool FIXED>
[[LPSIM_AVX512, gnu::always_inline]] inline __m512 step_f32(const F32& c, __m512i u, std::uint64_t idx,
                                                            __mmask16& golden) {
  const __m512i one = _mm512_set1_epi32(1), zero = _mm512_setzero_si512();
  const __mmask16 neg = _mm512_movepi32_mask(u);
  const __m512i a = _mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff));
  const __m512i E = _mm512_srli_epi32(a, 23);
  const __mmask16 normal = _mm512_test_epi32_mask(u, _mm512_set1_epi32(0x7f800000));
  const __m512i frac = _mm512_and_si512(u, _mm512_set1_epi32(0x7fffff));
  const __m512i sig = _mm512_mask_or_epi32(frac, normal, frac, _mm512_set1_epi32(0x800000));
  // Exponent of sig's last bit, + 150: E, or 1 for a subnormal input.
  const __m512i e1 = _mm512_max_epu32(E, one);
  golden = _mm512_cmpeq_epi32_mask(E, _mm512_set1_epi32(255));
  __m512i qe;
  if constexpr (FIXED) {
    qe = c.qe_fixed;
  } else {
    qe = _mm512_sub_epi32(_mm512_max_epi32(E, c.emin_b), c.qe_off);
    if (c.sub_golden) golden |= ~normal;
    if (c.check_floor) golden |= _mm512_cmplt_epi32_mask(qe, c.qe_floor);
  }
  const __m512i s = _mm512_sub_epi32(_mm512_add_epi32(qe, _mm512_set1_epi32(150)), e1);
  // Clamped to 0..25 as in kernel(); s < 0 only for fixed point, where such
  // inputs are beyond the range (|x| >= 2^(24-F) >= 2^(W-F)) and saturate.
  const __m512i sc = _mm512_min_epu32(_mm512_max_epi32(s, zero), _mm512_set1_epi32(25));
  const __m512i nq = _mm512_srlv_epi32(sig, sc);
  const __m512i rem = _mm512_andnot_si512(_mm512_sllv_epi32(_mm512_set1_epi32(-1), sc), sig);
  const __mmask16 inexact = _mm512_test_epi32_mask(rem, rem);
  __mmask16 up;
  if constexpr (M == Mode::SR) {
    __m512i rlo, rhi;
    philox16(idx, c.key, rlo, rhi);
    // The fraction rem / 2^s as 64 bits fhi:flo: rem << (64 - s), or rem >> (s - 64);
    // variable shifts by counts outside 0..31 (negative ones too) give 0.
    const __m512i t32 = _mm512_sub_epi32(s, _mm512_set1_epi32(32)), t64 = _mm512_sub_epi32(s, _mm512_set1_epi32(64));
    __m512i fhi = _mm512_or_si512(_mm512_sllv_epi32(rem, _mm512_sub_epi32(zero, t32)), _mm512_srlv_epi32(rem, t32));
    __m512i flo = _mm512_or_si512(_mm512_sllv_epi32(rem, _mm512_sub_epi32(zero, t64)), _mm512_srlv_epi32(rem, t64));
    if (c.truncated) {
      // sr<k>: the top k bits of both (r >> (64-k) < f >> (64-k) as masked 64-bit numbers).
      const __m512i rh = _mm512_and_si512(rhi, c.mhi), rl = _mm512_and_si512(rlo, c.mlo);
      fhi = _mm512_and_si512(fhi, c.mhi);
      flo = _mm512_and_si512(flo, c.mlo);
      up = _mm512_cmplt_epu32_mask(rh, fhi) | (_mm512_cmpeq_epi32_mask(rh, fhi) & _mm512_cmplt_epu32_mask(rl, flo));
    } else {
      const __mmask16 eqh = _mm512_cmpeq_epi32_mask(rhi, fhi);
      up = _mm512_cmplt_epu32_mask(rhi, fhi) | (eqh & _mm512_cmplt_epu32_mask(rlo, flo));
      // A tie on the first 64 bits with bits of the fraction beyond them: golden reads on.
      golden |= eqh & _mm512_cmpeq_epi32_mask(rlo, flo) & _mm512_cmpgt_epi32_mask(s, _mm512_set1_epi32(64)) & inexact;
    }
  } else {
    const __m512i half = _mm512_srli_epi32(_mm512_sllv_epi32(one, sc), 1);
    const __mmask16 gt = _mm512_cmpgt_epu32_mask(rem, half), eq = _mm512_cmpeq_epi32_mask(rem, half);
    __mmask16 odd = _mm512_test_epi32_mask(nq, one);
    if constexpr (!FIXED)
      if (c.man_zero)  // e<E>m0: the code's parity is the biased exponent's, of 2^qe
        odd = _mm512_test_epi32_mask(nq, nq) & _mm512_test_epi32_mask(_mm512_sub_epi32(qe, c.emin_m1), one);
    up = decide<M>(gt, eq, inexact, odd, neg);
  }
  const __m512i nn = _mm512_mask_add_epi32(nq, up, nq, one);
  const __m512i sign = _mm512_and_si512(u, _mm512_set1_epi32(INT32_MIN));
  __m512 val;
  if constexpr (FIXED) {
    const __mmask16 over = _mm512_cmpge_epu32_mask(a, c.limit) |
                           _mm512_cmpgt_epu32_mask(nn, _mm512_mask_blend_epi32(neg, c.max_pos, c.max_neg));
    const __m512 mag = _mm512_mul_ps(_mm512_cvtepi32_ps(nn), c.scale);  // exact: nn <= 2^24 where in range
    val = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(mag), sign));
    val = _mm512_mask_mov_ps(val, over & ~neg, c.clamp_pos);
    val = _mm512_mask_mov_ps(val, over & neg, c.clamp_neg);
    val = _mm512_add_ps(val, _mm512_setzero_ps());  // fixed point has no -0
    if (c.wrap) golden |= over;
  } else {
    // nn * 2^qe, exact (a value of the format, or beyond max_finite: then inf or exact).
    const __m512 mag = _mm512_scalef_ps(_mm512_cvtepi32_ps(nn), _mm512_cvtepi32_ps(qe));
    __m512 kept = mag;
    if (c.nosub) kept = _mm512_mask_mov_ps(mag, _mm512_cmp_ps_mask(mag, c.min_normal, _CMP_LT_OQ), _mm512_setzero_ps());
    val = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(kept), sign));
    const __mmask16 over = _mm512_cmp_ps_mask(mag, c.maxf, _CMP_GT_OQ);
    val = _mm512_mask_mov_ps(val, over & ~neg, c.ovf_pos);
    val = _mm512_mask_mov_ps(val, over & neg, c.ovf_neg);
    if (c.no_negzero) val = _mm512_add_ps(val, _mm512_setzero_ps());
  }
  return val;
}

// A vector with golden lanes g: those recomputed from the loaded input u.
[[LPSIM_AVX512, gnu::noinline, gnu::cold]] __m512 fix_f32(const Ctx& ctx, const RandomKey& key, __m512i u, __m512 val,
                                                          unsigned g, std::uint64_t idx, std::uint64_t pos,
                                                          std::uint64_t& bad) {
  alignas(64) float xs[16], vs[16];
  _mm512_store_si512(xs, u);
  _mm512_store_ps(vs, val);
  golden_lanes<float>(ctx, key, xs, vs, g, idx, pos, bad);
  return _mm512_load_ps(vs);
}

// Elements [i, i + count) of a range, count < 16: masked load and store.
template <Mode M, bool FIXED>
[[LPSIM_AVX512, gnu::always_inline]] inline void part_f32(const F32& c, const Ctx& ctx, const float* in, float* out,
                                                          std::size_t i, std::size_t count, std::uint64_t index0,
                                                          std::uint64_t& bad) {
  const __mmask16 lanes = __mmask16((1u << count) - 1);
  const __m512i u = _mm512_maskz_loadu_epi32(lanes, in + i);
  __mmask16 g;
  __m512 val = step_f32<M, FIXED>(c, u, index0 + i, g);
  g &= lanes;
  if (g) val = fix_f32(ctx, c.key, u, val, g, index0 + i, i, bad);
  _mm512_mask_storeu_ps(out + i, lanes, val);
}

template <Mode M, bool FIXED>
[[LPSIM_AVX512]] std::uint64_t range_f32(const Params<float>& p, const Ctx& ctx, const float* in, float* out,
                                         std::size_t n, std::uint64_t index0) {
  const F32 c = consts_f32(p);
  std::uint64_t bad = kNoBad;
  std::size_t i = 0;
  // Plain stores: non-temporal ones measured about 2x slower on the development host.
  for (; i + 16 <= n; i += 16) {
    const __m512i u = _mm512_loadu_si512(in + i);
    if constexpr (M == Mode::RNE && !FIXED) {
      // One test for both ranges: a branch between them mispredicts on data such as N(0, 1) onto
      // e4m3 (a sixth of the vectors hold a subnormal lane).
      if (c.rne_sub) {
        if (_mm512_cmple_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), c.hi_bits) == 0xffff)
            [[likely]] {
          _mm512_storeu_ps(out + i, step_rne_sub(c, u));
          continue;
        }
      } else if (c.rne_normal && all_rne_normal(c, u)) [[likely]] {
        _mm512_storeu_ps(out + i, step_rne_normal(c, u));
        continue;
      }
    }
    __mmask16 g;
    __m512 val = step_f32<M, FIXED>(c, u, index0 + i, g);
    if (g) [[unlikely]] val = fix_f32(ctx, c.key, u, val, g, index0 + i, i, bad);
    _mm512_storeu_ps(out + i, val);
  }
  if (i < n) part_f32<M, FIXED>(c, ctx, in, out, i, n - i, index0, bad);  // ragged tail
  return bad;
}

// ---- double input: 8 lanes of 64 bits ----------------------------------

struct F64 {
  __m512i emin_b, qe_off, qe_floor, emin_m1, qe_fixed, limit, max_pos, max_neg, mk;
  __m512d maxf, min_normal, ovf_pos, ovf_neg, scale, clamp_pos, clamp_neg;
  bool sub_golden, check_floor, nosub, no_negzero, man_zero, wrap, truncated;
  RandomKey key;
};

[[LPSIM_AVX512]] F64 consts_f64(const Params<double>& p) {
  F64 c;
  c.emin_b = _mm512_set1_epi64(p.emin_eff + 1023);
  c.qe_off = _mm512_set1_epi64(1023 + p.man);
  c.qe_floor = _mm512_set1_epi64(1 - 1023 - 52);
  c.emin_m1 = _mm512_set1_epi64(p.emin - 1);
  c.qe_fixed = _mm512_set1_epi64(p.qe_fixed);
  c.limit = _mm512_set1_epi64(std::int64_t(p.limit_bits));
  c.max_pos = _mm512_set1_epi64(std::int64_t(p.maxmag_pos));
  c.max_neg = _mm512_set1_epi64(std::int64_t(p.maxmag_neg));
  const int k = p.sr_bits;
  c.mk = _mm512_set1_epi64(std::int64_t(k == 0 || k >= 64 ? ~0ull : ~0ull << (64 - k)));
  c.maxf = _mm512_set1_pd(p.max_finite);
  c.min_normal = _mm512_set1_pd(p.min_normal);
  c.ovf_pos = _mm512_set1_pd(p.ovf_pos);
  c.ovf_neg = _mm512_set1_pd(p.ovf_neg);
  c.scale = _mm512_set1_pd(p.scale);
  c.clamp_pos = _mm512_set1_pd(p.clamp_pos);
  c.clamp_neg = _mm512_set1_pd(p.clamp_neg);
  c.sub_golden = p.sub_input_golden;
  c.check_floor = p.emin_eff - p.man < 1 - 1023 - 52;
  c.nosub = p.nosub;
  c.no_negzero = p.no_negzero;
  c.man_zero = p.man_zero;
  c.wrap = p.wrap;
  c.truncated = k != 0;
  c.key = p.key;
  return c;
}

// One vector of kernel<double, M, FIXED>; r64: the random words (SR).
template <Mode M, bool FIXED>
[[LPSIM_AVX512, gnu::always_inline]] inline __m512d step_f64(const F64& c, __m512i u, __m512i r64, __mmask8& golden) {
  const __m512i one = _mm512_set1_epi64(1), zero = _mm512_setzero_si512();
  const __mmask8 neg = _mm512_movepi64_mask(u);
  const __m512i a = _mm512_and_si512(u, _mm512_set1_epi64(0x7fffffffffffffff));
  const __m512i E = _mm512_srli_epi64(a, 52);
  const __mmask8 normal = _mm512_test_epi64_mask(u, _mm512_set1_epi64(0x7ff0000000000000));
  const __m512i frac = _mm512_and_si512(u, _mm512_set1_epi64(0xfffffffffffff));
  const __m512i sig = _mm512_mask_or_epi64(frac, normal, frac, _mm512_set1_epi64(1ll << 52));
  const __m512i e1 = _mm512_max_epu64(E, one);
  golden = _mm512_cmpeq_epi64_mask(E, _mm512_set1_epi64(2047));
  __m512i qe;
  if constexpr (FIXED) {
    qe = c.qe_fixed;
  } else {
    qe = _mm512_sub_epi64(_mm512_max_epi64(E, c.emin_b), c.qe_off);
    if (c.sub_golden) golden |= __mmask8(~normal);
    if (c.check_floor) golden |= _mm512_cmplt_epi64_mask(qe, c.qe_floor);
  }
  const __m512i s = _mm512_sub_epi64(_mm512_add_epi64(qe, _mm512_set1_epi64(1075)), e1);
  // s < 0 only for fixed point beyond its range (|x| >= 2^(53-F) > 2^(W-F), W <= 51): saturated.
  const __m512i sc = _mm512_min_epu64(_mm512_max_epi64(s, zero), _mm512_set1_epi64(54));
  const __m512i nq = _mm512_srlv_epi64(sig, sc);
  const __m512i rem = _mm512_andnot_si512(_mm512_sllv_epi64(_mm512_set1_epi64(-1), sc), sig);
  const __mmask8 inexact = _mm512_test_epi64_mask(rem, rem);
  __mmask8 up;
  if constexpr (M == Mode::SR) {
    // rem << (64 - s) or rem >> (s - 64); counts outside 0..63 give 0.
    __m512i f = _mm512_or_si512(_mm512_sllv_epi64(rem, _mm512_sub_epi64(_mm512_set1_epi64(64), s)),
                                _mm512_srlv_epi64(rem, _mm512_sub_epi64(s, _mm512_set1_epi64(64))));
    if (c.truncated) {
      up = _mm512_cmplt_epu64_mask(_mm512_and_si512(r64, c.mk), _mm512_and_si512(f, c.mk));
    } else {
      up = _mm512_cmplt_epu64_mask(r64, f);
      golden |= _mm512_cmpeq_epi64_mask(r64, f) & _mm512_cmpgt_epi64_mask(s, _mm512_set1_epi64(64)) & inexact;
    }
  } else {
    const __m512i half = _mm512_srli_epi64(_mm512_sllv_epi64(one, sc), 1);
    const __mmask8 gt = _mm512_cmpgt_epu64_mask(rem, half), eq = _mm512_cmpeq_epi64_mask(rem, half);
    __mmask8 odd = _mm512_test_epi64_mask(nq, one);
    if constexpr (!FIXED)
      if (c.man_zero)
        odd = _mm512_test_epi64_mask(nq, nq) & _mm512_test_epi64_mask(_mm512_sub_epi64(qe, c.emin_m1), one);
    up = __mmask8(decide<M>(gt, eq, inexact, odd, neg));
  }
  const __m512i nn = _mm512_mask_add_epi64(nq, up, nq, one);
  const __m512i sign = _mm512_and_si512(u, _mm512_set1_epi64(INT64_MIN));
  __m512d val;
  if constexpr (FIXED) {
    const __mmask8 over = _mm512_cmpge_epu64_mask(a, c.limit) |
                          _mm512_cmpgt_epu64_mask(nn, _mm512_mask_blend_epi64(neg, c.max_pos, c.max_neg));
    const __m512d mag = _mm512_mul_pd(_mm512_cvtepi64_pd(nn), c.scale);  // exact: nn < 2^52 where in range
    val = _mm512_castsi512_pd(_mm512_or_si512(_mm512_castpd_si512(mag), sign));
    val = _mm512_mask_mov_pd(val, over & __mmask8(~neg), c.clamp_pos);
    val = _mm512_mask_mov_pd(val, over & neg, c.clamp_neg);
    val = _mm512_add_pd(val, _mm512_setzero_pd());
    if (c.wrap) golden |= over;
  } else {
    const __m512d mag = _mm512_scalef_pd(_mm512_cvtepi64_pd(nn), _mm512_cvtepi64_pd(qe));
    __m512d kept = mag;
    if (c.nosub) kept = _mm512_mask_mov_pd(mag, _mm512_cmp_pd_mask(mag, c.min_normal, _CMP_LT_OQ), _mm512_setzero_pd());
    val = _mm512_castsi512_pd(_mm512_or_si512(_mm512_castpd_si512(kept), sign));
    const __mmask8 over = _mm512_cmp_pd_mask(mag, c.maxf, _CMP_GT_OQ);
    val = _mm512_mask_mov_pd(val, over & __mmask8(~neg), c.ovf_pos);
    val = _mm512_mask_mov_pd(val, over & neg, c.ovf_neg);
    if (c.no_negzero) val = _mm512_add_pd(val, _mm512_setzero_pd());
  }
  return val;
}

// 16 elements as two vectors of 8; SR draws all 16 random words in one Philox pass.
template <Mode M, bool FIXED>
[[LPSIM_AVX512]] std::uint64_t range_f64(const Params<double>& p, const Ctx& ctx, const double* in, double* out,
                                         std::size_t n, std::uint64_t index0) {
  const F64 c = consts_f64(p);
  std::uint64_t bad = kNoBad;
  for (std::size_t i = 0; i < n; i += 16) {
    __m512i r[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
    if constexpr (M == Mode::SR) {
      const __m512i lo_idx = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
      const __m512i hi_idx = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
      __m512i w0, w1;
      philox16(index0 + i, c.key, w0, w1);
      r[0] = _mm512_permutex2var_epi32(w0, lo_idx, w1);  // 64-bit lanes w1:w0 of elements 0..7
      r[1] = _mm512_permutex2var_epi32(w0, hi_idx, w1);  // and 8..15
    }
    for (int h = 0; h < 2; ++h) {
      const std::size_t at = i + 8 * std::size_t(h);
      if (at >= n) break;
      const __mmask8 lanes = n - at >= 8 ? __mmask8(0xff) : __mmask8((1u << (n - at)) - 1);
      const __m512i u = _mm512_maskz_loadu_epi64(lanes, in + at);
      __mmask8 g;
      __m512d val = step_f64<M, FIXED>(c, u, r[h], g);
      g &= lanes;
      if (g) [[unlikely]] {
        alignas(64) double xs[8], vs[8];
        _mm512_store_si512(xs, u);
        _mm512_store_pd(vs, val);
        golden_lanes<double>(ctx, c.key, xs, vs, g, index0 + at, at, bad);
        val = _mm512_load_pd(vs);
      }
      _mm512_mask_storeu_pd(out + at, lanes, val);
    }
  }
  return bad;
}

// ---- dispatch and the parallel loop ---------------------------------------

template <class T>
using RangeFn = std::uint64_t (*)(const Params<T>&, const Ctx&, const T*, T*, std::size_t, std::uint64_t);

template <class T, Mode M, bool FIXED>
RangeFn<T> range_fn() {
  if constexpr (std::is_same_v<T, float>) return range_f32<M, FIXED>;
  else return range_f64<M, FIXED>;
}

template <class T, bool FIXED>
RangeFn<T> pick_mode(Mode m) {
  switch (m) {
    case Mode::RNE: return range_fn<T, Mode::RNE, FIXED>();
    case Mode::RNA: return range_fn<T, Mode::RNA, FIXED>();
    case Mode::RZ: return range_fn<T, Mode::RZ, FIXED>();
    case Mode::RU: return range_fn<T, Mode::RU, FIXED>();
    case Mode::RD: return range_fn<T, Mode::RD, FIXED>();
    case Mode::RO: return range_fn<T, Mode::RO, FIXED>();
    case Mode::SR: return range_fn<T, Mode::SR, FIXED>();
  }
  return nullptr;
}

template <class T>
bool run(const Params<T>& p, const Format& f, Rounding r, const T* in, T* out, std::size_t n, std::uint64_t index0,
         std::uint64_t& first_bad) {
  if (!kernel_covers<T>(f)) return false;
  if constexpr (std::is_same_v<T, float>)
    if (p.fixed && !p.fixed_avx2) return false;  // W > 24 or F < 0: magnitudes not exact in float lanes
  const RangeFn<T> fn = p.fixed ? pick_mode<T, true>(r.mode) : pick_mode<T, false>(r.mode);
  const Ctx ctx{&f, r};
  const std::size_t chunks = (n + kChunk - 1) / kChunk;
  std::uint64_t bad = kNoBad;
#pragma omp parallel for schedule(static) reduction(min : bad) if (n >= kParallelFrom)
  for (std::size_t b = 0; b < chunks; ++b) {
    const std::size_t lo = b * kChunk, len = std::min(kChunk, n - lo);
    const std::uint64_t got = fn(p, ctx, in + lo, out + lo, len, index0 + lo);
    if (got != kNoBad) bad = std::min<std::uint64_t>(bad, lo + got);
  }
  first_bad = bad;
  return true;
}

}  // namespace

bool array_f32_avx512(const Params<float>& p, const Format& f, Rounding r, const float* in, float* out,
                      std::size_t n, std::uint64_t index0, std::uint64_t& first_bad) {
  return run<float>(p, f, r, in, out, n, index0, first_bad);
}

bool array_f64_avx512(const Params<double>& p, const Format& f, Rounding r, const double* in, double* out,
                      std::size_t n, std::uint64_t index0, std::uint64_t& first_bad) {
  return run<double>(p, f, r, in, out, n, index0, first_bad);
}

}  // namespace lpsim::arith::detail
