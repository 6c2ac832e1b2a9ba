// Scaled quantizers: a scale (and for minmax a zero point) per group, the
// elements rounded in "code space" by arith, then dequantized. Choices, with
// their sources:
//  - minmax (SBM, Banner et al. NeurIPS 2018; CPT, Fu et al. ICLR 2021):
//    asymmetric, scale = (max - min) / (2^b - 1), codes q in [0, 2^b - 1],
//    value = (q + zp) * scale. The SBM/CPT reference code offsets by min itself;
//    here the offset zp = round(min / scale) is an integer code and the range
//    is first widened to contain 0, so that 0 (padding, ReLU zeros) is exact,
//    as in integer-only inference (Jacob et al. CVPR 2018) and in the SBM code
//    (an integer zero point, "make zero exactly represented").
//  - offset (the CPT and FracTrain code, calculate_qparams/UniformQuantize):
//    asymmetric over [min, max] as found, offset by min itself: zp = min /
//    scale is not an integer, so 0 is not exact; no integer codes.
//  - absmax: symmetric, scale = amax / qmax with qmax = 2^(b-1) - 1 for signed
//    integers (the code -2^(b-1) unused, so the grid is symmetric), or the
//    largest finite value for minifloat elements (per-tensor FP8 scaling,
//    Micikevicius et al. 2022, "FP8 formats for deep learning").
//  - pow2: block floating point (Flexpoint, Koster et al. NeurIPS 2017; HBFP,
//    Drumond et al. NeurIPS 2018): the smallest power-of-two scale 2^e with
//    amax <= qmax * 2^e, so the largest magnitude fits without clipping.
//  - mx: OCP Microscaling Formats v1.0, section 6.3: X = 2^(floor(log2 amax) -
//    emax_elem), E8M0 so the exponent is clamped to [-127, 127]; elements
//    V / X rounded to the element format, saturating at its largest magnitude.
// A group whose elements are all zero is returned unchanged (no 0/0 scale).
#include "nn/quantizer.hpp"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "arith/isa.hpp"
#include "arith/quantize.hpp"

namespace lpsim::nn {

namespace {

using arith::Format;
using arith::Kind;
using arith::ScaleRule;
using Group = arith::ScaledSpec::Group;

// Why a scaled format cannot be applied, or empty when it can.
std::string unsupported(const Format& f) {
  const Format& e = *f.scaled.elem;
  if (e.kind == Kind::Fixed && e.width > 24) return "integer elements wider than 24 bits do not fit in float";
  if ((f.scaled.rule == ScaleRule::MinMax || f.scaled.rule == ScaleRule::Offset) && e.kind != Kind::Fixed)
    return "minmax and offset (asymmetric) need an integer element such as int8";
  if (f.scaled.rule == ScaleRule::AbsMax && e.kind == Kind::Fixed && e.is_signed && e.width < 2)
    return "absmax with signed integers needs at least 2 bits";
  if (e.kind == Kind::Float && !e.fits_in_float()) return "the element format does not fit in float";
  return {};
}

// Maps a flat element index to its group.
struct Grouping {
  Group kind = Group::Tensor;
  std::int64_t count = 1, inner = 1, channels = 1, row = 1, block = 1, blocks_per_row = 1;
  std::int64_t operator()(std::int64_t i) const {
    switch (kind) {
      case Group::Tensor: return 0;
      case Group::Channel: return (i / inner) % channels;
      case Group::Block: return (i / row) * blocks_per_row + (i % row) / block;
    }
    return 0;
  }
  // The end of the run of indices from i (< hi) that share i's group.
  std::int64_t run_end(std::int64_t i, std::int64_t hi) const {
    switch (kind) {
      case Group::Tensor: return hi;
      case Group::Channel: return std::min(hi, (i / inner + 1) * inner);
      case Group::Block: return std::min({hi, (i / row + 1) * row, (i / row) * row + ((i % row) / block + 1) * block});
    }
    return hi;
  }
};

// f(begin, end, group) over [0, n) in runs of one group, the chunks shared
// among threads (each run's loop is then plain enough to vectorise).
template <class F>
void for_each_run(const Grouping& g, std::int64_t n, F&& f) {
  constexpr std::int64_t kChunk = 1 << 14;
  const std::int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (n > (1 << 15))
  for (std::int64_t c = 0; c < chunks; ++c)
    for (std::int64_t i = c * kChunk, hi = std::min(n, i + kChunk); i < hi;) {
      const std::int64_t e = g.run_end(i, hi);
      f(i, e, g(i));
      i = e;
    }
}

// Extremes of in[b, e) and the first non-finite index (or e).
[[gnu::target_clones("avx2", "default")]] std::int64_t run_extremes_loop(const float* in, std::int64_t b,
                                                                        std::int64_t e, float& lo, float& hi) {
  float l = INFINITY, h = -INFINITY;
  int bad = 0;
  for (std::int64_t i = b; i < e; ++i) {
    const float x = in[i];
    l = x < l ? x : l;
    h = x > h ? x : h;
    bad |= !(std::fabs(x) <= FLT_MAX);
  }
  lo = l, hi = h;
  if (!bad) return e;
  std::int64_t i = b;
  while (std::fabs(in[i]) <= FLT_MAX) ++i;
  return i;
}

// run_extremes_loop in 16 lanes. A zero extreme may carry the other sign than
// the ordered scan's; no output can tell: a zero point of -0 or +0 gives the
// same t + zp and (t + zp) * scale for every input.
[[gnu::target("avx512f")]] std::int64_t run_extremes_avx512(const float* in, std::int64_t b, std::int64_t e,
                                                            float& lo, float& hi) {
  __m512 l = _mm512_set1_ps(INFINITY), h = _mm512_set1_ps(-INFINITY);
  const __m512 big = _mm512_set1_ps(FLT_MAX);
  __mmask16 bad = 0;
  for (std::int64_t i = b; i < e; i += 16) {
    const __mmask16 lanes = e - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (e - i)) - 1);
    const __m512 x = _mm512_maskz_loadu_ps(lanes, in + i);
    l = _mm512_mask_min_ps(l, lanes, x, l);
    h = _mm512_mask_max_ps(h, lanes, x, h);
    bad |= _mm512_mask_cmp_ps_mask(lanes, _mm512_abs_ps(x), big, _CMP_NLE_UQ);  // !(|x| <= FLT_MAX)
  }
  if (bad) {
    std::int64_t i = b;
    while (std::fabs(in[i]) <= FLT_MAX) ++i;
    return i;
  }
  alignas(64) float ls[16], hs[16];  // (GCC 12's _mm512_reduce_* trip -Wmaybe-uninitialized)
  _mm512_store_ps(ls, l);
  _mm512_store_ps(hs, h);
  lo = *std::min_element(ls, ls + 16), hi = *std::max_element(hs, hs + 16);
  return e;
}

std::int64_t run_extremes(const float* in, std::int64_t b, std::int64_t e, float& lo, float& hi) {
  if (arith::isa() >= arith::Isa::AVX512) return run_extremes_avx512(in, b, e, lo, hi);  // the one dispatch switch
  return run_extremes_loop(in, b, e, lo, hi);
}

Grouping make_grouping(const arith::ScaledSpec& s, std::span<const std::int64_t> shape, int axis, std::int64_t n) {
  Grouping g;
  g.kind = s.group;
  if (s.group == Group::Channel) {
    if (axis < 0 || axis >= int(shape.size()))
      throw std::invalid_argument("quantize_tensor: channel axis " + std::to_string(axis) + " outside a tensor of rank " +
                                  std::to_string(shape.size()));
    g.channels = shape[std::size_t(axis)];
    for (std::size_t d = std::size_t(axis) + 1; d < shape.size(); ++d) g.inner *= shape[d];
    g.count = g.channels;
  } else if (s.group == Group::Block) {
    g.row = shape.empty() ? 1 : shape.back();
    g.block = s.block;
    g.blocks_per_row = (g.row + g.block - 1) / g.block;
    g.count = g.row ? (n / g.row) * g.blocks_per_row : 0;
  }
  return g;
}

// How one group's elements map to codes: t = x / scale - zp, clamped to
// [lo, hi], rounded to the code format, value = (code + zp) * scale.
struct GroupMap {
  double scale = 1, zp = 0, lo = 0, hi = 0;
  double amax = 0;
  bool passthrough = false;  // all zero (offset: constant): returned as is
};

// Code-space values of in[b, e) under map m into t[0, e - b): x / scale - zp
// clamped, on-grid values snapped (see below).
template <bool IntegerCodes, bool FloatAbsmax>
[[gnu::always_inline]] inline void codes_loop(const float* in, double* t, std::int64_t b, std::int64_t e,
                                              const GroupMap& m) {
  for (std::int64_t i = b; i < e; ++i) {
    const double q = double(in[i]) / m.scale - m.zp;
    double v = q < m.lo ? m.lo : m.hi < q ? m.hi : q;  // std::clamp, signed zeros included
    if constexpr (IntegerCodes) {
      // x / scale is rounded in double: a value on the grid may land a few ulps
      // off its code, which a directed or stochastic rounding would move to the
      // neighbour. Snap such values (the bias is below 1e-9 of a code).
      const double near = std::rint(v), mag = std::fabs(v);
      v = std::fabs(v - near) <= 1e-9 * (1.0 < mag ? mag : 1.0) ? near : v;
    }
    if constexpr (FloatAbsmax)  // the maximum maps exactly
      v = std::fabs(in[i]) == m.amax ? std::copysign(m.hi, double(in[i])) : v;
    t[i - b] = v;
  }
}

// codes_loop<true, false> four at a time: the same operations in the same order.
[[gnu::target("avx2")]] void integer_codes_avx2(const float* in, double* t, std::int64_t b, std::int64_t e,
                                                const GroupMap& m) {
  const __m256d scale = _mm256_set1_pd(m.scale), zp = _mm256_set1_pd(m.zp), lo = _mm256_set1_pd(m.lo);
  const __m256d hi = _mm256_set1_pd(m.hi), one = _mm256_set1_pd(1.0), tol = _mm256_set1_pd(1e-9);
  const __m256d abs = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fffffffffffffff));
  std::int64_t i = b;
  for (; i + 4 <= e; i += 4) {
    const __m256d q = _mm256_sub_pd(_mm256_div_pd(_mm256_cvtps_pd(_mm_loadu_ps(in + i)), scale), zp);
    __m256d v = _mm256_blendv_pd(q, hi, _mm256_cmp_pd(hi, q, _CMP_LT_OQ));
    v = _mm256_blendv_pd(v, lo, _mm256_cmp_pd(q, lo, _CMP_LT_OQ));
    const __m256d near = _mm256_round_pd(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256d mag = _mm256_and_pd(v, abs);
    const __m256d bound = _mm256_mul_pd(tol, _mm256_blendv_pd(one, mag, _mm256_cmp_pd(one, mag, _CMP_LT_OQ)));
    const __m256d off = _mm256_and_pd(_mm256_sub_pd(v, near), abs);
    _mm256_storeu_pd(t + (i - b), _mm256_blendv_pd(v, near, _mm256_cmp_pd(off, bound, _CMP_LE_OQ)));
  }
  codes_loop<true, false>(in, t + (i - b), i, e, m);
}

// x / scale correctly rounded without a division (vdivpd is the slowest part
// of codes_loop), and proved so lane by lane: q0 = x y with y = RN(1 / scale),
// q = q0 + (x - q0 scale) y (two FMAs, Markstein's correction). q is accepted
// when the exact remainder r = x - q scale satisfies |r| < |scale| ulp(q) / 2,
// i.e. |x / scale - q| is below half an ulp of q: then q is the double nearest
// to x / scale. (r is exact whenever q is within an ulp of the quotient, and
// when it is not, |r| > |scale| ulp(q) / 2 fails the test.) Lanes where q is a
// power of two (a narrower ulp below it), zero or subnormal, or not finite are
// divided; x = 0 gives x y = x / scale exactly.
[[gnu::target("avx512f,avx512dq,avx512vl,fma")]] inline __m512d quotient_avx512(__m512d x, __m512d s, __m512d y,
                                                                               __m512d half_ulp_s) {
  const __m512i exp_bits = _mm512_set1_epi64(0x7ff0000000000000), man_bits = _mm512_set1_epi64(0x000fffffffffffff);
  const __m512d q0 = _mm512_mul_pd(x, y);
  const __m512d q = _mm512_fmadd_pd(_mm512_fnmadd_pd(q0, s, x), y, q0);
  const __m512d r = _mm512_fnmadd_pd(q, s, x);
  const __m512i qb = _mm512_castpd_si512(q);
  const __m512d pow = _mm512_castsi512_pd(_mm512_and_si512(qb, exp_bits));  // 2^e for q in [2^e, 2^(e+1)), 0 if subnormal
  __mmask8 ok = _mm512_cmp_pd_mask(_mm512_abs_pd(r), _mm512_mul_pd(pow, half_ulp_s), _CMP_LT_OQ) &
                _mm512_test_epi64_mask(qb, man_bits);
  const __mmask8 zero = _mm512_cmp_pd_mask(x, _mm512_setzero_pd(), _CMP_EQ_OQ);
  __m512d out = _mm512_mask_mov_pd(q, zero, q0);
  ok |= zero;
  if (ok != 0xff) [[unlikely]] out = _mm512_mask_div_pd(out, __mmask8(~ok), x, s);
  return out;
}

// codes_loop<true, false> eight at a time, its quotient from quotient_avx512.
[[gnu::target("avx512f,avx512dq,avx512vl,fma")]] void integer_codes_avx512(const float* in, double* t, std::int64_t b,
                                                                          std::int64_t e, const GroupMap& m) {
  const __m512d scale = _mm512_set1_pd(m.scale), zp = _mm512_set1_pd(m.zp), lo = _mm512_set1_pd(m.lo);
  const __m512d recip = _mm512_set1_pd(1.0 / m.scale);
  const __m512d half_ulp_s = _mm512_set1_pd(std::ldexp(std::fabs(m.scale), -53));  // exact: a power of two times scale
  const __m512d hi = _mm512_set1_pd(m.hi), one = _mm512_set1_pd(1.0), tol = _mm512_set1_pd(1e-9);
  // The half-ulp bound needs ulp(q) |scale| / 2 normal: scales far from 1 take codes_loop.
  if (!(std::fabs(m.scale) > 0x1p-900 && std::fabs(m.scale) < 0x1p900)) return codes_loop<true, false>(in, t, b, e, m);
  std::int64_t i = b;
  for (; i + 8 <= e; i += 8) {
    const __m512d x = _mm512_maskz_cvtps_pd(0xff, _mm256_loadu_ps(in + i));  // maskz: GCC 12 PR 105593
    const __m512d q = _mm512_sub_pd(quotient_avx512(x, scale, recip, half_ulp_s), zp);
    // q < lo ? lo : hi < q ? hi : q (NaN-free: inputs are finite)
    __m512d v = _mm512_mask_mov_pd(q, _mm512_cmp_pd_mask(hi, q, _CMP_LT_OQ), hi);
    v = _mm512_mask_mov_pd(v, _mm512_cmp_pd_mask(q, lo, _CMP_LT_OQ), lo);
    const __m512d near = _mm512_maskz_roundscale_pd(0xff, v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512d mag = _mm512_abs_pd(v);
    const __m512d bound = _mm512_mul_pd(tol, _mm512_mask_mov_pd(one, _mm512_cmp_pd_mask(one, mag, _CMP_LT_OQ), mag));
    const __m512d off = _mm512_abs_pd(_mm512_sub_pd(v, near));
    _mm512_storeu_pd(t + (i - b), _mm512_mask_mov_pd(v, _mm512_cmp_pd_mask(off, bound, _CMP_LE_OQ), near));
  }
  codes_loop<true, false>(in, t + (i - b), i, e, m);
}

void run_to_codes(const float* in, double* t, std::int64_t b, std::int64_t e, const GroupMap& m, bool integer_codes,
                  bool float_absmax) {
  const arith::Isa isa = arith::isa();  // arith/isa.hpp: the one dispatch switch
  if (integer_codes && isa >= arith::Isa::AVX512) integer_codes_avx512(in, t, b, e, m);
  else if (integer_codes && isa >= arith::Isa::AVX2) integer_codes_avx2(in, t, b, e, m);
  else if (integer_codes) codes_loop<true, false>(in, t, b, e, m);
  else if (float_absmax) codes_loop<false, true>(in, t, b, e, m);
  else codes_loop<false, false>(in, t, b, e, m);
}

double largest_code(const Format& e) {  // of the element viewed as integer codes or a minifloat
  if (e.kind == Kind::Float) return e.max_finite();
  return e.is_signed ? std::ldexp(1.0, e.width - 1) - 1 : std::ldexp(1.0, e.width) - 1;
}

GroupMap map_for(const Format& f, double mn, double mx) {
  const Format& e = *f.scaled.elem;
  GroupMap m;
  m.amax = std::max(std::fabs(mn), std::fabs(mx));
  if (m.amax == 0) {
    m.passthrough = true;
    return m;
  }
  const double qmax = largest_code(e);
  switch (f.scaled.rule) {
    case ScaleRule::MinMax: {
      const double lo = std::min(mn, 0.0), hi = std::max(mx, 0.0);
      m.hi = std::ldexp(1.0, e.width) - 1;
      m.scale = (hi - lo) / m.hi;
      m.zp = std::nearbyint(lo / m.scale);
      break;
    }
    case ScaleRule::Offset:  // a constant tensor is its own minimum: returned as is
      if (mx == mn) {
        m.passthrough = true;
        return m;
      }
      m.hi = std::ldexp(1.0, e.width) - 1;
      m.scale = (mx - mn) / m.hi;
      m.zp = mn / m.scale;
      break;
    case ScaleRule::AbsMax:
      m.scale = m.amax / qmax;
      m.hi = qmax;
      m.lo = e.kind == Kind::Float || e.is_signed ? -qmax : 0;
      break;
    case ScaleRule::Pow2: {
      int x = std::ilogb(m.amax) - std::ilogb(qmax);
      while (m.amax > std::ldexp(qmax, x)) ++x;
      while (m.amax <= std::ldexp(qmax, x - 1)) --x;
      m.scale = std::ldexp(1.0, x);
      m.hi = qmax;
      m.lo = e.kind == Kind::Float ? -qmax : e.is_signed ? -qmax - 1 : 0;
      break;
    }
    case ScaleRule::MX: {
      const int emax = e.kind == Kind::Float ? e.emax() : std::ilogb(e.max_finite());
      m.scale = std::ldexp(1.0, std::clamp(std::ilogb(m.amax) - emax, -127, 127));
      m.hi = e.max_finite();
      m.lo = e.lowest();
      break;
    }
  }
  return m;
}

// The format codes are rounded to: integer codes for minmax/absmax/pow2 with
// integer elements (the scale absorbs any fraction bits), else the element.
Format code_format(const Format& f) {
  const Format& e = *f.scaled.elem;
  if (e.kind == Kind::Fixed && f.scaled.rule != ScaleRule::MX) {
    const bool is_unsigned = f.scaled.rule == ScaleRule::MinMax || f.scaled.rule == ScaleRule::Offset || !e.is_signed;
    return arith::parse_format((is_unsigned ? "uint" : "int") + std::to_string(e.width));
  }
  return e;
}

void quantize_scaled(const QuantSpec& spec, const float* in, float* out, std::int64_t n,
                     std::span<const std::int64_t> shape, int axis, arith::RandomKey key, ScaledCodes* codes,
                     const TensorRange* range) {
  const Format& f = spec.format;
  if (const auto why = unsupported(f); !why.empty())
    throw std::invalid_argument("quantize_tensor: \"" + f.spelling + "\": " + why);
  const Grouping group = make_grouping(f.scaled, shape, axis, n);
  std::vector<double> mn(std::size_t(group.count), INFINITY), mx(std::size_t(group.count), -INFINITY);
  // Minima and maxima are exact whatever the order: threads reduce their own
  // share, then merge. The error names the first bad index for any thread count.
  // Each thread keeps its own extremes per group (indexed by thread number), merged after.
  const std::size_t threads = std::size_t(omp_get_max_threads()), groups = mn.size();
  std::vector<float> tmn(threads * groups, INFINITY), tmx(threads * groups, -INFINITY);
  std::vector<std::int64_t> tbad(threads, n);
  for_each_run(group, n, [&](std::int64_t b, std::int64_t e, std::int64_t g) {
    const std::size_t th = std::size_t(omp_get_thread_num()), k = th * groups + std::size_t(g);
    float lo, hi;
    const std::int64_t bad = run_extremes(in, b, e, lo, hi);
    if (bad < e) tbad[th] = std::min(tbad[th], bad);
    tmn[k] = std::min(tmn[k], lo);
    tmx[k] = std::max(tmx[k], hi);
  });
  const std::int64_t first_bad = *std::min_element(tbad.begin(), tbad.end());
  for (std::size_t th = 0; th < threads; ++th)
    for (std::size_t g = 0; g < groups; ++g)
      mn[g] = std::min(mn[g], double(tmn[th * groups + g])), mx[g] = std::max(mx[g], double(tmx[th * groups + g]));
  if (first_bad < n)
    throw std::domain_error("quantize_tensor: \"" + f.spelling + "\" met a non-finite value at index " +
                            std::to_string(first_bad));
  if (range) {
    if (group.count != 1)
      throw std::invalid_argument("quantize_tensor: \"" + f.spelling + "\": a given range needs per-tensor scaling");
    mn[0] = range->min, mx[0] = range->max;
  }
  std::vector<GroupMap> maps(std::size_t(group.count));
  for (std::size_t g = 0; g < maps.size(); ++g) maps[g] = map_for(f, mn[g], mx[g]);

  const bool integer_codes = code_format(f).kind == Kind::Fixed && f.scaled.rule != ScaleRule::MX;
  const bool float_absmax = f.scaled.rule == ScaleRule::AbsMax && !integer_codes;
  // Codes, rounding and dequantization one L1-sized block at a time, so the
  // double code-space values never leave the cache. Element i keeps random
  // index i, so the bits are those of one pass over the whole tensor.
  const Format cf = code_format(f);
  arith::quantize(static_cast<const double*>(nullptr), nullptr, 0, cf, spec.rounding, key, 0);  // throws here, not in a thread
  if (codes) {
    if (!integer_codes || f.scaled.rule == ScaleRule::Offset)
      throw std::invalid_argument("quantize_tensor: \"" + f.spelling + "\" has no integer codes");
    codes->code.resize(std::size_t(n));
    codes->scale.resize(maps.size());
    for (std::size_t g = 0; g < maps.size(); ++g) codes->scale[g] = maps[g].passthrough ? 1.0 : maps[g].scale;
  }
  float* code_out = codes ? codes->code.data() : nullptr;
  for_each_run(group, n, [&](std::int64_t b, std::int64_t e, std::int64_t g) {
    const GroupMap m = maps[std::size_t(g)];
    if (m.passthrough) {  // all zeros: codes 0
      std::copy(in + b, in + e, out + b);
      if (code_out) std::fill(code_out + b, code_out + e, 0.f);
      return;
    }
    constexpr std::int64_t kBlock = 2048;
    alignas(64) double t[kBlock];
    for (std::int64_t lo = b; lo < e; lo += kBlock) {
      const std::int64_t hi = std::min(e, lo + kBlock), len = hi - lo;
      run_to_codes(in, t, lo, hi, m, integer_codes, float_absmax);
      arith::quantize(t, t, std::size_t(len), cf, spec.rounding, key, std::uint64_t(lo));  // finite: cannot throw
      for (std::int64_t i = 0; i < len; ++i) out[lo + i] = float((t[i] + m.zp) * m.scale);
      if (code_out)
        for (std::int64_t i = 0; i < len; ++i) code_out[lo + i] = float(t[i] + m.zp);
    }
  });
}

}  // namespace

QuantSpec parse_quant(std::string_view format, std::string_view rounding) {
  QuantSpec q{arith::parse_format(format), arith::parse_rounding(rounding)};
  if (q.format.kind == Kind::Scaled)
    if (const auto why = unsupported(q.format); !why.empty())
      throw std::invalid_argument("invalid quantizer \"" + std::string(format) + "\": " + why);
  return q;
}

std::optional<std::pair<double, double>> code_range(const Format& f) {
  if (f.kind == Kind::Fixed) {
    if (f.frac_bits != 0) return std::nullopt;
    return std::pair{f.lowest(), f.max_finite()};
  }
  if (f.kind != Kind::Scaled || f.scaled.rule == ScaleRule::MX || f.scaled.elem->kind != Kind::Fixed)
    return std::nullopt;
  const Format& e = *f.scaled.elem;
  const double top = largest_code(e);
  switch (f.scaled.rule) {
    case ScaleRule::MinMax: return std::pair{-(std::ldexp(1.0, e.width) - 1), std::ldexp(1.0, e.width) - 1};
    case ScaleRule::AbsMax: return std::pair{e.is_signed ? -top : 0.0, top};
    case ScaleRule::Pow2: return std::pair{e.is_signed ? -top - 1 : 0.0, top};
    case ScaleRule::MX:
    case ScaleRule::Offset: break;  // real-valued zero points: no integer codes
  }
  return std::nullopt;
}

void quantize_tensor(const QuantSpec& spec, const float* in, float* out, std::span<const std::int64_t> shape,
                     int channel_axis, arith::RandomKey key, ScaledCodes* codes, const TensorRange* range) {
  std::int64_t n = 1;
  for (auto d : shape) {
    if (d < 0) throw std::invalid_argument("quantize_tensor: negative dimension " + std::to_string(d));
    n *= d;
  }
  if (codes) codes->code.clear(), codes->scale.assign(1, 1.0);
  if (n == 0) return;
  if (spec.format.kind != Kind::Scaled) {
    if (range)
      throw std::invalid_argument("quantize_tensor: \"" + spec.format.spelling + "\" takes no range (not scaled)");
    if (codes && !code_range(spec.format))
      throw std::invalid_argument("quantize_tensor: \"" + spec.format.spelling + "\" has no integer codes");
    arith::quantize(in, out, std::size_t(n), spec.format, spec.rounding, key, 0);
    if (codes) codes->code.assign(out, out + n);
    return;
  }
  quantize_scaled(spec, in, out, n, shape, channel_axis, key, codes, range);
}

}  // namespace lpsim::nn
