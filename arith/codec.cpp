#include "arith/codec.hpp"

#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace lpsim::arith {

namespace {

void require_plain(const Format& f, const char* what) {
  if (f.kind == Kind::Scaled)
    throw std::invalid_argument(std::string(what) + ": \"" + f.spelling + "\" is a scaled format; encode its elements");
  if (!f.fits_in_double())
    throw std::invalid_argument(std::string(what) + ": values of \"" + f.spelling + "\" do not fit in a double");
}

[[noreturn]] void not_representable(double v, const Format& f) {
  std::ostringstream os;
  os.precision(17);
  os << "encode: " << v << " is not a value of \"" << f.spelling << "\"; quantize it first";
  throw std::invalid_argument(os.str());
}

}  // namespace

double decode(std::uint64_t code, const Format& f) {
  require_plain(f, "decode");
  const int W = f.bits();
  if (W < 64 && (code >> W) != 0)
    throw std::invalid_argument("decode: code 0x" + [&] { std::ostringstream o; o << std::hex << code; return o.str(); }() +
                                " has bits beyond the " + std::to_string(W) + " bits of \"" + f.spelling + "\"");
  if (f.kind == Kind::Fixed) {
    std::int64_t n;
    // Two's complement sign extension in unsigned arithmetic (2^(W-1) * 2
    // overflowed int64 for W = 63).
    if (f.is_signed && W < 64 && (code >> (W - 1)) & 1) n = std::int64_t(code | ~((std::uint64_t(1) << W) - 1));
    else n = std::int64_t(code);
    return std::ldexp(double(n), -f.frac_bits);
  }
  const int E = f.exp_bits, M = f.man_bits;
  const bool neg = (code >> (E + M)) & 1;
  const std::uint64_t ef = (code >> M) & ((std::uint64_t(1) << E) - 1);
  const std::uint64_t mf = code & ((std::uint64_t(1) << M) - 1);
  const std::uint64_t ef_all = (std::uint64_t(1) << E) - 1, mf_all = (std::uint64_t(1) << M) - 1;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (f.specials == Specials::FNUZ && neg && ef == 0 && mf == 0) return nan;
  if (f.specials == Specials::IEEE && ef == ef_all)
    return mf == 0 ? (neg ? -1.0 : 1.0) * std::numeric_limits<double>::infinity() : nan;
  if (f.specials == Specials::FN && !f.nonan && ef == ef_all && mf == mf_all) return nan;
  double mag;
  if (ef == 0) mag = f.subnormals ? std::ldexp(double(mf), f.emin() - M) : 0.0;
  else mag = std::ldexp(double((std::uint64_t(1) << M) + mf), int(ef) - f.bias - M);
  // Fix: a :nosub negative subnormal code of an fnuz format decoded to -0,
  // which is no value of the format (fnuz has no -0; docs/formats.md: -0 -> +0).
  if (mag == 0 && !f.has_negative_zero()) return 0.0;
  return neg ? -mag : mag;
}

std::uint64_t encode(double v, const Format& f) {
  require_plain(f, "encode");
  const int W = f.bits();
  if (f.kind == Kind::Fixed) {
    if (!std::isfinite(v)) not_representable(v, f);
    const double n = std::ldexp(v, f.frac_bits);
    if (n != std::nearbyint(n) || v < f.lowest() || v > f.max_finite()) not_representable(v, f);
    const auto bits = std::uint64_t(std::int64_t(n));
    return W >= 64 ? bits : bits & ((std::uint64_t(1) << W) - 1);
  }
  const int E = f.exp_bits, M = f.man_bits;
  const std::uint64_t sign_bit = std::uint64_t(1) << (E + M);
  const std::uint64_t ef_all = (std::uint64_t(1) << E) - 1;
  if (std::isnan(v)) {
    if (!f.has_nan()) not_representable(v, f);
    switch (f.specials) {
      case Specials::IEEE: return (ef_all << M) | (std::uint64_t(1) << (M - 1));  // quiet NaN
      case Specials::FN: return sign_bit - 1;                                    // all ones, + sign
      case Specials::FNUZ: return sign_bit;                                      // the -0 code
    }
  }
  // Fix: the sign bit was dropped for every negative number of a format
  // without -0 (fnuz). Only a zero loses its sign there (-0 encodes as +0,
  // the -0 code being NaN); negative numbers keep the sign bit.
  const bool negative = std::signbit(v) && (v != 0 || f.has_negative_zero());
  const std::uint64_t sign = negative ? sign_bit : 0;
  const double a = std::fabs(v);
  if (std::isinf(a)) {
    if (!f.has_inf()) not_representable(v, f);
    return sign | (ef_all << M);
  }
  if (a == 0) return sign;
  if (a > f.max_finite()) not_representable(v, f);
  std::uint64_t code;
  if (a < f.min_normal()) {
    if (!f.subnormals) not_representable(v, f);
    const double mf = std::ldexp(a, M - f.emin());
    if (mf != std::floor(mf)) not_representable(v, f);
    code = std::uint64_t(mf);
  } else {
    const int ex = std::ilogb(a);
    const double sig = std::ldexp(a, M - ex);  // in [2^M, 2^(M+1))
    if (sig != std::floor(sig)) not_representable(v, f);
    code = (std::uint64_t(ex + f.bias) << M) | (std::uint64_t(sig) - (std::uint64_t(1) << M));
  }
  return sign | code;
}

}  // namespace lpsim::arith
