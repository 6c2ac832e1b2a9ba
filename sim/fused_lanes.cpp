#include "sim/fused_lanes.hpp"

#include <immintrin.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "arith/golden.hpp"
#include "arith/isa.hpp"
#include "sim/dot.hpp"
#include "sim/exact_round.hpp"
#include "sim/round_into.hpp"

namespace lpsim::sim {

namespace {

using arith::Kind;
using arith::Mode;

bool narrow_double(const Rounded& r) {
  const auto& f = r.format;
  // Values normal as doubles (the exponent comes from the bits), at most 51 bits, deterministic rounding.
  return f.kind == Kind::Float && f.fits_in_double() && f.min_subnormal() >= 0x1p-1022 && f.man_bits <= 51 &&
         r.rounding.mode != Mode::SR;
}

// Rounding an exact double (or one rounded to odd) into a float format of at most 52 bits.
struct Lane {
  const Rounded* r = nullptr;
  __m256i keep, low, half, halfm1, lsb, min_normal, max_bits, negzero_bad;
  int sh = 0;
};

// zero_plus (MacConfig::zero_plus): -0 results are redone by fused_step, which gives +0.
[[gnu::target("avx2")]] Lane make_lane(const Rounded& r, bool zero_plus = false) {
  Lane q;
  q.r = &r;
  q.sh = 52 - r.format.man_bits;
  const std::uint64_t low = (1ull << q.sh) - 1;
  q.keep = _mm256_set1_epi64x(std::int64_t(~low));
  q.low = _mm256_set1_epi64x(std::int64_t(low));
  q.half = _mm256_set1_epi64x(std::int64_t(1ull << (q.sh - 1)));
  q.halfm1 = _mm256_set1_epi64x(std::int64_t((1ull << (q.sh - 1)) - 1));
  q.lsb = _mm256_set1_epi64x(std::int64_t(1ull << q.sh));
  q.min_normal = _mm256_set1_epi64x(std::int64_t(std::bit_cast<std::uint64_t>(r.format.min_normal())));
  q.max_bits = _mm256_set1_epi64x(std::int64_t(std::bit_cast<std::uint64_t>(r.format.max_finite())));
  q.negzero_bad = _mm256_set1_epi64x(r.format.has_negative_zero() && !zero_plus ? 0 : -1);
  return q;
}

// x rounded into the lane's format on its bits; `bad` marks the lanes where
// that is not valid (see fused_lanes.hpp).
[[gnu::target("avx2"), gnu::always_inline]] inline __m256d round_bits(__m256d x, const Lane& q, int& bad) {
  const __m256i one = _mm256_set1_epi64x(1), zero = _mm256_setzero_si256();
  const __m256i signmask = _mm256_set1_epi64x(std::numeric_limits<std::int64_t>::min());
  const __m256i u = _mm256_castpd_si256(x);
  const __m256i sign = _mm256_and_si256(u, signmask), a = _mm256_andnot_si256(signmask, u);
  __m256i r;
  switch (q.r->rounding.mode) {
    case Mode::RNE: {
      const __m256i bias = _mm256_add_epi64(q.halfm1, _mm256_and_si256(_mm256_srli_epi64(a, q.sh), one));
      r = _mm256_and_si256(_mm256_add_epi64(a, bias), q.keep);
      break;
    }
    case Mode::RNA: r = _mm256_and_si256(_mm256_add_epi64(a, q.half), q.keep); break;
    case Mode::RZ: r = _mm256_and_si256(a, q.keep); break;
    case Mode::RU:
    case Mode::RD: {
      const __m256i away = _mm256_and_si256(_mm256_add_epi64(a, q.low), q.keep), in = _mm256_and_si256(a, q.keep);
      const __m256i neg = _mm256_cmpgt_epi64(zero, u);
      r = q.r->rounding.mode == Mode::RU ? _mm256_blendv_epi8(away, in, neg) : _mm256_blendv_epi8(in, away, neg);
      break;
    }
    default: {  // RO
      const __m256i exact = _mm256_cmpeq_epi64(_mm256_and_si256(a, q.low), zero);
      r = _mm256_or_si256(_mm256_and_si256(a, q.keep), _mm256_andnot_si256(exact, q.lsb));
    }
  }
  const __m256i tiny = _mm256_and_si256(_mm256_cmpgt_epi64(q.min_normal, a), _mm256_cmpgt_epi64(a, zero));
  const __m256i negzero = _mm256_and_si256(_mm256_cmpeq_epi64(u, signmask), q.negzero_bad);
  const __m256i wrong = _mm256_or_si256(_mm256_or_si256(tiny, negzero), _mm256_cmpgt_epi64(r, q.max_bits));
  bad = _mm256_movemask_pd(_mm256_castsi256_pd(wrong));
  return _mm256_castsi256_pd(_mm256_or_si256(r, sign));
}

// 2^e for integer-valued doubles e in double's normal exponent range.
[[gnu::target("avx2"), gnu::always_inline]] inline __m256d pow2(__m256d e) {
  const __m256i e64 = _mm256_cvtepi32_epi64(_mm256_cvtpd_epi32(e));
  return _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(e64, _mm256_set1_epi64x(1023)), 52));
}

// floor(log2 |x|) of normal doubles, as doubles.
[[gnu::target("avx2"), gnu::always_inline]] inline __m256d ilogb(__m256d x) {
  const __m256i biased = _mm256_and_si256(_mm256_srli_epi64(_mm256_castpd_si256(x), 52), _mm256_set1_epi64x(0x7ff));
  const __m256d as_double = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(biased, _mm256_set1_epi64x(0x4330000000000000))),
                                          _mm256_set1_pd(0x1p52));
  return _mm256_sub_pd(as_double, _mm256_set1_pd(1023));
}

// One fused step for four outputs: c + the `terms` products a[t] * b[t*kFusedCols].
[[gnu::target("avx2")]] __m256d fused_step4(const MacConfig& cfg, const Lane& acc, __m256d c, const double* a,
                                            const double* ea, const double* b, const double* eb, int terms) {
  const __m256d neg_inf = _mm256_set1_pd(-INFINITY), inf = _mm256_set1_pd(INFINITY), zero = _mm256_setzero_pd();
  const __m256d absmask = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fffffffffffffff));
  // Alignment exponent: the largest over the accumulator and the nonzero products.
  const __m256d c_zero = _mm256_cmp_pd(c, zero, _CMP_EQ_OQ);
  __m256d emax = _mm256_blendv_pd(_mm256_max_pd(ilogb(c), _mm256_set1_pd(cfg.acc.format.emin())), neg_inf, c_zero);
  __m256d finite = _mm256_cmp_pd(_mm256_and_pd(c, absmask), inf, _CMP_LT_OQ);
  __m256d ieee_sum = c;  // the result when a term is not finite, or all are zero: IEEE addition in order
  for (int t = 0; t < terms; ++t) {
    const __m256d p = _mm256_mul_pd(_mm256_broadcast_sd(a + t), _mm256_loadu_pd(b + t * kFusedCols));
    const __m256d e = _mm256_add_pd(_mm256_broadcast_sd(ea + t), _mm256_loadu_pd(eb + t * kFusedCols));
    emax = _mm256_max_pd(emax, _mm256_blendv_pd(e, neg_inf, _mm256_cmp_pd(p, zero, _CMP_EQ_OQ)));
    finite = _mm256_and_pd(finite, _mm256_cmp_pd(_mm256_and_pd(p, absmask), inf, _CMP_LT_OQ));
    ieee_sum = _mm256_add_pd(ieee_sum, p);
  }
  const __m256d none = _mm256_cmp_pd(emax, neg_inf, _CMP_EQ_OQ);
  const __m256d emax_used = _mm256_blendv_pd(emax, zero, none);
  const __m256d align = _mm256_set1_pd(cfg.align_bits);
  const __m256d up = pow2(_mm256_sub_pd(align, emax_used)), down = pow2(_mm256_sub_pd(emax_used, align));
  // Truncated terms on the grid 2^(emax - align): integers whose sum stays below 2^53.
  __m256d sum = _mm256_round_pd(_mm256_mul_pd(c, up), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  for (int t = 0; t < terms; ++t) {
    const __m256d p = _mm256_mul_pd(_mm256_broadcast_sd(a + t), _mm256_loadu_pd(b + t * kFusedCols));
    sum = _mm256_add_pd(sum, _mm256_round_pd(_mm256_mul_pd(p, up), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC));
  }
  // The term at emax truncates to at least 2^align, so a zero sum is a cancellation: +0, as in fused_step.
  const __m256d aligned = _mm256_mul_pd(sum, down);
  const __m256d special = _mm256_or_pd(none, _mm256_andnot_pd(finite, _mm256_castsi256_pd(_mm256_set1_epi64x(-1))));
  int bad = 0;
  const __m256d r = round_bits(_mm256_blendv_pd(aligned, ieee_sum, special), acc, bad);
  if (!bad) return r;
  alignas(32) double cs[4], rs[4];
  _mm256_store_pd(cs, c);
  _mm256_store_pd(rs, r);
  MacCounts none_counted;
  for (int j = 0; j < 4; ++j)
    if (bad >> j & 1) rs[j] = fused_step(cfg, cs[j], a, b + j, kFusedCols, terms, {}, {}, 0, 0, none_counted);
  return _mm256_load_pd(rs);
}

// outer + x rounded once into the outer format (dot.cpp's add()).
[[gnu::target("avx2")]] __m256d add_outer(__m256d outer, __m256d x, const Lane& q, bool overflow_inf) {
  const __m256d s = _mm256_add_pd(outer, x);
  const __m256d bb = _mm256_sub_pd(s, outer);
  const __m256d e = _mm256_add_pd(_mm256_sub_pd(outer, _mm256_sub_pd(s, bb)), _mm256_sub_pd(x, bb));
  __m256i u = _mm256_castpd_si256(s);
  const __m256i one = _mm256_set1_epi64x(1), zero = _mm256_setzero_si256();
  const __m256i inexact = _mm256_castpd_si256(_mm256_cmp_pd(e, _mm256_setzero_pd(), _CMP_NEQ_UQ));
  const __m256i even = _mm256_cmpeq_epi64(_mm256_and_si256(u, one), zero);
  const __m256i diff = _mm256_cmpgt_epi64(zero, _mm256_xor_si256(_mm256_castpd_si256(e), u));  // signs differ
  u = _mm256_add_epi64(u, _mm256_and_si256(_mm256_and_si256(inexact, even), _mm256_or_si256(diff, one)));
  int bad = 0;
  const __m256d r = round_bits(_mm256_castsi256_pd(u), q, bad);
  if (!bad) return r;
  alignas(32) double xs[4], ys[4], rs[4];
  _mm256_store_pd(xs, outer);
  _mm256_store_pd(ys, x);
  _mm256_store_pd(rs, r);
  for (int j = 0; j < 4; ++j) {
    if (!(bad >> j & 1)) continue;
    const double exact = std::isfinite(xs[j]) && std::isfinite(ys[j]) ? sum_round_to_odd(xs[j], ys[j]) : xs[j] + ys[j];
    arith::golden_quantize(exact, q.r->format, q.r->rounding, {}, 0, rs[j]);  // a float format: never false
    if (overflow_inf) rs[j] = overflow_to_inf(exact, rs[j], *q.r, {}, 0);
  }
  return _mm256_load_pd(rs);
}

[[gnu::target("avx2")]] void row(const MacConfig& cfg, const double* a, const double* ea, const double* panel,
                                 const double* eb_panel, std::int64_t k, const double* addend, double* out) {
  const Lane acc_lane = make_lane(cfg.acc, cfg.zero_plus);
  const Lane outer_lane = make_lane(cfg.promote > 0 ? *cfg.outer : cfg.acc);
  const std::int64_t chunk = cfg.promote > 0 ? cfg.promote : std::max<std::int64_t>(k, 1);
  // C (D = A.B + C) starts the accumulator, or with promotion the outer accumulator (dot.hpp).
  const __m256d c_lo = addend ? _mm256_loadu_pd(addend) : _mm256_setzero_pd();
  const __m256d c_hi = addend ? _mm256_loadu_pd(addend + 4) : _mm256_setzero_pd();
  __m256d res[2] = {c_lo, c_hi}, acc[2] = {c_lo, c_hi};
  for (std::int64_t c0 = 0; c0 < k; c0 += chunk) {
    const std::int64_t c1 = std::min(k, c0 + chunk);
    if (cfg.promote > 0) acc[0] = acc[1] = _mm256_setzero_pd();
    for (std::int64_t g = c0; g < c1; g += cfg.fused_n) {
      const int terms = int(std::min<std::int64_t>(cfg.fused_n, c1 - g));
      for (int v = 0; v < 2; ++v)
        acc[v] = fused_step4(cfg, acc_lane, acc[v], a + g, ea + g, panel + g * kFusedCols + 4 * v,
                             eb_panel + g * kFusedCols + 4 * v, terms);
    }
    if (cfg.promote > 0)
      for (int v = 0; v < 2; ++v) res[v] = add_outer(res[v], acc[v], outer_lane, cfg.overflow_inf);
  }
  const __m256d* r = cfg.promote > 0 ? res : acc;
  _mm256_storeu_pd(out, r[0]);
  _mm256_storeu_pd(out + 4, r[1]);
}

}  // namespace

bool fused_lanes_apply(const MacConfig& cfg) {
  const bool avx2 = arith::use_avx2();  // arith/isa.hpp: the one dispatch switch
  // zero_exp, align=exact and c_late change the step itself: the golden fused_step alone does those.
  if (!avx2 || cfg.order != Order::Fused || cfg.interleave || cfg.product || cfg.zero_exp || cfg.align_exact ||
      cfg.c_late || cfg.prod_inf || cfg.scale != ScaleKind::None ||
      !narrow_double(cfg.acc))
    return false;
  if (cfg.promote > 0 && !narrow_double(*cfg.outer)) return false;
  // N + 1 truncated terms below 2^(align + 2) each: their sum below 2^53.
  const int n_bits = std::bit_width(unsigned(cfg.fused_n + 1));
  return cfg.align_bits >= 0 && cfg.align_bits + 2 + n_bits <= 53;
}

void fused_lanes_row(const MacConfig& cfg, const double* a, const double* ea, const double* panel,
                     const double* eb_panel, std::int64_t k, const double* addend, double* out) {
  row(cfg, a, ea, panel, eb_panel, k, addend, out);
}

void fused_nominal_exponents(const MacConfig& cfg, bool left, const double* x, double* e, std::int64_t n) {
  const auto& f = left ? cfg.a : cfg.b;
  for (std::int64_t i = 0; i < n; ++i) e[i] = x[i] != 0 && std::isfinite(x[i]) ? fused_align_exponent(x[i], f) : 0;
}

}  // namespace lpsim::sim
