#include "sim/dot.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "sim/exact_round.hpp"
#include "sim/exact_sum.hpp"
#include "sim/operands.hpp"
#include "sim/round_into.hpp"

namespace lpsim::sim {

namespace {

struct Ctx {
  const MacConfig& cfg;
  arith::RandomKey key;
  OutputSlot slot;
  MacCounts& counts;
  std::uint64_t index(std::uint64_t step) const { return step * slot.outputs + slot.index; }
};

double product(const Ctx& c, double a, double b, std::uint64_t step) {
  const double p = a * b;  // exact: operands have at most 24 significant bits each
  if (!c.cfg.product) return p;
  return round_into(p, *c.cfg.product, role_key(c.key, kRoleProd), c.index(step), c.counts, c.cfg.overflow_inf);
}

// x + y rounded once into r; counts the addition and a swamped addend.
double add(const Ctx& c, double x, double y, const Rounded& r, Role role, std::uint64_t step) {
  const double exact = std::isfinite(x) && std::isfinite(y) ? sum_round_to_odd(x, y) : x + y;
  const double s = round_into(exact, r, role_key(c.key, role), c.index(step), c.counts, c.cfg.overflow_inf);
  c.counts.additions += 1;
  if (x != 0 && y != 0 && (s == x || s == y)) c.counts.swamped += 1;
  return s;
}

// Exponent of a value for alignment: floor(log2 |x|), but not below the
// smallest normal exponent of its format (subnormals align at emin), as in
// the tensor-core model of MMA-Sim.
int align_exponent(double x, int emin) { return std::max(std::ilogb(x), emin); }


// An int64 as a double rounded to odd (exact when |v| < 2^53).
double int_round_to_odd(std::int64_t v) {
  const double hi = double(v);  // nearest
  const std::int64_t back = hi >= 0x1p63 ? std::numeric_limits<std::int64_t>::max() : std::int64_t(hi);
  return sum_round_to_odd(hi, double(v - back));
}

int operand_emin(const std::optional<Rounded>& f) {
  if (!f || f->format.kind != arith::Kind::Float) return std::numeric_limits<float>::min_exponent - 1;  // fp32: -126
  return f->format.emin();
}

// C's exponent in a step (kNone for a zero C unless zero_exp gives it one).
constexpr int kNone = std::numeric_limits<int>::min();

// c_late (AMD CDNA3; mac_config.hpp): the products' exact sum per split group
// on its own grid, the groups floored onto the coarsest, then that sum and C
// floored onto the grids below E' = max(E, e_C). has[t]/e[t]: the terms'
// alignment exponents (zeros only under zero_exp). Returns false when no term
// has an exponent (every term zero): the caller adds the zeros as IEEE does.
bool late_c_sum(const MacConfig& cfg, double c, int ec, const double* p, const int* e, const bool* has, int terms,
                double& exact, MacCounts& counts) {
  const int groups = cfg.split ? cfg.split : 1, align = cfg.align_bits;
  int eg[16];
  std::int64_t sg[16];
  int e_all = kNone;
  for (int q = 0; q < groups; ++q) {
    eg[q] = kNone;
    for (int t = q; t < terms; t += groups)
      if (has[t]) eg[q] = std::max(eg[q], e[t]);
    sg[q] = 0;
    if (eg[q] == kNone) continue;
    for (int t = q; t < terms; t += groups) {
      if (p[t] == 0) continue;
      const std::int64_t v = std::int64_t(std::trunc(std::ldexp(p[t], align - eg[q])));  // toward zero
      if (v == 0) counts.swamped += 1;
      sg[q] += v;
    }
    e_all = std::max(e_all, eg[q]);
  }
  // Floor (toward -inf) by 2^s of an int64: an arithmetic shift, s >= 63 leaving the sign.
  auto floor_shift = [](std::int64_t v, int s) { return s >= 63 ? (v < 0 ? -1 : 0) : v >> s; };
  std::int64_t sum = 0;  // on the grid 2^(e_all - align)
  for (int q = 0; q < groups; ++q)
    if (eg[q] != kNone) sum += groups > 1 ? floor_shift(sg[q], e_all - eg[q]) : sg[q];
  const int top = std::max(e_all, ec);
  if (top == kNone) return false;
  // The products' sum onto 2^(top - c_late) (finer or coarser), C onto 2^(top - align), both floored.
  std::int64_t total = 0;
  if (e_all != kNone) {
    const int k = (e_all - top) + (cfg.c_late - align);
    total = k >= 0 ? sum * (std::int64_t(1) << k) : floor_shift(sum, -k);
  }
  if (c != 0 && !(cfg.c_drop && ec < top - cfg.c_drop)) {
    const auto cq = std::int64_t(std::floor(std::ldexp(c, align - top)));
    total += cq * (std::int64_t(1) << (cfg.c_late - align));
  }
  exact = total == 0 ? 0.0 : std::ldexp(int_round_to_odd(total), top - cfg.c_late);
  return true;
}

}  // namespace

int fused_align_exponent(double x, const std::optional<Rounded>& f) { return align_exponent(x, operand_emin(f)); }

int scale_exponent(double s, ScaleKind kind) {
  return kind == ScaleKind::UE4M3 ? std::max(std::ilogb(s), -6) : std::ilogb(s);
}

bool is_scale_value(double s, ScaleKind kind) {
  if (std::isnan(s)) return true;  // the NaN code of either kind
  if (kind == ScaleKind::UE8M0) return s > 0 && s == std::ldexp(1.0, std::ilogb(s)) && std::abs(std::ilogb(s)) <= 127;
  if (!(s >= 0 && s <= 448)) return false;
  // e4m3 without a sign: 3 fraction bits below max(exponent, -6), down to 2^-9.
  const double q = std::ldexp(1.0, std::max(s == 0 ? -6 : std::ilogb(s), -6) - 3);
  return std::floor(s / q) * q == s;
}

double fused_step(const MacConfig& cfg, double c, const double* a, const double* b, std::int64_t sb, int terms,
                  arith::RandomKey key, OutputSlot slot, std::uint64_t acc_step, std::uint64_t prod_step,
                  MacCounts& counts, const TermScales* scales, std::int64_t first) {
  const Ctx ctx{cfg, key, slot, counts};
  // The step's terms: values v, alignment exponents e where has (nonzero terms, and zeros under zero_exp).
  double v[4096];
  int e[4096];
  bool has[4096];
  const int ea = operand_emin(cfg.a), eb = operand_emin(cfg.b);
  const int ep = cfg.product ? cfg.product->format.emin() : 0;
  for (int t = 0; t < terms; ++t) {
    e[t] = 0;
    v[t] = product(ctx, a[t], b[t * sb], prod_step + std::uint64_t(t));
    // A product's exponent is its factors' (each not below its format's emin) or, rounded, its own.
    // zero_exp: a zero factor takes that exponent, the other its own (MMA-Sim); a rounded product that is 0 too.
    has[t] = v[t] != 0 || (cfg.zero_exp && v[t] == 0);
    if (v[t] != 0 && std::isfinite(v[t]))
      e[t] = cfg.product ? align_exponent(v[t], ep) : align_exponent(a[t], ea) + align_exponent(b[t * sb], eb);
    else if (cfg.zero_exp && v[t] == 0)  // (a NaN product, inf * 0, takes the IEEE path: no exponent)
      e[t] = cfg.product ? *cfg.zero_exp
                         : (a[t] == 0 ? *cfg.zero_exp : align_exponent(a[t], ea)) +
                               (b[t * sb] == 0 ? *cfg.zero_exp : align_exponent(b[t * sb], eb));
  }
  int n = terms;
  if (scales) {
    // Block scales multiply the values (exactly: powers of two, or 4-bit significands) and add their
    // exponents; with subsum each run of products is first summed exactly (exact in double: the parser
    // checks the operand formats' span) and enters as one term whose exponent is its scales' alone,
    // whatever its value.
    auto scale_pair = [&](int t, double& s, int& es) {
      const std::int64_t q = (first + t) / cfg.block;
      const double x = scales->a[q], y = scales->b[q * scales->sb];
      s = x * y;
      // A zero (ue4m3) scale aligns as its code's exponent, -6, or under zero_exp as every zero does (MMA-Sim).
      auto ex = [&](double z) { return z == 0 && cfg.zero_exp ? *cfg.zero_exp : scale_exponent(z, cfg.scale); };
      es = std::isnan(s) ? 0 : ex(x) + ex(y);
    };
    if (!cfg.subsum) {
      for (int t = 0; t < terms; ++t) {
        double s;
        int es;
        scale_pair(t, s, es);
        v[t] *= s;
        e[t] += es;
        if (v[t] == 0) has[t] = cfg.zero_exp.has_value();  // a zero scale makes the term a zero
      }
    } else {
      n = 0;
      for (int t0 = 0; t0 < terms; t0 += cfg.subsum, ++n) {
        double sum = -0.0, s;  // -0: the IEEE sum of the run (-0 only if every product is -0)
        int es;
        for (int t = t0; t < std::min(terms, t0 + cfg.subsum); ++t) sum += v[t];
        scale_pair(t0, s, es);
        v[n] = sum * s;
        e[n] = es;
        has[n] = true;
      }
    }
  }
  bool finite = std::isfinite(c);
  for (int t = 0; t < n; ++t) finite &= std::isfinite(v[t]);
  auto ieee_sum = [&] {  // infinities, NaNs, and steps of zeros only: IEEE addition in order
    double x = c;
    for (int t = 0; t < n; ++t) x += v[t];
    return x;
  };
  double exact = 0;
  bool pos_over = false, neg_over = false;  // prod_overflow=inf: products beyond the accumulator's range
  if (cfg.prod_inf && finite) {
    const double limit = 2 * std::ldexp(1.0, std::ilogb(cfg.acc.format.max_finite()));
    for (int t = 0; t < n; ++t) pos_over |= v[t] >= limit, neg_over |= v[t] <= -limit;
  }
  if (!finite) {
    exact = ieee_sum();  // the alignment has no meaning
  } else if (pos_over || neg_over) {
    exact = pos_over && neg_over ? std::numeric_limits<double>::quiet_NaN() : pos_over ? INFINITY : -INFINITY;
  } else if (cfg.align_exact) {
    ExactSum sum;
    bool any = c != 0;
    sum.add(c);
    for (int t = 0; t < n; ++t) sum.add(v[t]), any |= v[t] != 0;
    exact = any ? sum.round_to_odd() : ieee_sum();  // an exact cancellation is +0, as below
  } else {
    int emax = kNone, zmax = kNone;  // over the nonzero terms; over the zeros with an exponent
    for (int t = 0; t < n; ++t)
      if (has[t]) (v[t] != 0 ? emax : zmax) = std::max(v[t] != 0 ? emax : zmax, e[t]);
    const int ec = c != 0 ? align_exponent(c, cfg.acc.format.emin()) : cfg.zero_exp ? *cfg.zero_exp : kNone;
    (c != 0 ? emax : zmax) = std::max(c != 0 ? emax : zmax, ec);
    if (emax == kNone) {  // zeros move the alignment only next to a nonzero term
      exact = ieee_sum();
    } else if (cfg.c_late) {
      late_c_sum(cfg, c, ec, v, e, has, n, exact, counts);
    } else {
      // Each term on the grid 2^(emax - align), truncated toward zero; the sum is exact in int64.
      emax = std::max(emax, zmax);
      const int shift = cfg.align_bits - emax;
      std::int64_t sum = c != 0 ? std::int64_t(std::trunc(std::ldexp(c, shift))) : 0;
      for (int t = 0; t < n; ++t) {
        if (v[t] == 0) continue;
        const std::int64_t q = std::int64_t(std::trunc(std::ldexp(v[t], shift)));
        if (q == 0) counts.swamped += 1;
        sum += q;
      }
      exact = sum == 0 ? 0.0 : std::ldexp(int_round_to_odd(sum), -shift);
    }
  }
  counts.additions += 1;
  const double r = round_into(exact, cfg.acc, role_key(key, kRoleAcc), ctx.index(acc_step), counts, cfg.overflow_inf);
  return cfg.zero_plus && r == 0 ? 0.0 : r;
}

double dot_golden(const MacConfig& cfg, const double* a, const double* b, std::int64_t sb, std::int64_t k,
                  arith::RandomKey key, OutputSlot slot, MacCounts& counts, const double* addend,
                  const TermScales* scales) {
  if (cfg.scale != ScaleKind::None && !scales)
    throw std::invalid_argument("the MAC " + cfg.spelling() + " is block-scaled: its dot products need the block scales");
  const Ctx ctx{cfg, key, slot, counts};
  double result = 0;
  if (cfg.order == Order::Pairwise) {
    std::vector<double> t(std::size_t(std::max<std::int64_t>(k, 0)));
    for (std::int64_t l = 0; l < k; ++l) t[std::size_t(l)] = product(ctx, a[l], b[l * sb], std::uint64_t(l));
    std::uint64_t step = 0;
    // The tree over terms [l0, l1): adjacent terms added level by level, an odd last term moving up unchanged.
    auto tree = [&](std::int64_t l0, std::int64_t l1) {
      double* u = t.data() + l0;
      const auto n = std::size_t(l1 - l0);
      if (n == 1) u[0] = round_into(u[0], cfg.acc, role_key(key, kRoleAcc), ctx.index(step++), counts, cfg.overflow_inf);
      for (std::size_t len = n; len > 1; len = (len + 1) / 2) {
        for (std::size_t i = 0; i < len / 2; ++i) u[i] = add(ctx, u[2 * i], u[2 * i + 1], cfg.acc, kRoleAcc, step++);
        if (len % 2) u[len / 2] = u[len - 1];
      }
      return u[0];
    };
    if (cfg.promote > 0) {
      // promote=<N>: a tree per N terms, each added into the outer accumulator, which starts from C.
      result = addend ? *addend : 0.0;
      std::uint64_t outer_step = 0;
      for (std::int64_t c0 = 0; c0 < k; c0 += cfg.promote)
        result = add(ctx, result, tree(c0, std::min<std::int64_t>(k, c0 + cfg.promote)), *cfg.outer, kRoleOuter, outer_step++);
    } else {
      result = k > 0 ? tree(0, k) : 0.0;
      if (addend) result = k > 0 ? add(ctx, *addend, result, cfg.acc, kRoleAcc, step++) : *addend;
    }
  } else {
    // seq, chunk<N> (seq with promotion) and fused<N> (with optional promotion).
    const std::int64_t chunk = cfg.promote > 0 ? cfg.promote : std::max<std::int64_t>(k, 1);
    const double c = addend ? *addend : 0.0;
    double outer = cfg.promote > 0 ? c : 0.0, acc = cfg.promote > 0 ? 0.0 : c;
    std::uint64_t acc_step = 0, outer_step = 0;
    for (std::int64_t c0 = 0; c0 < k; c0 += chunk) {
      const std::int64_t c1 = std::min(k, c0 + chunk);
      if (cfg.promote > 0) acc = 0;
      if (cfg.order == Order::Fused && cfg.interleave) {
        // Chunk term q goes to step (q / interleave) mod (promote / N); each step's terms in order, the
        // chunk's (possibly short) permuted sequence cut into steps of N.
        const std::int64_t steps = cfg.promote / cfg.fused_n, len = c1 - c0;
        std::vector<double> pa, pb;
        for (std::int64_t st = 0; st < steps; ++st)
          for (std::int64_t q = 0; q < len; ++q)
            if ((q / cfg.interleave) % steps == st) pa.push_back(a[c0 + q]), pb.push_back(b[(c0 + q) * sb]);
        for (std::int64_t g = 0; g < len; g += cfg.fused_n) {
          const int terms = int(std::min<std::int64_t>(cfg.fused_n, len - g));
          acc = fused_step(cfg, acc, pa.data() + g, pb.data() + g, 1, terms, key, slot, acc_step++,
                           std::uint64_t(c0 + g), counts);
        }
      } else if (cfg.order == Order::Fused) {
        for (std::int64_t g = c0; g < c1; g += cfg.fused_n) {
          const int terms = int(std::min<std::int64_t>(cfg.fused_n, c1 - g));
          acc = fused_step(cfg, acc, a + g, b + g * sb, sb, terms, key, slot, acc_step++, std::uint64_t(g), counts,
                           scales, g);
        }
      } else {
        for (std::int64_t l = c0; l < c1; ++l)
          acc = add(ctx, acc, product(ctx, a[l], b[l * sb], std::uint64_t(l)), cfg.acc, kRoleAcc, acc_step++);
      }
      if (cfg.promote > 0) outer = add(ctx, outer, acc, *cfg.outer, kRoleOuter, outer_step++);
    }
    result = cfg.promote > 0 ? outer : acc;
  }
  if (cfg.out) result = round_into(result, *cfg.out, role_key(key, kRoleOut), slot.index, counts, cfg.overflow_inf);
  if (cfg.nan_bits && std::isnan(result)) result = double(std::bit_cast<float>(*cfg.nan_bits));  // payload kept
  return result;
}

}  // namespace lpsim::sim
