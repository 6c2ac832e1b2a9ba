#include "arith/golden.hpp"

#include <cmath>
#include <limits>

#include "arith/philox.hpp"

namespace lpsim::arith {

namespace {

using u128 = unsigned __int128;

// Word j of the binary expansion of rem / 2^s: floor(rem * 2^(64(j+1) - s)) mod 2^64.
std::uint64_t frac_word(std::uint64_t rem, int s, int j) {
  const int t = 64 * (j + 1) - s;
  if (t >= 128 || t <= -64) return 0;
  if (t >= 0) return std::uint64_t(u128(rem) << t);
  return rem >> -t;
}

}  // namespace

double overflow_value(const Format& f, Mode m, bool negative) {
  const double big = f.max_finite();
  bool to_inf = m == Mode::RNE || m == Mode::RNA || m == Mode::SR || (m == Mode::RU && !negative) ||
                (m == Mode::RD && negative);
  double v;
  if (f.saturate || !to_inf) v = big;
  else if (f.has_inf()) v = std::numeric_limits<double>::infinity();
  else if (f.has_nan()) return std::numeric_limits<double>::quiet_NaN();
  else v = big;
  return negative ? -v : v;
}

namespace {

// Does the magnitude n (with discarded bits rem of s) round up one step?
// `odd` is the parity of the lower candidate's code.
bool rounds_up(Rounding r, bool negative, bool odd, std::uint64_t rem, int s, RandomKey key,
               std::uint64_t index) {
  if (rem == 0) return false;
  // Compare rem with half of 2^s; s can exceed 64 (then rem < 2^53 < half).
  const int cmp = s > 64 ? -1 : (s == 64 ? (rem < (std::uint64_t(1) << 63) ? -1 : rem == (std::uint64_t(1) << 63) ? 0 : 1)
                                         : (u128(rem) * 2 < (u128(1) << s) ? -1 : u128(rem) * 2 == (u128(1) << s) ? 0 : 1));
  switch (r.mode) {
    case Mode::RNE: return cmp > 0 || (cmp == 0 && odd);
    case Mode::RNA: return cmp >= 0;
    case Mode::RZ: return false;
    case Mode::RU: return !negative;
    case Mode::RD: return negative;
    case Mode::RO: return !odd;
    case Mode::SR: return sr_rounds_up(rem, s, r.sr_bits, key, index);
  }
  return false;
}

}  // namespace

bool sr_rounds_up(std::uint64_t rem, int s, int sr_bits, RandomKey key, std::uint64_t index) {
  if (sr_bits > 0) {
    // Fraction truncated to k bits = floor(rem * 2^k / 2^s), taken from word 0.
    const std::uint64_t f64 = frac_word(rem, s, 0);
    const std::uint64_t r64 = random_word(key.seed, key.stream, index, 0);
    return (r64 >> (64 - sr_bits)) < (f64 >> (64 - sr_bits));
  }
  const int words = (s + 63) / 64;  // the fraction has no bits beyond these words
  for (int j = 0; j < words; ++j) {
    const std::uint64_t fw = frac_word(rem, s, j);
    const std::uint64_t rw = random_word(key.seed, key.stream, index, std::uint32_t(j));
    if (rw != fw) return rw < fw;
  }
  return false;  // U >= fraction: every word equal and the fraction ends here
}

bool golden_quantize(double x, const Format& f, Rounding r, RandomKey key, std::uint64_t index,
                     double& out) {
  const double inf = std::numeric_limits<double>::infinity();
  const bool fixed = f.kind == Kind::Fixed;
  if (std::isnan(x)) {
    if (!f.has_nan()) return false;
    out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  const bool negative = std::signbit(x);
  const double a = std::fabs(x);
  if (a == inf) {
    if (fixed) out = negative ? f.lowest() : f.max_finite();
    else if (f.saturate || (!f.has_inf() && !f.has_nan())) out = negative ? -f.max_finite() : f.max_finite();
    else out = f.has_inf() ? x : std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (a == 0) {
    out = (negative && f.has_negative_zero()) ? -0.0 : 0.0;
    return true;
  }

  // a = m * 2^e exactly, m < 2^53.
  int fe;
  const double fr = std::frexp(a, &fe);                    // a = fr * 2^fe, fr in [0.5, 1)
  const auto m = std::uint64_t(std::ldexp(fr, 53));        // exact
  const int e = fe - 53;
  const int ex = fe - 1;                                   // floor(log2 a)

  // Quantum 2^qe of the result near a.
  int qe;
  if (fixed) qe = -f.frac_bits;
  else if (f.subnormals) qe = std::max(ex, f.emin()) - f.man_bits;
  else qe = ex - f.man_bits;  // :nosub rounds with the exponent unbounded below

  // n = floor(a / 2^qe), rem / 2^s = the discarded fraction.
  const int s = qe - e;
  std::uint64_t n, rem;
  if (s <= 0) {
    // Exact. Only fixed point can have -s large (a far above the quantum).
    if (-s >= 64 - 53 + 1 && fixed) {  // n would not fit: certainly beyond every W <= 64 range
      if (!f.wrap || -s >= f.width) {
        // saturate, or wrap of a multiple of 2^W: 0
        out = f.wrap ? 0.0 : (negative ? f.lowest() : f.max_finite());
        return true;
      }
      // wrap: n mod 2^W where n = m << -s and -s < W <= 64
      const u128 big = u128(m) << -s;
      n = std::uint64_t(big);  // mod 2^64, then mod 2^W below
    } else {
      n = m << -s;
    }
    rem = 0;
  } else {
    n = s >= 64 ? 0 : m >> s;
    rem = s >= 64 ? m : m & ((std::uint64_t(1) << s) - 1);
  }
  const bool odd = fixed ? (n & 1) : code_is_odd(f, n, qe);
  if (rounds_up(r, negative, odd, rem, s, key, index)) ++n;

  if (fixed) {
    // Signed value v = ±n, then range: saturate or wrap (two's complement).
    const int W = f.width;
    const u128 modulus = u128(1) << W;
    if (f.wrap) {
      u128 v = u128(n) % modulus;
      if (negative) v = (modulus - v) % modulus;  // -n mod 2^W
      // Map to [lo, hi]
      double val;
      if (f.is_signed && v >= (modulus >> 1)) val = -std::ldexp(double(std::uint64_t(modulus - v)), 0);
      else val = double(std::uint64_t(v));
      out = std::ldexp(val, -f.frac_bits) + 0.0;
      return true;
    }
    const u128 hi = f.is_signed ? (modulus >> 1) - 1 : modulus - 1;   // largest magnitude above 0
    const u128 lo_mag = f.is_signed ? (modulus >> 1) : 0;             // largest magnitude below 0
    const u128 nn = n;
    double val;
    if (!negative) val = double(std::uint64_t(nn > hi ? hi : nn));
    else val = -double(std::uint64_t(nn > lo_mag ? lo_mag : nn));
    out = std::ldexp(val, -f.frac_bits) + 0.0;  // + 0.0: fixed point has no -0
    return true;
  }

  // Float: n * 2^qe with n <= 2^(M+1).
  if (!f.subnormals && ex < f.emin()) {
    // Below the smallest normal: only a round-up to exactly 2^emin survives.
    const bool reaches = ex == f.emin() - 1 && n == (std::uint64_t(1) << (f.man_bits + 1));
    const double v = reaches ? f.min_normal() : 0.0;
    out = negative ? -v : v;
  } else {
    const double v = std::ldexp(double(n), qe);
    out = v > f.max_finite() ? overflow_value(f, r.mode, negative) : (negative ? -v : v);
  }
  if (!f.has_negative_zero() && out == 0) out = 0.0;
  return true;
}

}  // namespace lpsim::arith
