// An exact oracle for the MAC model: every sum is a Boost rational, every
// rounding is derived from the definition (quantum, remainder, mode) without
// the engine's round-to-odd step or arith's golden model.
#pragma once

#include <boost/multiprecision/cpp_int.hpp>
#include <bit>
#include <cmath>
#include <limits>
#include <vector>

#include "sim/mac_config.hpp"

namespace lpsim::simtest {

using Z = boost::multiprecision::cpp_int;
using Q = boost::multiprecision::cpp_rational;

inline Q exact(double x) {
  int e;
  const double f = std::frexp(x, &e);
  const auto m = static_cast<long long>(std::ldexp(f, 53));
  Q q(m);
  return e - 53 >= 0 ? q * Q(Z(1) << (e - 53)) : q / Q(Z(1) << (53 - e));
}
inline Q pow2q(int e) { return e >= 0 ? Q(Z(1) << e) : Q(1) / Q(Z(1) << -e); }
inline double to_double(const Q& q) { return boost::multiprecision::numerator(q).convert_to<double>() /
                                              boost::multiprecision::denominator(q).convert_to<double>(); }
// floor(log2 a) for a > 0.
inline int floor_log2(const Q& a) {
  int e = int(std::floor(std::log2(to_double(a))));
  while (pow2q(e) > a) --e;
  while (pow2q(e + 1) <= a) ++e;
  return e;
}

// Exact value of a finite result, or a special.
struct Val {
  bool special = false;  // inf or NaN: `d` holds it
  double d = 0;
  Q q;
  static Val of(double x) { return std::isfinite(x) ? Val{false, x, exact(x)} : Val{true, x, Q(0)}; }
};

// Rounds the exact x into r (deterministic modes; M >= 1 for floats).
// A zero of the given sign where the format has -0 (IEEE-style floats), else +0.
inline Val signed_zero(bool neg, const arith::Format& f) {
  return Val::of(neg && f.kind == arith::Kind::Float && f.has_negative_zero() ? -0.0 : 0.0);
}

// overflow_inf: MacConfig::overflow_inf (beyond the largest finite value: +-inf in every mode).
inline Val round_exact(const Q& x, const sim::Rounded& r, bool overflow_inf = false) {
  using arith::Mode;
  const auto& f = r.format;
  const Mode m = r.rounding.mode;
  if (x == 0) return Val::of(0.0);
  const bool neg = x < 0;
  const Q a = neg ? Q(-x) : x;
  const int qe = f.kind == arith::Kind::Fixed ? -f.frac_bits
                 : f.subnormals ? std::max(floor_log2(a), f.emin()) - f.man_bits
                                : floor_log2(a) - f.man_bits;
  const Q quantum = pow2q(qe);
  const Q scaled = a / quantum;
  Z n = Z(boost::multiprecision::numerator(scaled) / boost::multiprecision::denominator(scaled));
  const Q rem = scaled - Q(n);
  bool up = false;
  if (rem != 0) {
    switch (m) {
      case Mode::RNE: up = rem > Q(1, 2) || (rem == Q(1, 2) && (n & 1) == 1); break;
      case Mode::RNA: up = rem >= Q(1, 2); break;
      case Mode::RZ: up = false; break;
      case Mode::RU: up = !neg; break;
      case Mode::RD: up = neg; break;
      case Mode::RO: up = (n & 1) == 0; break;
      case Mode::SR: throw std::logic_error("oracle: deterministic modes only");
    }
  }
  if (up) n += 1;
  Q mag = Q(n) * quantum;
  if (f.kind == arith::Kind::Fixed) {
    Z v = neg ? Z(-n) : n;
    const Z mod = Z(1) << f.width;
    const Z lo = f.is_signed ? Z(-(mod / 2)) : Z(0), hi = f.is_signed ? Z(mod / 2 - 1) : Z(mod - 1);
    if (v < lo || v > hi) {
      if (f.wrap) {
        v = ((v % mod) + mod) % mod;
        if (v > hi) v -= mod;
      } else {
        v = v < lo ? lo : hi;
      }
    }
    Q q = Q(v) * quantum;
    return Val{false, to_double(q), q};
  }
  if (!f.subnormals && mag < exact(f.min_normal())) return Val::of(neg ? -0.0 : 0.0);
  if (mag > exact(f.max_finite())) {
    const bool to_inf =
        m == Mode::RNE || m == Mode::RNA || (m == Mode::RU && !neg) || (m == Mode::RD && neg) || overflow_inf;
    double v;
    if (f.saturate || !to_inf) v = f.max_finite();
    else if (f.has_inf()) v = std::numeric_limits<double>::infinity();
    else if (f.has_nan()) return Val::of(std::numeric_limits<double>::quiet_NaN());
    else v = f.max_finite();
    return Val::of(neg ? -v : v);
  }
  const double d = to_double(mag);
  if (d == 0) return signed_zero(neg, f);  // underflow: a zero of the value's sign
  return Val{false, neg ? -d : d, neg ? Q(-mag) : mag};
}

// A Val rounded into r, zeros keeping their sign (IEEE 754: rounding -0 gives -0).
inline Val round_val(const Val& v, const sim::Rounded& r, bool overflow_inf = false) {
  if (!v.special && v.q == 0) return signed_zero(std::signbit(v.d), r.format);
  return round_exact(v.q, r, overflow_inf);
}

// An infinity or NaN stored into a format (docs/formats.md "Rounding").
inline Val special_into(double v, const sim::Rounded& r) {
  const auto& f = r.format;
  if (std::isnan(v)) {
    if (!f.has_nan()) throw std::domain_error("NaN into " + f.spelling);
    return Val::of(v);
  }
  const bool neg = v < 0;
  if (f.kind == arith::Kind::Fixed) return Val::of(neg ? f.lowest() : f.max_finite());
  if (f.saturate || (!f.has_inf() && !f.has_nan())) return Val::of(neg ? -f.max_finite() : f.max_finite());
  return f.has_inf() ? Val::of(v) : Val::of(std::numeric_limits<double>::quiet_NaN());
}

// x + y (exact when both finite) rounded into r.
// Zero signs (sim/README.md "Zeros"): -0 + -0 is -0; any other exact zero sum
// is +0 in every rounding mode (IEEE 754 gives -0 under RD: a documented choice).
inline Val add(const Val& x, const Val& y, const sim::Rounded& r, bool overflow_inf = false) {
  if (x.special || y.special) return special_into(x.d + y.d, r);
  const Q s = x.q + y.q;
  if (s == 0) return signed_zero(x.q == 0 && y.q == 0 && std::signbit(x.d) && std::signbit(y.d), r.format);
  return round_exact(s, r, overflow_inf);
}

// The MAC model of docs/formats.md, literally, on exact rationals. a, b: operands
// already in their formats. addend: D = A.B + C, C entering where dot.hpp says.
inline Val mac_oracle(const sim::MacConfig& c, const std::vector<double>& a, const std::vector<double>& b,
                      const double* addend = nullptr) {
  const std::size_t k = a.size();
  const bool ovf = c.overflow_inf;
  std::vector<Val> p(k);
  for (std::size_t l = 0; l < k; ++l) {
    const Val e = Val::of(a[l] * b[l]);  // products of <= 24-bit operands are doubles
    p[l] = !c.product ? e : e.special ? special_into(e.d, *c.product) : round_val(e, *c.product, ovf);
  }
  Val result = Val::of(0.0);
  if (c.order == sim::Order::Pairwise) {
    auto tree = [&](std::vector<Val> t) {
      if (t.size() == 1) t[0] = t[0].special ? special_into(t[0].d, c.acc) : round_val(t[0], c.acc, ovf);
      while (t.size() > 1) {
        std::vector<Val> u;
        for (std::size_t i = 0; i + 1 < t.size(); i += 2) u.push_back(add(t[i], t[i + 1], c.acc, ovf));
        if (t.size() % 2) u.push_back(t.back());
        t = u;
      }
      return t[0];
    };
    if (c.promote) {
      result = Val::of(addend ? *addend : 0.0);
      for (std::size_t c0 = 0; c0 < k; c0 += std::size_t(c.promote))
        result = add(result, tree({p.begin() + long(c0), p.begin() + long(std::min(k, c0 + std::size_t(c.promote)))}),
                     *c.outer, ovf);
    } else {
      if (k) result = tree(p);
      if (addend) result = k ? add(Val::of(*addend), result, c.acc, ovf) : Val::of(*addend);
    }
  } else {
    const std::size_t chunk = c.promote ? std::size_t(c.promote) : std::max<std::size_t>(k, 1);
    const Val cv = Val::of(addend ? *addend : 0.0);
    Val outer = c.promote ? cv : Val::of(0.0), acc = c.promote ? Val::of(0.0) : cv;
    for (std::size_t c0 = 0; c0 < k; c0 += chunk) {
      if (c.promote) acc = Val::of(0.0);
      const std::size_t c1 = std::min(k, c0 + chunk);
      // interleave: the chunk's terms reordered, term q to step (q / interleave) mod (promote / N).
      std::vector<double> ia(a.begin(), a.end()), ib(b.begin(), b.end());
      std::vector<Val> ip(p.begin(), p.end());
      if (c.order == sim::Order::Fused && c.interleave) {
        const std::size_t steps = std::size_t(c.promote / c.fused_n), g = std::size_t(c.interleave);
        std::size_t at = c0;
        for (std::size_t st = 0; st < steps; ++st)
          for (std::size_t q = 0; q < c1 - c0; ++q)
            if ((q / g) % steps == st) ia[at] = a[c0 + q], ib[at] = b[c0 + q], ip[at] = p[c0 + q], ++at;
      }
      const std::vector<double>& a_ = c.interleave ? ia : a;
      const std::vector<double>& b_ = c.interleave ? ib : b;
      const std::vector<Val>& p_ = c.interleave ? ip : p;
      if (c.order == sim::Order::Fused) {
        for (std::size_t g = c0; g < c1; g += std::size_t(c.fused_n)) {
          const std::size_t g1 = std::min(c1, g + std::size_t(c.fused_n));
          bool special = acc.special;
          double dsum = acc.d;
          for (std::size_t l = g; l < g1; ++l) special |= p_[l].special, dsum += p_[l].d;
          if (special) { acc = special_into(dsum, c.acc); continue; }
          if (c.prod_inf) {  // a product beyond the accumulator's binades: +-inf, NaN with both signs
            const Q limit = pow2q(floor_log2(exact(c.acc.format.max_finite())) + 1);
            bool pos = false, neg = false;
            for (std::size_t l = g; l < g1; ++l) pos |= p_[l].q >= limit, neg |= p_[l].q <= -limit;
            if (pos || neg) {
              acc = special_into(pos && neg ? std::numeric_limits<double>::quiet_NaN() : pos ? INFINITY : -INFINITY, c.acc);
              continue;
            }
          }
          // nominal exponents: operand exponents (not below their format's emin) added
          auto ex = [](double v, int emin) { return std::max(floor_log2(exact(std::fabs(v))), emin); };
          const int ea = c.a && c.a->format.kind == arith::Kind::Float ? c.a->format.emin() : -126;
          const int eb = c.b && c.b->format.kind == arith::Kind::Float ? c.b->format.emin() : -126;
          constexpr int kNone = std::numeric_limits<int>::min();
          int emax = kNone, zmax = kNone;  // zmax: the zeros' exponents under zero_exp
          const int z = c.zero_exp.value_or(0);
          for (std::size_t l = g; l < g1; ++l) {
            if (p_[l].q != 0)
              emax = std::max(emax, c.product ? ex(p_[l].d, c.product->format.emin()) : ex(a_[l], ea) + ex(b_[l], eb));
            else if (c.zero_exp)
              zmax = std::max(zmax, c.product ? z : (a_[l] == 0 ? z : ex(a_[l], ea)) + (b_[l] == 0 ? z : ex(b_[l], eb)));
          }
          const int ec = acc.q != 0 ? ex(acc.d, c.acc.format.emin()) : c.zero_exp ? z : kNone;
          if (acc.q != 0) emax = std::max(emax, ec);
          else zmax = std::max(zmax, ec);
          if (emax == kNone) { acc = Val::of(c.zero_plus ? 0.0 : dsum); continue; }
          if (c.align_exact) {  // the exact sum, rounded once
            Q s = acc.q;
            for (std::size_t l = g; l < g1; ++l) s += p_[l].q;
            acc = s == 0 ? Val::of(0.0) : round_exact(s, c.acc, ovf);
            if (c.zero_plus && acc.q == 0) acc = Val::of(0.0);
            continue;
          }
          if (c.c_late) {
            // AMD CDNA3 (MMA-Sim amd_fused_dot_rd_add): products per split group truncated onto 2^(E_g - align),
            // groups floored onto 2^(E - align), then that sum floored onto 2^(E' - c_late) and C onto
            // 2^(E' - align), E' = max(E, e_C); C dropped below E' - c_drop.
            auto floor_to = [](const Q& v, const Q& q) {
              const Q t = v / q;
              Z n = boost::multiprecision::numerator(t) / boost::multiprecision::denominator(t);
              if (Q(n) > t) n -= 1;  // toward -inf
              return Q(n) * q;
            };
            auto trunc_to = [](const Q& v, const Q& q) {
              const Q t = v / q;
              return Q(Z(boost::multiprecision::numerator(t) / boost::multiprecision::denominator(t))) * q;
            };
            const std::size_t groups = c.split ? std::size_t(c.split) : 1;
            std::vector<int> eg(groups, kNone);
            std::vector<Q> sg(groups, Q(0));
            for (std::size_t l = g; l < g1; ++l) {
              const std::size_t q = (l - g) % groups;
              if (p_[l].q != 0) eg[q] = std::max(eg[q], c.product ? ex(p_[l].d, c.product->format.emin()) : ex(a_[l], ea) + ex(b_[l], eb));
              else if (c.zero_exp) eg[q] = std::max(eg[q], c.product ? z : (a_[l] == 0 ? z : ex(a_[l], ea)) + (b_[l] == 0 ? z : ex(b_[l], eb)));
            }
            int e_all = kNone;
            for (std::size_t q = 0; q < groups; ++q) e_all = std::max(e_all, eg[q]);
            Q sum = 0;
            for (std::size_t l = g; l < g1; ++l) {
              const std::size_t q = (l - g) % groups;
              if (p_[l].q != 0) sg[q] += trunc_to(p_[l].q, pow2q(eg[q] - c.align_bits));
            }
            for (std::size_t q = 0; q < groups; ++q)
              if (eg[q] != kNone) sum += groups > 1 ? floor_to(sg[q], pow2q(e_all - c.align_bits)) : sg[q];
            const int top = std::max(e_all, ec);
            Q total = e_all != kNone ? floor_to(sum, pow2q(top - c.c_late)) : Q(0);
            if (acc.q != 0 && !(c.c_drop && ec < top - c.c_drop)) total += floor_to(acc.q, pow2q(top - c.align_bits));
            acc = total == 0 ? Val::of(0.0) : round_exact(total, c.acc, ovf);
            if (c.zero_plus && acc.q == 0) acc = Val::of(0.0);
            continue;
          }
          emax = std::max(emax, zmax);
          const Q grid = pow2q(emax - c.align_bits);
          auto trunc = [&](const Q& v) {
            const Q t = v / grid;
            const Z n = boost::multiprecision::numerator(t) / boost::multiprecision::denominator(t);  // toward zero
            return Q(n) * grid;
          };
          Q s = trunc(acc.q);
          for (std::size_t l = g; l < g1; ++l) s += trunc(p_[l].q);
          acc = round_exact(s, c.acc, ovf);
          if (c.zero_plus && !acc.special && acc.q == 0) acc = Val::of(0.0);
        }
      } else {
        for (std::size_t l = c0; l < c1; ++l) acc = add(acc, p_[l], c.acc, ovf);
      }
      if (c.promote) outer = add(outer, acc, *c.outer, ovf);
    }
    result = c.promote ? outer : acc;
  }
  if (c.out) result = result.special ? special_into(result.d, *c.out) : round_val(result, *c.out, ovf);
  if (c.nan_bits && result.special && std::isnan(result.d)) result.d = double(std::bit_cast<float>(*c.nan_bits));
  return result;
}

// Block-scaled MMA (scale=, block=, subsum=), literally: fused steps whose terms are the products times
// their two scales with exponent (factors' + scales'), or with subsum the exact sum of each run of products
// times its scales with the scales' exponent alone; sa[q], sb[q] the scales of block q.
inline Val scaled_oracle(const sim::MacConfig& c, const std::vector<double>& a, const std::vector<double>& b,
                         const std::vector<double>& sa, const std::vector<double>& sb, const double* addend = nullptr) {
  constexpr int kNone = std::numeric_limits<int>::min();
  auto ex = [](double v, int emin) { return std::max(floor_log2(exact(std::fabs(v))), emin); };
  auto sx = [&](double v) {
    if (v == 0) return c.zero_exp ? *c.zero_exp : -6;  // a zero ue4m3 scale: its code's exponent, or zero_exp
    return c.scale == sim::ScaleKind::UE4M3 ? ex(v, -6) : floor_log2(exact(v));
  };
  const int ea = c.a->format.emin(), eb = c.b->format.emin();
  const int z = c.zero_exp.value_or(0);
  Val acc = Val::of(addend ? *addend : 0.0);
  const std::size_t k = a.size(), n = std::size_t(c.fused_n);
  for (std::size_t g = 0; g < k; g += n) {
    struct Term { double d; Q q; int e; bool has; };
    std::vector<Term> t;
    const std::size_t run = c.subsum ? std::size_t(c.subsum) : 1;
    for (std::size_t l0 = g; l0 < std::min(k, g + n); l0 += run) {
      const std::size_t q = l0 / std::size_t(c.block);
      const double s = sa[q] * sb[q];
      double d = -0.0;  // the IEEE sum of the run's values (for zeros and specials)
      Q v = 0;
      for (std::size_t l = l0; l < l0 + run; ++l) d += a[l] * b[l] * s, v += exact(a[l]) * exact(b[l]);
      const int es = std::isnan(s) ? 0 : sx(sa[q]) + sx(sb[q]);
      if (!std::isfinite(d)) { t.push_back({d, 0, 0, false}); continue; }
      v *= exact(sa[q]) * exact(sb[q]);
      if (c.subsum) t.push_back({d, v, es, true});
      else if (v != 0) t.push_back({d, v, ex(a[l0], ea) + ex(b[l0], eb) + es, true});
      else t.push_back({d, v, (a[l0] == 0 ? z : ex(a[l0], ea)) + (b[l0] == 0 ? z : ex(b[l0], eb)) + es, bool(c.zero_exp)});
    }
    bool special = acc.special;
    double dsum = acc.d;
    for (const auto& x : t) special |= !std::isfinite(x.d), dsum += x.d;
    if (special) { acc = special_into(dsum, c.acc); continue; }
    int emax = kNone, zmax = kNone;
    for (const auto& x : t)
      if (x.has) (x.q != 0 ? emax : zmax) = std::max(x.q != 0 ? emax : zmax, x.e);
    if (acc.q != 0) emax = std::max(emax, ex(acc.d, c.acc.format.emin()));
    else if (c.zero_exp) zmax = std::max(zmax, z);
    if (emax == kNone) { acc = Val::of(c.zero_plus ? 0.0 : dsum); continue; }
    emax = std::max(emax, zmax);
    const Q grid = pow2q(emax - c.align_bits);
    auto trunc = [&](const Q& v) {
      const Q r = v / grid;
      return Q(Z(boost::multiprecision::numerator(r) / boost::multiprecision::denominator(r))) * grid;
    };
    Q sum = trunc(acc.q);
    for (const auto& x : t) sum += trunc(x.q);
    acc = sum == 0 ? Val::of(0.0) : round_exact(sum, c.acc, c.overflow_inf);
    if (c.zero_plus && acc.q == 0) acc = Val::of(0.0);
  }
  if (c.out) acc = acc.special ? special_into(acc.d, *c.out) : round_val(acc, *c.out, c.overflow_inf);
  if (c.nan_bits && acc.special && std::isnan(acc.d)) acc.d = double(std::bit_cast<float>(*c.nan_bits));
  return acc;
}

}  // namespace lpsim::simtest
