#include "sim/dot.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <vector>

#include "sim/exact_round.hpp"
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

}  // namespace

int fused_align_exponent(double x, const std::optional<Rounded>& f) { return align_exponent(x, operand_emin(f)); }

double fused_step(const MacConfig& cfg, double c, const double* a, const double* b, std::int64_t sb, int terms,
                  arith::RandomKey key, OutputSlot slot, std::uint64_t acc_step, std::uint64_t prod_step,
                  MacCounts& counts) {
  const Ctx ctx{cfg, key, slot, counts};
  double p[4096];
  int e[4096];
  bool finite = std::isfinite(c);
  for (int t = 0; t < terms; ++t) {
    p[t] = product(ctx, a[t], b[t * sb], prod_step + std::uint64_t(t));
    finite &= std::isfinite(p[t]);
  }
  double exact;
  if (!finite) {
    // Infinities and NaNs follow IEEE addition; the alignment has no meaning.
    exact = c;
    for (int t = 0; t < terms; ++t) exact += p[t];
  } else {
    const int ea = operand_emin(cfg.a), eb = operand_emin(cfg.b);
    const int ep = cfg.product ? cfg.product->format.emin() : 0;
    constexpr int kNone = std::numeric_limits<int>::min();
    int emax = kNone, zmax = kNone;  // over the nonzero terms; over the zeros (zero_exp)
    for (int t = 0; t < terms; ++t) {
      if (p[t] == 0) {
        // zero_exp: a zero factor takes that exponent, the other its own (MMA-Sim); a rounded product that is 0, zero_exp.
        if (cfg.zero_exp)
          zmax = std::max(zmax, cfg.product ? *cfg.zero_exp
                                            : (a[t] == 0 ? *cfg.zero_exp : align_exponent(a[t], ea)) +
                                                  (b[t * sb] == 0 ? *cfg.zero_exp : align_exponent(b[t * sb], eb)));
        continue;
      }
      e[t] = cfg.product ? align_exponent(p[t], ep)
                         : align_exponent(a[t], ea) + align_exponent(b[t * sb], eb);  // nominal exponent of a*b
      emax = std::max(emax, e[t]);
    }
    if (c != 0) emax = std::max(emax, align_exponent(c, cfg.acc.format.emin()));
    else if (cfg.zero_exp) zmax = std::max(zmax, *cfg.zero_exp);
    if (emax != kNone) emax = std::max(emax, zmax);  // zeros move the alignment only next to a nonzero term
    if (emax == kNone) {
      exact = c;  // every term is zero: IEEE signed-zero addition
      for (int t = 0; t < terms; ++t) exact += p[t];
    } else {
      // Each term on the grid 2^(emax - align), truncated toward zero; the sum is exact in int64.
      const int shift = cfg.align_bits - emax;
      std::int64_t sum = c != 0 ? std::int64_t(std::trunc(std::ldexp(c, shift))) : 0;
      for (int t = 0; t < terms; ++t) {
        if (p[t] == 0) continue;
        const std::int64_t q = std::int64_t(std::trunc(std::ldexp(p[t], shift)));
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
                  arith::RandomKey key, OutputSlot slot, MacCounts& counts, const double* addend) {
  const Ctx ctx{cfg, key, slot, counts};
  double result = 0;
  if (cfg.order == Order::Pairwise) {
    // Adjacent terms are added level by level; an odd last term moves up unchanged.
    std::vector<double> t(std::size_t(std::max<std::int64_t>(k, 0)));
    for (std::int64_t l = 0; l < k; ++l) t[std::size_t(l)] = product(ctx, a[l], b[l * sb], std::uint64_t(l));
    std::uint64_t step = 0;
    if (k == 1) {
      t[0] = round_into(t[0], cfg.acc, role_key(key, kRoleAcc), ctx.index(step++), counts, cfg.overflow_inf);
    }
    for (std::size_t len = t.size(); len > 1; len = (len + 1) / 2) {
      for (std::size_t i = 0; i < len / 2; ++i) t[i] = add(ctx, t[2 * i], t[2 * i + 1], cfg.acc, kRoleAcc, step++);
      if (len % 2) t[len / 2] = t[len - 1];
    }
    result = k > 0 ? t[0] : 0.0;
    if (addend) result = k > 0 ? add(ctx, *addend, result, cfg.acc, kRoleAcc, step++) : *addend;
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
          acc = fused_step(cfg, acc, a + g, b + g * sb, sb, terms, key, slot, acc_step++, std::uint64_t(g), counts);
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
