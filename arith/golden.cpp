#include "arith/golden.hpp"

#include <bit>
#include <cmath>
#include <limits>

#include "arith/philox.hpp"

namespace lpsim::arith {

namespace {

using u128 = unsigned __int128;

// 2^k, exactly, for every k in [-1074, 1023] (the powers of two a double
// holds), from the binary64 fields: a normal exponent field, or one
// subnormal fraction bit. (Replaces std::ldexp here: glibc's ldexp goes
// through an errno wrapper that took ~45% of this model's time, which the
// long test pays 2^34 times. Same results: every product below is exact.)
double pow2(int k) {
  if (k >= -1022) return std::bit_cast<double>(std::uint64_t(k + 1023) << 52);
  return std::bit_cast<double>(std::uint64_t(1) << (k + 1074));
}

// Word j of the binary expansion of rem / 2^s: floor(rem * 2^(64(j+1) - s)) mod 2^64.
std::uint64_t frac_word(std::uint64_t rem, int s, int j) {
  const int t = 64 * (j + 1) - s;
  if (t >= 128 || t <= -64) return 0;
  if (t >= 0) return std::uint64_t(u128(rem) << t);
  return rem >> -t;
}

// overflow_value with the largest finite value `big` already at hand.
double overflow_result(const Format& f, Mode m, bool negative, double big) {
  bool to_inf = m == Mode::RNE || m == Mode::RNA || m == Mode::SR || (m == Mode::RU && !negative) ||
                (m == Mode::RD && negative);
  double v;
  if (f.saturate || !to_inf) v = big;
  else if (f.has_inf()) v = std::numeric_limits<double>::infinity();
  else if (f.has_nan()) return std::numeric_limits<double>::quiet_NaN();
  else v = big;
  return negative ? -v : v;
}

}  // namespace

double overflow_value(const Format& f, Mode m, bool negative) {
  return overflow_result(f, m, negative, f.max_finite());
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

  // a = m * 2^e exactly, m < 2^53, read from the binary64 fields: a normal
  // number is (2^52 + fraction) * 2^(field - 1075), a subnormal one
  // fraction * 2^-1074.
  const auto bits = std::bit_cast<std::uint64_t>(a);
  const int field = int(bits >> 52);
  const std::uint64_t fraction = bits & ((std::uint64_t(1) << 52) - 1);
  const std::uint64_t m = field != 0 ? fraction | (std::uint64_t(1) << 52) : fraction;
  const int e = (field != 0 ? field : 1) - 1075;
  const int ex = int(std::bit_width(m)) - 1 + e;  // floor(log2 a)

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
      out = val * pow2(-f.frac_bits) + 0.0;  // exact: a value of the format, which fits in a double
      return true;
    }
    const u128 hi = f.is_signed ? (modulus >> 1) - 1 : modulus - 1;   // largest magnitude above 0
    const u128 lo_mag = f.is_signed ? (modulus >> 1) : 0;             // largest magnitude below 0
    const u128 nn = n;
    double val;
    if (!negative) val = double(std::uint64_t(nn > hi ? hi : nn));
    else val = -double(std::uint64_t(nn > lo_mag ? lo_mag : nn));
    out = val * pow2(-f.frac_bits) + 0.0;  // exact, as above; + 0.0: fixed point has no -0
    return true;
  }

  // Float: n * 2^qe with n <= 2^(M+1).
  if (!f.subnormals && ex < f.emin()) {
    // Below the smallest normal: only a round-up to exactly 2^emin survives.
    const bool reaches = ex == f.emin() - 1 && n == (std::uint64_t(1) << (f.man_bits + 1));
    const double v = reaches ? f.min_normal() : 0.0;
    out = negative ? -v : v;
  } else {
    // n * 2^qe exactly: n <= 2^53 and 2^qe are doubles (qe >= emin - M >=
    // -1074 as the format fits in a double), and the product is a value of
    // the format or the step beyond (infinity only past double's range).
    const double v = double(n) * pow2(qe);
    out = negative ? -v : v;
    // Overflow needs a >= 2^emax (below, v <= 2^emax <= max_finite); the
    // test on ex first spares computing max_finite for every element.
    if (ex >= f.emax()) {
      const double big = f.max_finite();
      if (v > big) out = overflow_result(f, r.mode, negative, big);
    }
  }
  if (!f.has_negative_zero() && out == 0) out = 0.0;
  return true;
}

}  // namespace lpsim::arith
