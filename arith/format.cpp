#include "arith/format.hpp"

#include <cmath>
#include <limits>

namespace lpsim::arith {

namespace {
bool is_float(const Format& f) { return f.kind == Kind::Float; }

// Largest mantissa field of a finite number in the top exponent field, or -1
// when the top exponent field holds no finite number. In 64 bits: the
// mantissa field has up to 52 bits (fix: `1 << man_bits` on int was undefined
// from 31 mantissa bits on, which garbled max_finite and emax of e8m31fn,
// e5m33fn, ...).
std::int64_t top_field_max_mantissa(const Format& f) {
  const std::int64_t all = (std::int64_t(1) << f.man_bits) - 1;
  switch (f.specials) {
    case Specials::IEEE: return -1;
    case Specials::FN: return f.nonan ? all : all - 1;  // all-ones code is NaN
    case Specials::FNUZ: return all;                    // NaN is 0x80, not in the top field
  }
  return -1;
}
}  // namespace

int Format::bits() const { return is_float(*this) ? 1 + exp_bits + man_bits : width; }

std::uint64_t Format::num_codes() const {
  const int b = bits();
  return b >= 64 ? 0 /* 2^64 does not fit; callers use bits() */ : (std::uint64_t(1) << b);
}

bool Format::has_inf() const { return is_float(*this) && specials == Specials::IEEE; }

bool Format::has_nan() const {
  if (!is_float(*this)) return false;
  switch (specials) {
    case Specials::IEEE: return man_bits > 0;  // e<E>m0 has infinities but no NaN code
    case Specials::FN: return !nonan;
    case Specials::FNUZ: return true;
  }
  return false;
}

bool Format::has_negative_zero() const {
  return is_float(*this) && specials != Specials::FNUZ;
}

int Format::emin() const { return is_float(*this) ? 1 - bias : -frac_bits; }

int Format::emax() const {
  if (!is_float(*this)) return std::ilogb(max_finite());
  const int top = (1 << exp_bits) - 1;
  return (top_field_max_mantissa(*this) >= 0 ? top : top - 1) - bias;
}

double Format::max_finite() const {
  if (!is_float(*this)) {
    const int mag = is_signed ? width - 1 : width;
    return std::ldexp(std::ldexp(1.0, mag) - 1.0, -frac_bits);
  }
  // The largest significand, an integer below 2^(M+1) <= 2^53: exact as a double.
  const std::int64_t tm = top_field_max_mantissa(*this);
  const double mant = tm >= 0 ? double((std::int64_t(1) << man_bits) + tm) : std::ldexp(1.0, man_bits + 1) - 1.0;
  return std::ldexp(mant, emax() - man_bits);
}

double Format::lowest() const {
  if (!is_float(*this)) return is_signed ? -std::ldexp(1.0, width - 1 - frac_bits) : 0.0;
  return -max_finite();
}

double Format::min_normal() const {
  return is_float(*this) ? std::ldexp(1.0, emin()) : std::ldexp(1.0, -frac_bits);
}

double Format::min_subnormal() const {
  if (!is_float(*this)) return std::ldexp(1.0, -frac_bits);
  return subnormals ? std::ldexp(1.0, emin() - man_bits) : min_normal();
}

double Format::epsilon() const {
  return is_float(*this) ? std::ldexp(1.0, -man_bits) : std::ldexp(1.0, -frac_bits);
}

namespace {
template <class T>
bool fits(const Format& f) {
  using L = std::numeric_limits<T>;
  const int min_lsb = L::min_exponent - L::digits;  // exponent of denorm_min: -149 / -1074
  if (f.kind == Kind::Float)
    return f.man_bits + 1 <= L::digits && f.emax() < L::max_exponent && f.emin() - f.man_bits >= min_lsb;
  if (f.kind == Kind::Fixed) {
    const int mag = f.is_signed ? f.width - 1 : f.width;
    return mag <= L::digits && -f.frac_bits >= min_lsb && f.width - f.frac_bits <= L::max_exponent;
  }
  return false;
}
}  // namespace

bool Format::fits_in_float() const { return fits<float>(*this); }
bool Format::fits_in_double() const { return fits<double>(*this); }

}  // namespace lpsim::arith
