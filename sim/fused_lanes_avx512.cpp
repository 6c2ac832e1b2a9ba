// fused_lanes_avx512 (fused_lanes.hpp): fused<N> tensor-core steps with the
// terms' sum in int32 lanes, 16 outputs per AVX-512 register, 4 rows a tile.
//
// Why it is exactly fused_step (dot.cpp), for the calls it takes:
//  - products: both operands are values of formats whose significands
//    together have at most 24 bits, finite, and every |a||b| lies in
//    [2^-126, 2^126] (checked on the data): a*b is exact in float.
//  - alignment: emax is the largest of C's exponent max(ilogb c, acc emin) and
//    the nonzero products' ea + eb, each max(ilogb x, operand emin), as
//    fused_step takes them (zeros carry -4096, so they never win). The scale
//    2^(align - emax) is a normal float (else the lane is redone), and p times
//    it is exact whenever it is at least 1 (a product of <= 24 bits scaled by
//    a power of two); below 1 it truncates to 0 however it rounds.
//  - truncation: vcvttps2dq truncates toward zero, as fused_step's trunc. A
//    product is below 2^(ea + eb + 2) <= 2^(emax + 2), so each truncated term
//    is at most 2^(align + 2) - 1 and N of them fit int32 (checked when the
//    path is chosen); C's term is below 2^(align + 1), added last with the
//    int32 overflow detected (such lanes are redone).
//  - rounding: the exact sum S, an int32, goes to float toward zero
//    (vcvtdq2ps with embedded RZ) and its sticky bit is set where the
//    conversion lost bits: S rounded to odd at 24 bits, from which one
//    rounding to p <= 22 bits in any deterministic mode is the rounding of S
//    itself; for a 24-bit accumulator only RZ is taken (the RZ conversion is
//    that rounding). Scaled back by 2^(emax - align), exact while normal, it
//    is rounded on its bits while the result is a normal, finite value of the
//    accumulator's format; every other lane (C or the step not finite, no
//    nonzero term, a scale out of range, a subnormal or overflowing result,
//    int32 overflow) is redone by fused_step itself. A zero sum is +0, as in
//    fused_step (a cancellation).
//  - promotion into an fp32 RNE outer accumulator: one IEEE float addition
//    is that rounding of the exact sum; MXCSR's DAZ and FTZ must be clear (the
//    path is refused otherwise), so subnormals are IEEE's.
#include <immintrin.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "arith/isa.hpp"
#include "sim/dot.hpp"
#include "sim/first_error.hpp"
#include "sim/fused_lanes.hpp"

namespace lpsim::sim {

namespace {

using arith::Kind;
using arith::Mode;

#define LPSIM_AVX512 gnu::target("avx512f,avx512dq,avx512bw,avx512vl")

constexpr std::int64_t kCols = 16, kTileRows = 8;
constexpr float kZeroExp = -4096.f;  // a zero's alignment exponent: never the largest
constexpr std::uint32_t kMxcsrDazFtz = 0x8040;
constexpr __mmask16 kAll = 0xffff;  // (maskz forms throughout: the plain ones start from an undefined vector, GCC PR 105593)

struct Plan {
  float align = 0, acc_emin = 0;
  int sh = 0;            // 23 - the accumulator's man_bits
  bool sticky = false;   // round to odd at 24 bits first (man_bits <= 22)
  Mode mode = Mode::RZ;
  std::uint32_t keep = 0, low = 0, half = 0, halfm1 = 0, min_normal = 0, max_bits = 0;
  bool negzero_bad = false;
  bool outer = false;  // promotion into fp32 RNE
};

bool deterministic(Mode m) { return m == Mode::RNE || m == Mode::RNA || m == Mode::RZ || m == Mode::RU || m == Mode::RD; }

// Significand bits of an operand format (24: fp32 values, no format).
int significand_bits(const std::optional<Rounded>& f) {
  if (!f) return 24;
  return f->format.kind == Kind::Float ? f->format.man_bits + 1 : 64;
}

bool plan_for(const MacConfig& cfg, Plan& p) {
  const auto& f = cfg.acc.format;
  if (f.kind != Kind::Float || f.man_bits > 23 || f.emin() < -126 || !(f.max_finite() <= 0x1.fffffep127) ||
      !deterministic(cfg.acc.rounding.mode) || (f.man_bits == 23 && cfg.acc.rounding.mode != Mode::RZ))
    return false;
  if (significand_bits(cfg.a) + significand_bits(cfg.b) > 24) return false;
  // N terms of at most 2^(align + 2) - 1 in int32; the scales 2^(align - emax) need align well inside float's range.
  if (cfg.align_bits > 28 || (std::int64_t(cfg.fused_n) * ((std::int64_t(1) << (cfg.align_bits + 2)) - 1)) > 0x7fffffff)
    return false;
  if (cfg.promote > 0 && !is_fp32_rne(*cfg.outer)) return false;
  p.align = float(cfg.align_bits);
  p.acc_emin = float(f.emin());
  p.sh = 23 - f.man_bits;
  p.sticky = f.man_bits <= 22;
  p.mode = cfg.acc.rounding.mode;
  const std::uint32_t low = p.sh ? (1u << p.sh) - 1 : 0;
  p.keep = ~low, p.low = low;
  p.half = p.sh ? 1u << (p.sh - 1) : 0, p.halfm1 = p.sh ? (1u << (p.sh - 1)) - 1 : 0;
  p.min_normal = std::bit_cast<std::uint32_t>(float(f.min_normal()));
  p.max_bits = std::bit_cast<std::uint32_t>(float(f.max_finite()));
  p.negzero_bad = !f.has_negative_zero() || cfg.zero_plus;
  p.outer = cfg.promote > 0;
  return true;
}

// The operands' alignment exponents (fused_step's: max(ilogb x, the operand
// format's emin)), zeros at kZeroExp, and the range of the nonzero values'
// true exponents; `finite` false on a value that is not finite.
struct Exps {
  float lo = 1e9f, hi = -1e9f;
  bool special = false;
};

// The running lanes of one call.
struct ExpLanes {
  __m512 lo, hi;
  __mmask16 special;
};

[[LPSIM_AVX512, gnu::always_inline]] inline ExpLanes start_lanes() {
  return {_mm512_set1_ps(1e9f), _mm512_set1_ps(-1e9f), 0};
}

[[LPSIM_AVX512]] void finish_lanes(const ExpLanes& v, Exps& r) {
  alignas(64) float lo[kCols], hi[kCols];  // (stored: GCC 12's reductions trip PR 105593)
  _mm512_store_ps(lo, v.lo), _mm512_store_ps(hi, v.hi);
  for (int j = 0; j < int(kCols); ++j) r.lo = std::min(r.lo, lo[j]), r.hi = std::max(r.hi, hi[j]);
  r.special |= v.special != 0;
}

// 16 values (lanes off `m` read as 0): their exponents, the values stored at v_out.
[[LPSIM_AVX512, gnu::always_inline]] inline void exps16(const float* x, __mmask16 m, __m512 emin, float* v_out,
                                                       float* e_out, ExpLanes& r) {
  const __m512 v = _mm512_maskz_loadu_ps(m, x);
  const __mmask16 nonzero = ~_mm512_fpclass_ps_mask(v, 0x06);
  r.special |= _mm512_fpclass_ps_mask(v, 0x99);  // NaN, +-inf
  const __m512 g = _mm512_maskz_getexp_ps(kAll, v);  // floor(log2 |v|), subnormals included (DAZ is clear)
  r.lo = _mm512_mask_min_ps(r.lo, nonzero, r.lo, g), r.hi = _mm512_mask_max_ps(r.hi, nonzero, r.hi, g);
  _mm512_storeu_ps(v_out, v);
  _mm512_storeu_ps(e_out, _mm512_mask_blend_ps(nonzero, _mm512_set1_ps(kZeroExp), _mm512_maskz_max_ps(kAll, g, emin)));
}

[[LPSIM_AVX512]] void row_exponents(const float* x, std::int64_t n, float emin, float* e, Exps& out) {
  alignas(64) float sink[kCols];
  ExpLanes r = start_lanes();
  const __m512 em = _mm512_set1_ps(emin);
  for (std::int64_t i = 0; i < n; i += kCols) {
    const std::int64_t w = std::min(kCols, n - i);
    if (w == kCols) {
      exps16(x + i, kAll, em, sink, e + i, r);
    } else {
      alignas(64) float tail[kCols];
      exps16(x + i, __mmask16((1u << w) - 1), em, sink, tail, r);
      std::copy(tail, tail + w, e + i);
    }
  }
  finish_lanes(r, out);
}

// Rows l of B's columns [j0, j0 + w) into a panel of 16 (zeros beyond w), with their exponents.
[[LPSIM_AVX512]] void pack_panel(const float* b, std::int64_t n, std::int64_t k, std::int64_t j0, std::int64_t w,
                                 float emin, float* dst, float* edst, Exps& out) {
  ExpLanes r = start_lanes();
  const __mmask16 m = w >= kCols ? kAll : __mmask16((1u << w) - 1);
  const __m512 em = _mm512_set1_ps(emin);
  for (std::int64_t l = 0; l < k; ++l) exps16(b + l * n + j0, m, em, dst + l * kCols, edst + l * kCols, r);
  finish_lanes(r, out);
}

void merge(Exps& into, const Exps& x) {
  into.lo = std::min(into.lo, x.lo), into.hi = std::max(into.hi, x.hi), into.special |= x.special;
}

[[LPSIM_AVX512, gnu::always_inline]] inline __m512 pow2(__m512 e) {
  return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(kAll, _mm512_add_epi32(_mm512_maskz_cvtps_epi32(kAll, e), _mm512_set1_epi32(127)), 23));
}

// x (exact, or rounded to odd at 24 bits) rounded on its bits into the
// accumulator's format; `bad` gains the lanes where that is not the rounding.
[[LPSIM_AVX512, gnu::always_inline]] inline __m512 round_bits(const Plan& p, __m512 x, __mmask16& bad) {
  const __m512i u = _mm512_castps_si512(x);
  const __m512i sign = _mm512_and_si512(u, _mm512_set1_epi32(int(0x80000000u)));
  const __m512i a = _mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff));
  const __m512i keep = _mm512_set1_epi32(int(p.keep));
  __m512i r;
  switch (p.mode) {
    case Mode::RNE: {
      const __m512i odd = _mm512_and_si512(_mm512_maskz_srli_epi32(kAll, a, unsigned(p.sh)), _mm512_set1_epi32(1));
      r = _mm512_and_si512(_mm512_add_epi32(a, _mm512_add_epi32(_mm512_set1_epi32(int(p.halfm1)), odd)), keep);
      break;
    }
    case Mode::RNA: r = _mm512_and_si512(_mm512_add_epi32(a, _mm512_set1_epi32(int(p.half))), keep); break;
    case Mode::RZ: r = _mm512_and_si512(a, keep); break;
    default: {  // RU, RD: away from zero on the side they round to
      const __m512i away = _mm512_and_si512(_mm512_add_epi32(a, _mm512_set1_epi32(int(p.low))), keep);
      const __m512i in = _mm512_and_si512(a, keep);
      const __mmask16 neg = _mm512_movepi32_mask(u);
      r = p.mode == Mode::RU ? _mm512_mask_blend_epi32(neg, away, in) : _mm512_mask_blend_epi32(neg, in, away);
    }
  }
  const __mmask16 tiny = _mm512_cmplt_epi32_mask(a, _mm512_set1_epi32(int(p.min_normal))) &
                         _mm512_cmpgt_epi32_mask(a, _mm512_setzero_si512());
  const __mmask16 over = _mm512_cmpgt_epi32_mask(r, _mm512_set1_epi32(int(p.max_bits)));
  const __mmask16 negzero =
      p.negzero_bad ? _mm512_cmpeq_epi32_mask(u, _mm512_set1_epi32(int(0x80000000u))) : __mmask16(0);
  bad |= tiny | over | negzero;
  return _mm512_castsi512_ps(_mm512_or_si512(r, sign));
}

// The lanes `bad` of one row's step (kept out of line, its buffers off the
// kernel's stack frame). Lanes of zeros only (C = +-0 and every product +-0:
// ReLU's zeros, convolution padding) are common: fused_step adds them as IEEE
// does, -0 only when every addend is -0, which the AND of their bits tells in
// the lanes; the accumulator keeps that zero where it has -0 and zero_sign is
// not pos (MacConfig::zero_plus), else +0. The rest by fused_step itself.
[[LPSIM_AVX512, gnu::noinline]] __m512 redo(const MacConfig& cfg, const Plan& p, __m512 c, __m512 res, __mmask16 bad,
                                           __mmask16 zeros, const float* a, const float* b, int terms) {
  if (zeros) {
    __m512i all = _mm512_castps_si512(c);
    for (int t = 0; t < terms; ++t)
      all = _mm512_and_si512(all, _mm512_castps_si512(_mm512_mul_ps(_mm512_loadu_ps(b + t * kCols), _mm512_set1_ps(a[t]))));
    const __mmask16 neg = p.negzero_bad ? __mmask16(0) : _mm512_movepi32_mask(all);
    res = _mm512_mask_blend_ps(zeros, res, _mm512_mask_blend_ps(neg, _mm512_setzero_ps(), _mm512_set1_ps(-0.f)));
    bad &= __mmask16(~zeros);
    if (!bad) return res;
  }
  alignas(64) float cs[kCols], rs[kCols];
  _mm512_store_ps(cs, c);
  _mm512_store_ps(rs, res);
  std::vector<double> ad(a, a + terms), bd(static_cast<std::size_t>(terms));
  MacCounts none;
  for (int j = 0; j < int(kCols); ++j) {
    if (!(bad >> j & 1)) continue;
    for (int t = 0; t < terms; ++t) bd[std::size_t(t)] = b[t * kCols + j];
    rs[j] = float(fused_step(cfg, cs[j], ad.data(), bd.data(), 1, terms, {}, {}, 0, 0, none));
  }
  return _mm512_load_ps(rs);
}

// One fused step for R rows x 16 columns: c[r] + the `terms` products
// a[r][t] * b[t * 16 + j]; lanes it cannot do are redone by fused_step.
template <int R, int T>
[[LPSIM_AVX512]] void step(const MacConfig& cfg, const Plan& p, __m512* c, const float* const* a,
                           const float* const* ea, const float* b, const float* eb, int runtime_terms) {
  const int terms = T > 0 ? T : runtime_terms;
  const __m512 align = _mm512_set1_ps(p.align);
  __m512 em[R];
  __mmask16 bad[R];
  for (int r = 0; r < R; ++r) {
    bad[r] = _mm512_fpclass_ps_mask(c[r], 0x99);  // NaN, +-inf
    const __mmask16 zero = _mm512_fpclass_ps_mask(c[r], 0x06);
    em[r] = _mm512_mask_blend_ps(zero, _mm512_maskz_max_ps(kAll, _mm512_maskz_getexp_ps(kAll, c[r]), _mm512_set1_ps(p.acc_emin)),
                                 _mm512_set1_ps(kZeroExp));
  }
#pragma GCC unroll 32
  for (int t = 0; t < terms; ++t) {
    const __m512 e = _mm512_loadu_ps(eb + t * kCols);
    for (int r = 0; r < R; ++r) em[r] = _mm512_maskz_max_ps(kAll, em[r], _mm512_add_ps(e, _mm512_set1_ps(ea[r][t])));
  }
  __m512 up[R], down[R];
  __m512i s[R];
  __mmask16 zeros[R];  // no nonzero term: every exponent is a zero's
  for (int r = 0; r < R; ++r) {
    zeros[r] = _mm512_cmp_ps_mask(em[r], _mm512_set1_ps(kZeroExp / 2), _CMP_LT_OQ) & __mmask16(~bad[r]);
    // 2^(align - emax) and its inverse normal floats: emax in [align - 126, align + 126] (none below: no term)
    const __m512 d = _mm512_sub_ps(align, em[r]);
    const __mmask16 ok = _mm512_cmp_ps_mask(d, _mm512_set1_ps(126.f), _CMP_LE_OQ) &
                         _mm512_cmp_ps_mask(d, _mm512_set1_ps(-126.f), _CMP_GE_OQ);
    bad[r] |= __mmask16(~ok);
    const __m512 dd = _mm512_mask_blend_ps(ok, _mm512_setzero_ps(), d);
    up[r] = pow2(dd);
    down[r] = pow2(_mm512_sub_ps(_mm512_setzero_ps(), dd));
    s[r] = _mm512_setzero_si512();
  }
#pragma GCC unroll 32
  for (int t = 0; t < terms; ++t) {
    const __m512 bv = _mm512_loadu_ps(b + t * kCols);
    for (int r = 0; r < R; ++r) {
      const __m512 q = _mm512_mul_ps(_mm512_mul_ps(bv, _mm512_set1_ps(a[r][t])), up[r]);
      s[r] = _mm512_add_epi32(s[r], _mm512_maskz_cvttps_epi32(kAll, q));
    }
  }
  for (int r = 0; r < R; ++r) {
    const __m512i ct = _mm512_maskz_cvttps_epi32(kAll, _mm512_mul_ps(c[r], up[r]));
    const __m512i tot = _mm512_add_epi32(s[r], ct);
    // signed overflow: both addends of one sign, the sum of the other
    bad[r] |= _mm512_movepi32_mask(_mm512_and_si512(_mm512_xor_si512(s[r], tot), _mm512_xor_si512(ct, tot)));
    __m512 f = _mm512_maskz_cvt_roundepi32_ps(kAll, tot, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    if (p.sticky) {
      const __mmask16 lost = _mm512_cmpneq_epi32_mask(_mm512_maskz_cvttps_epi32(kAll, f), tot);
      f = _mm512_castsi512_ps(_mm512_mask_or_epi32(_mm512_castps_si512(f), lost, _mm512_castps_si512(f),
                                                   _mm512_set1_epi32(1)));
    }
    const __m512 res = round_bits(p, _mm512_mul_ps(f, down[r]), bad[r]);
    if (!bad[r]) {
      c[r] = res;
      continue;
    }
    c[r] = redo(cfg, p, c[r], res, bad[r], zeros[r], a[r], b, terms);
  }
}

// R rows of one panel: out[r * kCols + j] before the output rounding.
template <int R>
[[LPSIM_AVX512]] void tile(const MacConfig& cfg, const Plan& p, const float* const* a, const float* const* ea,
                           const float* b, const float* eb, std::int64_t k, const float* const* addend, float* out) {
  __m512 acc[R], res[R];
  for (int r = 0; r < R; ++r) res[r] = acc[r] = addend[r] ? _mm512_loadu_ps(addend[r]) : _mm512_setzero_ps();
  const std::int64_t chunk = cfg.promote > 0 ? cfg.promote : std::max<std::int64_t>(k, 1);
  for (std::int64_t c0 = 0; c0 < k; c0 += chunk) {
    const std::int64_t c1 = std::min(k, c0 + chunk);
    if (p.outer)
      for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
    for (std::int64_t g = c0; g < c1; g += cfg.fused_n) {
      const int terms = int(std::min<std::int64_t>(cfg.fused_n, c1 - g));
      const float *ag[R], *eag[R];
      for (int r = 0; r < R; ++r) ag[r] = a[r] + g, eag[r] = ea[r] + g;
      // The presets' step lengths unrolled (the compiler keeps every term's loads and lanes in registers).
      switch (terms == cfg.fused_n ? terms : 0) {
        case 32: step<R, 32>(cfg, p, acc, ag, eag, b + g * kCols, eb + g * kCols, 32); break;
        case 16: step<R, 16>(cfg, p, acc, ag, eag, b + g * kCols, eb + g * kCols, 16); break;
        case 8: step<R, 8>(cfg, p, acc, ag, eag, b + g * kCols, eb + g * kCols, 8); break;
        case 4: step<R, 4>(cfg, p, acc, ag, eag, b + g * kCols, eb + g * kCols, 4); break;
        default: step<R, 0>(cfg, p, acc, ag, eag, b + g * kCols, eb + g * kCols, terms);
      }
    }
    if (p.outer)
      for (int r = 0; r < R; ++r) res[r] = _mm512_add_ps(res[r], acc[r]);
  }
  for (int r = 0; r < R; ++r) _mm512_storeu_ps(out + r * kCols, p.outer ? res[r] : acc[r]);
}

}  // namespace

bool fused_lanes_avx512(const MacConfig& cfg, const float* a, const float* b, const float* c, std::int64_t m,
                        std::int64_t n, std::int64_t k, const FusedRowSink& sink) {
  if (arith::isa() < arith::Isa::AVX512 || m <= 0 || n <= 0 || k <= 0 || cfg.fused_n > 4096) return false;
  if (_mm_getcsr() & kMxcsrDazFtz) return false;
  Plan p;
  if (!plan_for(cfg, p)) return false;
  // Alignment exponents, A as it is, B in panels of 16 columns (padding: zeros).
  const std::int64_t panels = (n + kCols - 1) / kCols;
  // (every element written below: no zeroing pass)
  const std::unique_ptr<float[]> ea(new float[std::size_t(m * k)]), bp(new float[std::size_t(panels * k * kCols)]),
      ebp(new float[std::size_t(panels * k * kCols)]);
  const float emin_a = float(fused_align_exponent(0x1p-1000, cfg.a)), emin_b = float(fused_align_exponent(0x1p-1000, cfg.b));
  Exps xa, xb;
#pragma omp parallel
  {
    Exps la, lb;
#pragma omp for schedule(static) nowait
    for (std::int64_t i = 0; i < m; ++i) row_exponents(a + i * k, k, emin_a, ea.get() + i * k, la);
#pragma omp for schedule(static) nowait
    for (std::int64_t pn = 0; pn < panels; ++pn) {
      const std::int64_t j0 = pn * kCols;
      pack_panel(b, n, k, j0, std::min(kCols, n - j0), emin_b, bp.get() + pn * k * kCols, ebp.get() + pn * k * kCols, lb);
    }
#pragma omp critical(lpsim_fused_lanes_avx512)
    merge(xa, la), merge(xb, lb);
  }
  // Products exact in float: every |a||b| in [2^-126, 2^126] (|x| in [2^l, 2^(l+1))).
  if (xa.special || xb.special) return false;
  if (xa.hi >= xa.lo && xb.hi >= xb.lo && (xa.lo + xb.lo < -126 || xa.hi + xb.hi + 2 > 126)) return false;
  FirstError errors;
  const std::int64_t row_tiles = (m + kTileRows - 1) / kTileRows;
#pragma omp parallel for schedule(dynamic, 2)
  for (std::int64_t t = 0; t < panels * row_tiles; ++t) {
    errors.run([&] {
      const std::int64_t pn = t / row_tiles, i0 = (t % row_tiles) * kTileRows, j0 = pn * kCols;
      const std::int64_t rows = std::min(kTileRows, m - i0), w = std::min(kCols, n - j0);
      const float *ar[kTileRows], *ear[kTileRows], *cr[kTileRows];
      alignas(64) float cbuf[kTileRows][kCols] = {}, out[kTileRows * kCols];
      for (std::int64_t r = 0; r < kTileRows; ++r) {
        const std::int64_t i = i0 + std::min(r, rows - 1);  // extra rows repeat the last; dropped
        ar[r] = a + i * k, ear[r] = ea.get() + i * k;
        cr[r] = nullptr;
        if (c) {
          for (std::int64_t j = 0; j < w; ++j) cbuf[r][j] = c[i * n + j0 + j];
          cr[r] = cbuf[r];
        }
      }
      const float* bq = bp.get() + pn * k * kCols;
      const float* ebq = ebp.get() + pn * k * kCols;
      tile<kTileRows>(cfg, p, ar, ear, bq, ebq, k, cr, out);
      for (std::int64_t r = 0; r < rows; ++r) {
        double row[kCols];
        for (std::int64_t j = 0; j < w; ++j) row[j] = out[r * kCols + j];
        sink(i0 + r, j0, w, row);
      }
    });
  }
  errors.rethrow();
  return true;
}

}  // namespace lpsim::sim
