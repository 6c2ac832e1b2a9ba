// Scaled quantizers: a scale (and for minmax a zero point) per group, the
// elements rounded in "code space" by arith, then dequantized. Choices, with
// their sources:
//  - minmax (SBM, Banner et al. NeurIPS 2018; CPT, Fu et al. ICLR 2021):
//    asymmetric, scale = (max - min) / (2^b - 1), codes q in [0, 2^b - 1],
//    value = (q + zp) * scale. The SBM/CPT reference code offsets by min itself;
//    here the offset zp = round(min / scale) is an integer code and the range
//    is first widened to contain 0, so that 0 (padding, ReLU zeros) is exact,
//    as in integer-only inference (Jacob et al. CVPR 2018).
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

#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

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
  if (f.scaled.rule == ScaleRule::MinMax && e.kind != Kind::Fixed)
    return "minmax (asymmetric) needs an integer element such as int8";
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
};

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
  bool passthrough = false;  // all zero: returned as is
};

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
    const bool is_unsigned = f.scaled.rule == ScaleRule::MinMax || !e.is_signed;
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
  const bool parallel = n > (1 << 15);
  std::int64_t first_bad = n;
#pragma omp parallel if (parallel)
  {
    std::vector<double> lmn(mn.size(), INFINITY), lmx(mx.size(), -INFINITY);
#pragma omp for schedule(static) reduction(min : first_bad)
    for (std::int64_t i = 0; i < n; ++i) {
      if (!std::isfinite(in[i])) {
        first_bad = std::min(first_bad, i);
        continue;
      }
      const auto g = std::size_t(group(i));
      lmn[g] = std::min(lmn[g], double(in[i]));
      lmx[g] = std::max(lmx[g], double(in[i]));
    }
#pragma omp critical(lpsim_quantize_minmax)
    for (std::size_t g = 0; g < mn.size(); ++g) mn[g] = std::min(mn[g], lmn[g]), mx[g] = std::max(mx[g], lmx[g]);
  }
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
  // Code-space values, every one written below: no serial zero-fill of megabytes.
  const std::unique_ptr<double[]> t_buf(new double[std::size_t(n)]);
  double* t = t_buf.get();
#pragma omp parallel for schedule(static) if (parallel)
  for (std::int64_t i = 0; i < n; ++i) {
    const GroupMap& m = maps[std::size_t(group(i))];
    if (m.passthrough) {  // rounded below with the rest, then ignored
      t[i] = 0;
      continue;
    }
    double v = std::clamp(double(in[i]) / m.scale - m.zp, m.lo, m.hi);
    // x / scale is rounded in double: a value on the grid may land a few ulps
    // off its code, which a directed or stochastic rounding would move to the
    // neighbour. Snap such values (the bias is below 1e-9 of a code).
    if (integer_codes && std::fabs(v - std::nearbyint(v)) <= 1e-9 * std::max(1.0, std::fabs(v))) v = std::nearbyint(v);
    if (float_absmax && std::fabs(in[i]) == m.amax) v = std::copysign(m.hi, in[i]);  // the maximum maps exactly
    t[i] = v;
  }
  arith::quantize(t, t, std::size_t(n), code_format(f), spec.rounding, key, 0);
  if (codes) {
    if (!integer_codes)
      throw std::invalid_argument("quantize_tensor: \"" + f.spelling + "\" has no integer codes");
    codes->code.resize(std::size_t(n));
    codes->scale.resize(maps.size());
    for (std::size_t g = 0; g < maps.size(); ++g) codes->scale[g] = maps[g].passthrough ? 1.0 : maps[g].scale;
  }
#pragma omp parallel for schedule(static) if (parallel)
  for (std::int64_t i = 0; i < n; ++i) {
    const GroupMap& m = maps[std::size_t(group(i))];
    const double code = m.passthrough ? 0.0 : t[i] + m.zp;  // a passthrough group is all zeros
    out[i] = m.passthrough ? in[i] : float(code * m.scale);
    if (codes) codes->code[std::size_t(i)] = float(code);
  }
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
    case ScaleRule::MX: break;
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
