// The array quantizer's AVX2 lanes: the integer steps of the scalar kernel
// (quantize_kernel.hpp) on 8 float or 4 double lanes, and Philox eight
// counters at a time for stochastic rounding. Bit-identical to the kernel.
#include <immintrin.h>

#include <cstdint>
#include <limits>

#include "arith/quantize_kernel.hpp"

namespace lpsim::arith::detail {

namespace {

// Philox4x32-10 (philox.hpp) on eight counters at once: counter word 0 is
// the element index's low half (consecutive per lane, carrying into word 1),
// word 2 the stream, word 3 zero (random word 0). Returns words 0 and 1 of
// each output, the bits random_word(seed, stream, index, 0) combines.
[[gnu::target("avx2")]] inline void philox8(std::uint64_t index, const RandomKey& key, __m256i& w0, __m256i& w1) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), flip = _mm256_set1_epi32(INT32_MIN);
  const __m256i lo = _mm256_set1_epi32(std::int32_t(std::uint32_t(index)));
  __m256i c0 = _mm256_add_epi32(lo, lane);
  const __m256i wrapped = _mm256_cmpgt_epi32(_mm256_xor_si256(lo, flip), _mm256_xor_si256(c0, flip));  // unsigned lo > c0
  __m256i c1 = _mm256_sub_epi32(_mm256_set1_epi32(std::int32_t(std::uint32_t(index >> 32))), wrapped);
  __m256i c2 = _mm256_set1_epi32(std::int32_t(key.stream)), c3 = _mm256_setzero_si256();
  const __m256i m0 = _mm256_set1_epi32(std::int32_t(0xD2511F53u)), m1 = _mm256_set1_epi32(std::int32_t(0xCD9E8D57u));
  std::uint32_t k0 = std::uint32_t(key.seed), k1 = std::uint32_t(key.seed >> 32);
  for (int r = 0; r < 10; ++r) {
    // 32 x 32 -> 64-bit products of the even and of the odd lanes, split into high and low words.
    const __m256i pe0 = _mm256_mul_epu32(c0, m0), po0 = _mm256_mul_epu32(_mm256_srli_epi64(c0, 32), m0);
    const __m256i pe1 = _mm256_mul_epu32(c2, m1), po1 = _mm256_mul_epu32(_mm256_srli_epi64(c2, 32), m1);
    const __m256i hi0 = _mm256_blend_epi32(_mm256_srli_epi64(pe0, 32), po0, 0xAA);
    const __m256i lo0 = _mm256_blend_epi32(pe0, _mm256_slli_epi64(po0, 32), 0xAA);
    const __m256i hi1 = _mm256_blend_epi32(_mm256_srli_epi64(pe1, 32), po1, 0xAA);
    const __m256i lo1 = _mm256_blend_epi32(pe1, _mm256_slli_epi64(po1, 32), 0xAA);
    c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32(std::int32_t(k0)));
    c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32(std::int32_t(k1)));
    c1 = lo1;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  w0 = c0;
  w1 = c1;
}

// rnd[i] = random_word(key.seed, key.stream, index0 + i, 0) for i < n, eight at a time.
[[gnu::target("avx2")]] void random_words_avx2(std::uint64_t index0, const RandomKey& key, std::uint64_t* rnd,
                                               std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256i w0, w1;
    philox8(index0 + i, key, w0, w1);
    // Interleaved within 128-bit halves: words of elements 0 1 4 5 and 2 3 6 7.
    const __m256i lo = _mm256_unpacklo_epi32(w0, w1), hi = _mm256_unpackhi_epi32(w0, w1);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(rnd + i), _mm256_permute2x128_si256(lo, hi, 0x20));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(rnd + i + 4), _mm256_permute2x128_si256(lo, hi, 0x31));
  }
  for (; i < n; ++i) rnd[i] = random_word(key.seed, key.stream, index0 + i, 0);
}

[[gnu::target("avx2")]] inline __m128i half(__m256i v, int h) {
  return h ? _mm256_extracti128_si256(v, 1) : _mm256_castsi256_si128(v);
}
// Bit q of `bits` as all-ones in 32-bit lane q.
[[gnu::target("avx2")]] inline __m256i lane_mask(int bits) {
  const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(bits), bit), bit);
}

// Stochastic rounding's decisions for eight elements, as kernel() makes
// them: fraction f = rem / 2^s as 64 bits, up iff the random word is below it
// (or its top sr_bits are below f's); a tie with s > 64 goes golden. 64-bit
// lanes in two halves, since AVX2 compares only signed 64-bit numbers.
[[gnu::target("avx2")]] inline void sr_decide(const Params<float>& p, std::uint64_t index, __m256i rem, __m256i s,
                                              __m256i inexact, __m256i& up, __m256i& golden) {
  __m256i w0, w1;
  philox8(index, p.key, w0, w1);
  const __m256i flip = _mm256_set1_epi64x(INT64_MIN), c64 = _mm256_set1_epi64x(64);
  const int d = p.sr_bits ? 64 - p.sr_bits : 0;
  int up_bits = 0, tie_bits = 0;
  for (int h = 0; h < 2; ++h) {
    const __m256i r64 = _mm256_or_si256(_mm256_cvtepu32_epi64(half(w0, h)), _mm256_slli_epi64(_mm256_cvtepu32_epi64(half(w1, h)), 32));
    const __m256i rem64 = _mm256_cvtepu32_epi64(half(rem, h)), s64 = _mm256_cvtepi32_epi64(half(s, h));
    // rem << (64 - s) for 0 < s <= 64, rem >> (s - 64) beyond; shift counts out of 0..63 give 0.
    __m256i f = _mm256_or_si256(_mm256_sllv_epi64(rem64, _mm256_sub_epi64(c64, s64)),
                                _mm256_srlv_epi64(rem64, _mm256_sub_epi64(s64, c64)));
    __m256i r = r64;
    if (d) f = _mm256_srli_epi64(f, d), r = _mm256_srli_epi64(r, d);
    const __m256i below = _mm256_cmpgt_epi64(_mm256_xor_si256(f, flip), _mm256_xor_si256(r, flip));
    up_bits |= _mm256_movemask_pd(_mm256_castsi256_pd(below)) << (4 * h);
    const __m256i tie = _mm256_and_si256(_mm256_cmpeq_epi64(r64, f), _mm256_cmpgt_epi64(s64, c64));
    tie_bits |= _mm256_movemask_pd(_mm256_castsi256_pd(tie)) << (4 * h);
  }
  up = _mm256_and_si256(lane_mask(up_bits), inexact);
  if (!p.sr_bits) golden = _mm256_or_si256(golden, _mm256_and_si256(lane_mask(tie_bits), inexact));
}

// Float input in AVX2 intrinsics, 8 elements at a time: the same integer
// steps as kernel() (GCC does not vectorise that loop), so it is
// bit-identical to it and therefore to the golden model; elements it does not
// cover are flagged for golden exactly as kernel() flags them. Minifloat
// outputs in every mode but SR here, SR in every output (FIXED: W <= 24,
// F >= 0, which keep magnitudes exact in float).
// The deterministic modes' decision, on 32- or 64-bit lanes: all ones where
// the magnitude nq steps up. rem: the dropped bits, half: half a unit of nq
// (both far below the lane's sign bit), negm: all ones for negative inputs.
template <int W>
[[gnu::target("avx2"), gnu::always_inline]] inline __m256i round_up(Mode m, __m256i rem, __m256i half, __m256i nq,
                                                                    __m256i negm, __m256i inexact) {
  const __m256i one = W == 32 ? _mm256_set1_epi32(1) : _mm256_set1_epi64x(1);
  const __m256i odd = W == 32 ? _mm256_cmpeq_epi32(_mm256_and_si256(nq, one), one)
                              : _mm256_cmpeq_epi64(_mm256_and_si256(nq, one), one);
  const __m256i gt = W == 32 ? _mm256_cmpgt_epi32(rem, half) : _mm256_cmpgt_epi64(rem, half);
  const __m256i eq = W == 32 ? _mm256_cmpeq_epi32(rem, half) : _mm256_cmpeq_epi64(rem, half);
  switch (m) {
    case Mode::RNE: return _mm256_or_si256(gt, _mm256_and_si256(_mm256_and_si256(eq, inexact), odd));
    case Mode::RNA: return _mm256_and_si256(_mm256_or_si256(gt, eq), inexact);
    case Mode::RU: return _mm256_andnot_si256(negm, inexact);
    case Mode::RD: return _mm256_and_si256(negm, inexact);
    case Mode::RO: return _mm256_andnot_si256(odd, inexact);
    default: return _mm256_setzero_si256();  // RZ (SR is decided elsewhere)
  }
}

template <bool SR, bool FIXED>
[[gnu::target("avx2")]] void float_kernel_avx2(const Params<float>& p, Mode m, const float* in, float* out,
                                               std::uint8_t* flag, std::size_t n, std::uint64_t index0) {
  const __m256i zero = _mm256_setzero_si256(), one = _mm256_set1_epi32(1);
  const __m256i absmask = _mm256_set1_epi32(0x7fffffff), mant = _mm256_set1_epi32(0x7fffff);
  const __m256i implicit = _mm256_set1_epi32(0x800000), e255 = _mm256_set1_epi32(255);
  const __m256i emin_eff = _mm256_set1_epi32(p.emin_eff), man = _mm256_set1_epi32(p.man);
  const __m256i qe_floor = _mm256_set1_epi32(1 - 127 - 23);  // qe below -149 (below float): golden
  const __m256i sub_golden = _mm256_set1_epi32(p.sub_input_golden ? -1 : 0);
  const __m256 maxf = _mm256_set1_ps(p.max_finite), min_normal = _mm256_set1_ps(p.min_normal);
  const __m256 ovf_pos = _mm256_set1_ps(p.ovf_pos), ovf_neg = _mm256_set1_ps(p.ovf_neg);
  const __m256 nosub = _mm256_castsi256_ps(_mm256_set1_epi32(p.nosub ? -1 : 0));
  const bool no_negzero = p.no_negzero;
  // Fixed point: the bounds of kernel() as floats (exact: below 2^25, times a power of two).
  const __m256i limit = _mm256_set1_epi32(std::int32_t(p.limit_bits));
  const __m256 fx_max_pos = _mm256_set1_ps(float(p.maxmag_pos) * p.scale);
  const __m256 fx_max_neg = _mm256_set1_ps(float(p.maxmag_neg) * p.scale);
  const __m256 clamp_pos = _mm256_set1_ps(p.clamp_pos), clamp_neg = _mm256_set1_ps(p.clamp_neg);
  const __m256 wrap = _mm256_castsi256_ps(_mm256_set1_epi32(p.wrap ? -1 : 0));
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i u = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i));
    const __m256i negm = _mm256_srai_epi32(u, 31);  // all ones where negative
    const __m256i a = _mm256_and_si256(u, absmask);
    const __m256i E = _mm256_srli_epi32(a, 23);
    const __m256i sub = _mm256_cmpeq_epi32(E, zero);
    const __m256i sig = _mm256_or_si256(_mm256_and_si256(a, mant), _mm256_andnot_si256(sub, implicit));
    const __m256i ulpexp = _mm256_sub_epi32(_mm256_blendv_epi8(E, one, sub), _mm256_set1_epi32(127 + 23));
    __m256i golden = _mm256_cmpeq_epi32(E, e255);
    __m256i qe;
    if constexpr (FIXED) {
      qe = _mm256_set1_epi32(p.qe_fixed);
    } else {
      qe = _mm256_sub_epi32(_mm256_max_epi32(_mm256_sub_epi32(E, _mm256_set1_epi32(127)), emin_eff), man);
      golden = _mm256_or_si256(golden, _mm256_and_si256(sub, sub_golden));
      golden = _mm256_or_si256(golden, _mm256_cmpgt_epi32(qe_floor, qe));
    }
    const __m256i s = _mm256_sub_epi32(qe, ulpexp);
    const __m256i sc = _mm256_min_epi32(_mm256_max_epi32(s, zero), _mm256_set1_epi32(25));
    const __m256i nq = _mm256_srlv_epi32(sig, sc);
    const __m256i rem = _mm256_sub_epi32(sig, _mm256_sllv_epi32(nq, sc));
    const __m256i inexact = _mm256_xor_si256(_mm256_cmpeq_epi32(rem, zero), _mm256_set1_epi32(-1));
    __m256i up;
    if constexpr (SR) {
      sr_decide(p, index0 + i, rem, s, inexact, up, golden);
    } else {
      const __m256i half = _mm256_srli_epi32(_mm256_sllv_epi32(one, sc), 1);  // rem, half < 2^26
      up = round_up<32>(m, rem, half, nq, negm, inexact);
    }
    const __m256i nn = _mm256_sub_epi32(nq, up);  // up is -1 where rounding up
    // 2^qe as a float: normal exponent field, or a subnormal bit (qe >= -149 unless flagged).
    const __m256i biased = _mm256_add_epi32(qe, _mm256_set1_epi32(127));
    const __m256i normal = _mm256_slli_epi32(biased, 23);
    const __m256i subsh = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(biased, _mm256_set1_epi32(22)), zero),
                                           _mm256_set1_epi32(22));
    const __m256i subp = _mm256_sllv_epi32(one, subsh);
    const __m256 pw = _mm256_castsi256_ps(_mm256_blendv_epi8(subp, normal, _mm256_cmpgt_epi32(biased, zero)));
    __m256 mag = _mm256_mul_ps(_mm256_cvtepi32_ps(nn), pw);
    const __m256 signbit = _mm256_castsi256_ps(_mm256_slli_epi32(negm, 31));
    __m256 val;
    if constexpr (FIXED) {
      // s <= 0: already on the grid (nq would need a left shift): the input itself.
      mag = _mm256_blendv_ps(mag, _mm256_castsi256_ps(a), _mm256_castsi256_ps(_mm256_cmpgt_epi32(one, s)));
      const __m256 negf = _mm256_castsi256_ps(negm);
      const __m256 over = _mm256_or_ps(_mm256_castsi256_ps(_mm256_xor_si256(_mm256_cmpgt_epi32(limit, a), _mm256_set1_epi32(-1))),
                                       _mm256_cmp_ps(mag, _mm256_blendv_ps(fx_max_pos, fx_max_neg, negf), _CMP_GT_OQ));
      val = _mm256_blendv_ps(_mm256_or_ps(mag, signbit), _mm256_blendv_ps(clamp_pos, clamp_neg, negf), over);
      val = _mm256_add_ps(val, _mm256_setzero_ps());  // fixed point has no -0
      golden = _mm256_or_si256(golden, _mm256_castps_si256(_mm256_and_ps(over, wrap)));
    } else {
      const __m256 flush = _mm256_and_ps(nosub, _mm256_cmp_ps(mag, min_normal, _CMP_LT_OQ));
      const __m256 signed_val = _mm256_or_ps(_mm256_andnot_ps(flush, mag), signbit);
      const __m256 over = _mm256_cmp_ps(mag, maxf, _CMP_GT_OQ);
      val = _mm256_blendv_ps(signed_val, _mm256_blendv_ps(ovf_pos, ovf_neg, _mm256_castsi256_ps(negm)), over);
      if (no_negzero) val = _mm256_add_ps(val, _mm256_setzero_ps());
    }
    _mm256_storeu_ps(out + i, val);
    const int g = _mm256_movemask_ps(_mm256_castsi256_ps(golden));
    for (int q = 0; q < 8; ++q) flag[i + q] = std::uint8_t(g >> q & 1);
  }
  if (i < n) dispatch_mode<float, FIXED>(p, m, in + i, out + i, flag + i, n - i, index0 + i);
}

// The same steps as float_kernel_avx2<false, false> for double input, four elements at a
// time. AVX2 has no 64-bit min/max or int64 -> double conversion: compares
// and blends stand in for the first, and n < 2^52 converts exactly as
// (2^52 + n) - 2^52 (kernel_covers bounds n).
[[gnu::target("avx2")]] inline __m256i max64(__m256i a, __m256i b) {
  return _mm256_blendv_epi8(b, a, _mm256_cmpgt_epi64(a, b));
}
[[gnu::target("avx2")]] inline __m256i min64(__m256i a, __m256i b) {
  return _mm256_blendv_epi8(a, b, _mm256_cmpgt_epi64(a, b));
}

[[gnu::target("avx2")]] void double_minifloat_avx2(const Params<double>& p, Mode m, const double* in, double* out,
                                                   std::uint8_t* flag, std::size_t n) {
  const __m256i zero = _mm256_setzero_si256(), one = _mm256_set1_epi64x(1);
  const __m256i absmask = _mm256_set1_epi64x(0x7fffffffffffffff), mant = _mm256_set1_epi64x((1ll << 52) - 1);
  const __m256i implicit = _mm256_set1_epi64x(1ll << 52), e2047 = _mm256_set1_epi64x(2047);
  const __m256i emin_eff = _mm256_set1_epi64x(p.emin_eff), man = _mm256_set1_epi64x(p.man);
  const __m256i qe_floor = _mm256_set1_epi64x(1 - 1023 - 52);  // qe below -1074 (below double): golden
  const __m256i sub_golden = _mm256_set1_epi64x(p.sub_input_golden ? -1 : 0);
  const __m256i magic = _mm256_set1_epi64x(0x4330000000000000);
  const __m256d two52 = _mm256_set1_pd(0x1p52);
  const __m256d maxf = _mm256_set1_pd(p.max_finite), min_normal = _mm256_set1_pd(p.min_normal);
  const __m256d ovf_pos = _mm256_set1_pd(p.ovf_pos), ovf_neg = _mm256_set1_pd(p.ovf_neg);
  const __m256d nosub = _mm256_castsi256_pd(_mm256_set1_epi64x(p.nosub ? -1 : 0));
  const bool no_negzero = p.no_negzero;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const __m256i u = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i));
    const __m256i negm = _mm256_cmpgt_epi64(zero, u);  // all ones where negative
    const __m256i a = _mm256_and_si256(u, absmask);
    const __m256i E = _mm256_srli_epi64(a, 52);
    const __m256i sub = _mm256_cmpeq_epi64(E, zero);
    const __m256i sig = _mm256_or_si256(_mm256_and_si256(a, mant), _mm256_andnot_si256(sub, implicit));
    const __m256i ulpexp = _mm256_sub_epi64(_mm256_blendv_epi8(E, one, sub), _mm256_set1_epi64x(1023 + 52));
    const __m256i qe = _mm256_sub_epi64(max64(_mm256_sub_epi64(E, _mm256_set1_epi64x(1023)), emin_eff), man);
    __m256i golden = _mm256_or_si256(_mm256_cmpeq_epi64(E, e2047), _mm256_and_si256(sub, sub_golden));
    golden = _mm256_or_si256(golden, _mm256_cmpgt_epi64(qe_floor, qe));
    const __m256i s = _mm256_sub_epi64(qe, ulpexp);
    const __m256i sc = min64(max64(s, zero), _mm256_set1_epi64x(54));
    const __m256i nq = _mm256_srlv_epi64(sig, sc);
    const __m256i rem = _mm256_sub_epi64(sig, _mm256_sllv_epi64(nq, sc));
    const __m256i half = _mm256_srli_epi64(_mm256_sllv_epi64(one, sc), 1);
    const __m256i inexact = _mm256_xor_si256(_mm256_cmpeq_epi64(rem, zero), _mm256_set1_epi64x(-1));
    const __m256i up = round_up<64>(m, rem, half, nq, negm, inexact);  // rem, half < 2^55
    const __m256i nn = _mm256_sub_epi64(nq, up);  // up is -1 where rounding up
    const __m256d nd = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(nn, magic)), two52);
    // 2^qe as a double: normal exponent field, or a subnormal bit (qe >= -1074 unless flagged).
    const __m256i biased = _mm256_add_epi64(qe, _mm256_set1_epi64x(1023));
    const __m256i normal = _mm256_slli_epi64(biased, 52);
    const __m256i subsh = min64(max64(_mm256_add_epi64(biased, _mm256_set1_epi64x(51)), zero), _mm256_set1_epi64x(51));
    const __m256i subp = _mm256_sllv_epi64(one, subsh);
    const __m256d pw = _mm256_castsi256_pd(_mm256_blendv_epi8(subp, normal, _mm256_cmpgt_epi64(biased, zero)));
    const __m256d mag = _mm256_mul_pd(nd, pw);
    const __m256d flush = _mm256_and_pd(nosub, _mm256_cmp_pd(mag, min_normal, _CMP_LT_OQ));
    const __m256d kept = _mm256_andnot_pd(flush, mag);
    const __m256d signbit = _mm256_castsi256_pd(_mm256_slli_epi64(negm, 63));
    const __m256d signed_val = _mm256_or_pd(kept, signbit);
    const __m256d over = _mm256_cmp_pd(mag, maxf, _CMP_GT_OQ);
    __m256d val = _mm256_blendv_pd(signed_val, _mm256_blendv_pd(ovf_pos, ovf_neg, _mm256_castsi256_pd(negm)), over);
    if (no_negzero) val = _mm256_add_pd(val, _mm256_setzero_pd());
    _mm256_storeu_pd(out + i, val);
    const int g = _mm256_movemask_pd(_mm256_castsi256_pd(golden));
    for (int q = 0; q < 4; ++q) flag[i + q] = std::uint8_t(g >> q & 1);
  }
  if (i < n) dispatch_mode<double, false>(p, m, in + i, out + i, flag + i, n - i, 0);
}

// Float input, fixed-point output of at most 24 bits with F >= 0, deterministic
// modes, in AVX2: y = x * 2^F is exact (a power-of-two scale that cannot
// underflow; overflow to inf lands in the range check), the hardware rounds y
// to an integer, and integers below 2^24 compare exactly as floats. Same
// results as kernel(): out-of-range values saturate, or go golden when the
// format wraps; NaN goes golden (the error path).
[[gnu::target("avx2")]] void float_fixed_avx2(const Params<float>& p, Mode m, const float* in, float* out,
                                              std::uint8_t* flag, std::size_t n) {
  const __m256 up_scale = _mm256_set1_ps(std::ldexp(1.0f, -p.qe_fixed)), scale = _mm256_set1_ps(p.scale);
  const __m256 max_pos = _mm256_set1_ps(float(p.maxmag_pos)), max_neg = _mm256_set1_ps(-float(p.maxmag_neg));
  const __m256 clamp_pos = _mm256_set1_ps(p.clamp_pos), clamp_neg = _mm256_set1_ps(p.clamp_neg);
  const __m256 zero = _mm256_setzero_ps(), half = _mm256_set1_ps(0.5f);
  const __m256 signbit = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
  const __m256 wrap = _mm256_castsi256_ps(_mm256_set1_epi32(p.wrap ? -1 : 0));
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_loadu_ps(in + i);
    const __m256 y = _mm256_mul_ps(x, up_scale);
    __m256 r;
    switch (m) {
      case Mode::RNE: r = _mm256_round_ps(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); break;
      case Mode::RZ: r = _mm256_round_ps(y, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC); break;
      case Mode::RU: r = _mm256_round_ps(y, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC); break;
      case Mode::RD: r = _mm256_round_ps(y, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); break;
      case Mode::RNA: {
        // Truncate, then step away from zero when the dropped fraction (exact) is >= 1/2;
        // |y| + 0.5 would itself round for some y.
        const __m256 sign = _mm256_and_ps(y, signbit), mag = _mm256_andnot_ps(signbit, y);
        const __m256 t = _mm256_round_ps(mag, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        const __m256 up = _mm256_and_ps(_mm256_cmp_ps(_mm256_sub_ps(mag, t), half, _CMP_GE_OQ), one);
        r = _mm256_or_ps(_mm256_add_ps(t, up), sign);
        break;
      }
      default: {  // RO: truncate; an inexact even result steps away from zero
        const __m256 t = _mm256_round_ps(y, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        const __m256 inexact = _mm256_cmp_ps(t, y, _CMP_NEQ_OQ);
        const __m256 halfway = _mm256_mul_ps(t, half);
        const __m256 even = _mm256_cmp_ps(_mm256_round_ps(halfway, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC), halfway,
                                          _CMP_EQ_OQ);
        const __m256 step = _mm256_or_ps(one, _mm256_and_ps(y, signbit));
        r = _mm256_add_ps(t, _mm256_and_ps(_mm256_and_ps(inexact, even), step));
        break;
      }
    }
    const __m256 over_pos = _mm256_cmp_ps(r, max_pos, _CMP_GT_OQ), over_neg = _mm256_cmp_ps(r, max_neg, _CMP_LT_OQ);
    const __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
    const __m256 over = _mm256_or_ps(over_pos, over_neg);
    __m256 val = _mm256_add_ps(_mm256_mul_ps(r, scale), zero);  // exact; + 0 turns -0 into +0
    val = _mm256_blendv_ps(val, clamp_pos, over_pos);
    val = _mm256_blendv_ps(val, clamp_neg, over_neg);
    _mm256_storeu_ps(out + i, val);
    const int golden = _mm256_movemask_ps(_mm256_or_ps(nan, _mm256_and_ps(over, wrap)));
    for (int q = 0; q < 8; ++q) flag[i + q] = std::uint8_t(golden >> q & 1);
  }
  if (i < n) dispatch_mode<float, true>(p, m, in + i, out + i, flag + i, n - i, 0);
}

// Fixed-point output from double input, four elements at a time: the steps
// of kernel<double, M, true> on 64-bit lanes (AVX2's variable shifts give 0
// for counts outside 0..63, which is what the scalar clamps arrive at), SR's
// random words precomputed in `rnd`. Flags as kernel() flags.
template <Mode M>
[[gnu::target("avx2")]] void double_fixed_avx2(const Params<double>& p, const double* in, double* out,
                                               std::uint8_t* flag, std::size_t n, std::uint64_t index0,
                                               const std::uint64_t* rnd) {
  const __m256i zero = _mm256_setzero_si256(), one = _mm256_set1_epi64x(1), flip = _mm256_set1_epi64x(INT64_MIN);
  const __m256i absmask = _mm256_set1_epi64x(0x7fffffffffffffff), mant = _mm256_set1_epi64x(0xfffffffffffff);
  const __m256i implicit = _mm256_set1_epi64x(1ll << 52), e2047 = _mm256_set1_epi64x(2047);
  const __m256i bias = _mm256_set1_epi64x(1023 + 52), qe = _mm256_set1_epi64x(p.qe_fixed);
  const __m256i c54 = _mm256_set1_epi64x(54), c64 = _mm256_set1_epi64x(64);
  const __m256i limit = _mm256_set1_epi64x(std::int64_t(p.limit_bits));
  const __m256i max_pos = _mm256_set1_epi64x(std::int64_t(p.maxmag_pos)), max_neg = _mm256_set1_epi64x(std::int64_t(p.maxmag_neg));
  const __m256i magic = _mm256_set1_epi64x(0x4330000000000000);
  const __m256d two52 = _mm256_set1_pd(0x1p52), scale = _mm256_set1_pd(p.scale);
  const __m256d clamp_pos = _mm256_set1_pd(p.clamp_pos), clamp_neg = _mm256_set1_pd(p.clamp_neg);
  const __m256i wrap = _mm256_set1_epi64x(p.wrap ? -1 : 0);
  const int d = p.sr_bits ? 64 - p.sr_bits : 0;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const __m256i u = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i));
    const __m256i negm = _mm256_cmpgt_epi64(zero, u);
    const __m256i a = _mm256_and_si256(u, absmask);
    const __m256i E = _mm256_srli_epi64(a, 52);
    const __m256i sub = _mm256_cmpeq_epi64(E, zero);
    const __m256i sig = _mm256_or_si256(_mm256_and_si256(a, mant), _mm256_andnot_si256(sub, implicit));
    const __m256i ulpexp = _mm256_sub_epi64(_mm256_blendv_epi8(E, one, sub), bias);
    __m256i golden = _mm256_cmpeq_epi64(E, e2047);
    const __m256i s = _mm256_sub_epi64(qe, ulpexp);
    const __m256i s_neg = _mm256_cmpgt_epi64(zero, s);
    const __m256i n_lo = _mm256_srlv_epi64(sig, s);  // 0 for s >= 64 or s < 0
    const __m256i rem = _mm256_andnot_si256(_mm256_or_si256(s_neg, _mm256_cmpeq_epi64(s, zero)),
                                            _mm256_sub_epi64(sig, _mm256_sllv_epi64(n_lo, s)));
    const __m256i nq = _mm256_blendv_epi8(n_lo, _mm256_sllv_epi64(sig, _mm256_sub_epi64(zero, s)), s_neg);
    const __m256i inexact = _mm256_xor_si256(_mm256_cmpeq_epi64(rem, zero), _mm256_set1_epi64x(-1));
    __m256i up;
    if constexpr (M != Mode::SR) {
      // half only where the mode reads it (M is constant: the decision folds to one expression).
      const __m256i half = M == Mode::RNE || M == Mode::RNA
                               ? _mm256_srli_epi64(_mm256_sllv_epi64(one, max64(min64(s, c54), zero)), 1)
                               : zero;  // rem, half < 2^54
      up = round_up<64>(M, rem, half, nq, negm, inexact);
    } else {  // SR: fraction as 64 bits, rem << (64 - s) or rem >> (s - 64)
      const __m256i r64 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rnd + i));
      __m256i f = _mm256_or_si256(_mm256_sllv_epi64(rem, _mm256_sub_epi64(c64, s)),
                                  _mm256_srlv_epi64(rem, _mm256_sub_epi64(s, c64)));
      f = _mm256_andnot_si256(s_neg, f);
      __m256i r = r64;
      if (d) f = _mm256_srli_epi64(f, d), r = _mm256_srli_epi64(r, d);
      up = _mm256_cmpgt_epi64(_mm256_xor_si256(f, flip), _mm256_xor_si256(r, flip));
      if (!p.sr_bits)
        golden = _mm256_or_si256(golden, _mm256_and_si256(_mm256_and_si256(_mm256_cmpeq_epi64(r64, f), inexact),
                                                          _mm256_cmpgt_epi64(s, c64)));
    }
    const __m256i nn = _mm256_sub_epi64(nq, up);  // up is -1 where rounding up
    const __m256i over = _mm256_or_si256(_mm256_xor_si256(_mm256_cmpgt_epi64(limit, a), _mm256_set1_epi64x(-1)),
                                         _mm256_cmpgt_epi64(nn, _mm256_blendv_epi8(max_pos, max_neg, negm)));
    const __m256d mag = _mm256_mul_pd(_mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(nn, magic)), two52), scale);
    const __m256d negf = _mm256_castsi256_pd(negm);
    const __m256d signed_val = _mm256_xor_pd(mag, _mm256_and_pd(negf, _mm256_set1_pd(-0.0)));
    __m256d val = _mm256_blendv_pd(signed_val, _mm256_blendv_pd(clamp_pos, clamp_neg, negf), _mm256_castsi256_pd(over));
    val = _mm256_add_pd(val, _mm256_setzero_pd());  // fixed point has no -0
    golden = _mm256_or_si256(golden, _mm256_and_si256(over, wrap));
    _mm256_storeu_pd(out + i, val);
    const int g = _mm256_movemask_pd(_mm256_castsi256_pd(golden));
    for (int q = 0; q < 4; ++q) flag[i + q] = std::uint8_t(g >> q & 1);
  }
  if (i < n) dispatch_mode<double, true>(p, M, in + i, out + i, flag + i, n - i, index0 + i, rnd ? rnd + i : nullptr);
}

[[gnu::target("avx2")]] void double_fixed_avx2(const Params<double>& p, Mode m, const double* in, double* out,
                                               std::uint8_t* flag, std::size_t n, std::uint64_t idx,
                                               const std::uint64_t* rnd) {
  switch (m) {
    case Mode::RNE: return double_fixed_avx2<Mode::RNE>(p, in, out, flag, n, idx, rnd);
    case Mode::RNA: return double_fixed_avx2<Mode::RNA>(p, in, out, flag, n, idx, rnd);
    case Mode::RZ: return double_fixed_avx2<Mode::RZ>(p, in, out, flag, n, idx, rnd);
    case Mode::RU: return double_fixed_avx2<Mode::RU>(p, in, out, flag, n, idx, rnd);
    case Mode::RD: return double_fixed_avx2<Mode::RD>(p, in, out, flag, n, idx, rnd);
    case Mode::RO: return double_fixed_avx2<Mode::RO>(p, in, out, flag, n, idx, rnd);
    case Mode::SR: return double_fixed_avx2<Mode::SR>(p, in, out, flag, n, idx, rnd);
  }
}

}  // namespace

bool block_f32_avx2(const Params<float>& p, Mode m, const float* in, float* out, std::uint8_t* flag, std::size_t n,
                    std::uint64_t idx) {
  if (!p.fixed && !p.man_zero) {
    if (m == Mode::SR) float_kernel_avx2<true, false>(p, m, in, out, flag, n, idx);
    else float_kernel_avx2<false, false>(p, m, in, out, flag, n, idx);
    return true;
  }
  if (p.fixed && p.fixed_avx2) {
    if (m == Mode::SR) float_kernel_avx2<true, true>(p, m, in, out, flag, n, idx);
    else float_fixed_avx2(p, m, in, out, flag, n);
    return true;
  }
  return false;
}

bool block_f64_avx2(const Params<double>& p, Mode m, const double* in, double* out, std::uint8_t* flag,
                    std::size_t n, std::uint64_t idx) {
  if (!p.fixed && !p.man_zero && m != Mode::SR) {
    double_minifloat_avx2(p, m, in, out, flag, n);
    return true;
  }
  if (m != Mode::SR && !p.fixed) return false;
  // SR: Philox, the bulk of the work, eight elements at a time; the rest per element.
  alignas(32) std::uint64_t rnd[kBlock];
  const std::uint64_t* r = nullptr;
  if (m == Mode::SR && n <= kBlock) random_words_avx2(idx, p.key, rnd, n), r = rnd;
  if (p.fixed && (m != Mode::SR || r)) {
    double_fixed_avx2(p, m, in, out, flag, n, idx, r);
    return true;
  }
  if (!r) return false;
  if (p.fixed) dispatch_mode<double, true>(p, m, in, out, flag, n, idx, r);
  else dispatch_mode<double, false>(p, m, in, out, flag, n, idx, r);
  return true;
}

}  // namespace lpsim::arith::detail
