#include "oracle.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "arith/philox.hpp"

namespace lpsim::oracle {

namespace {

// Sign of a - b by cross-multiplication (denominators are positive): the
// same exact comparison as Q's operator<, without its division-based
// algorithm, which dominates the run time of the exhaustive suites.
int compare(const Q& a, const Q& b) {
  using boost::multiprecision::denominator;
  using boost::multiprecision::numerator;
  const Z l = numerator(a) * denominator(b), r = numerator(b) * denominator(a);
  return l < r ? -1 : l > r ? 1 : 0;
}

Z floor_nonneg(const Q& q) {
  // q >= 0: truncating integer division is the floor.
  return boost::multiprecision::numerator(q) / boost::multiprecision::denominator(q);
}

}  // namespace

// ---- exact conversions ------------------------------------------------------

Q pow2(int e) {
  if (e >= 0) return Q(Z(1) << e);
  return Q(Z(1), Z(1) << -e);
}

Q exact(double x) {
  // From the IEEE 754 binary64 layout directly: sign, 11-bit exponent field,
  // 52-bit fraction; value = (2^52 + frac) * 2^(ef - 1075), or frac * 2^-1074.
  const auto u = std::bit_cast<std::uint64_t>(x);
  const int ef = int((u >> 52) & 0x7FF);
  const std::uint64_t frac = u & ((std::uint64_t(1) << 52) - 1);
  if (ef == 0x7FF) throw std::invalid_argument("oracle::exact: not finite");
  Z sig = ef == 0 ? Z(frac) : Z(frac | (std::uint64_t(1) << 52));
  const int e = ef == 0 ? -1074 : ef - 1075;
  if (u >> 63) sig = -sig;
  return e >= 0 ? Q(sig << e) : Q(sig, Z(1) << -e);
}

std::optional<double> to_double(const Q& q) {
  using boost::multiprecision::lsb;
  using boost::multiprecision::msb;
  if (q == 0) return 0.0;
  const Z num = boost::multiprecision::numerator(q), den = boost::multiprecision::denominator(q);
  if ((den & (den - 1)) != 0) return std::nullopt;  // not dyadic
  const int k = int(msb(den));                      // den = 2^k
  Z a = num < 0 ? Z(-num) : num;
  const int t = int(lsb(a));
  a >>= t;                                          // odd
  const int bits = int(msb(a)) + 1;
  const int low = t - k, high = low + bits - 1;     // exponents of the lowest and highest bit
  if (bits > 53 || low < -1074 || high > 1023) return std::nullopt;
  const double mag = std::ldexp(double(a.convert_to<std::uint64_t>()), low);
  return num < 0 ? -mag : mag;
}

double ceil_double(const Q& q) {
  if (const auto d = to_double(q)) return *d;
  const double inf = std::numeric_limits<double>::infinity();
  double d = q.convert_to<double>();  // near q; then step to the smallest double >= q
  if (std::isinf(d)) d = std::numeric_limits<double>::max();
  while (compare(exact(d), q) < 0) {
    d = std::nextafter(d, inf);
    if (std::isinf(d)) return inf;
  }
  for (;;) {
    const double below = std::nextafter(d, -inf);
    if (compare(exact(below), q) < 0) return d;
    d = below;
  }
}

// ---- specs ------------------------------------------------------------------

int FloatSpec::bias() const {
  return explicit_bias ? *explicit_bias : (1 << (E - 1)) - 1 + (sp == Sp::FNUZ ? 1 : 0);
}

std::string FloatSpec::spelling() const {
  // (one stream, not string +=: GCC 12 raises a false -Wrestrict on the latter)
  std::ostringstream s;
  s << 'e' << E << 'm' << M << (sp == Sp::FN ? "fn" : sp == Sp::FNUZ ? "fnuz" : "") << (nosub ? ":nosub" : "")
    << (sat ? ":sat" : "") << (nonan ? ":nonan" : "");
  if (explicit_bias) s << ":bias=" << *explicit_bias;
  return s.str();
}

bool FloatSpec::legal() const {
  if (nonan && sp != Sp::FN) return false;
  if (sp == Sp::IEEE && E < 2) return false;
  if (sp == Sp::FN && !nonan && E == 1 && M == 0) return false;
  return true;
}

std::string FixedSpec::spelling() const {
  return std::string(is_signed ? "fx" : "ufx") + std::to_string(W) + "." + std::to_string(F) + (wrap ? ":wrap" : "");
}

Z FixedSpec::n_min() const { return is_signed ? Z(-(Z(1) << (W - 1))) : Z(0); }
Z FixedSpec::n_max() const { return is_signed ? Z((Z(1) << (W - 1)) - 1) : Z((Z(1) << W) - 1); }

std::string Outcome::str() const {
  switch (kind) {
    case Kind::NaN: return "NaN";
    case Kind::Error: return "error";
    case Kind::Value: return describe(value);
  }
  return "?";
}

// ---- decoding (docs/formats.md) -----------------

Decoded decode(const FloatSpec& s, std::uint64_t code) {
  const int E = s.E, M = s.M;
  if (1 + E + M > 63) throw std::invalid_argument("oracle::decode: formats up to 63 bits");
  if (code >> (1 + E + M)) throw std::invalid_argument("oracle::decode: code too wide");
  const std::uint64_t e_all = (std::uint64_t(1) << E) - 1, m_all = (std::uint64_t(1) << M) - 1;
  const bool neg = (code >> (E + M)) & 1;
  const std::uint64_t ef = (code >> M) & e_all, mf = code & m_all;
  Decoded d;
  d.negative = neg;
  switch (s.sp) {
    case Sp::IEEE:  // all-ones exponent: infinity (mantissa 0) or NaN
      if (ef == e_all) {
        d.kind = mf == 0 ? Decoded::Kind::Inf : Decoded::Kind::NaN;
        return d;
      }
      break;
    case Sp::FN:  // only the all-ones magnitude is NaN, unless :nonan
      if (!s.nonan && ef == e_all && mf == m_all) {
        d.kind = Decoded::Kind::NaN;
        return d;
      }
      break;
    case Sp::FNUZ:  // the negative-zero code is NaN
      if (neg && ef == 0 && mf == 0) {
        d.kind = Decoded::Kind::NaN;
        return d;
      }
      break;
  }
  const int bias = s.bias();
  if (ef == 0) {
    // subnormal: 0.mf * 2^(1 - bias); flushed to zero under :nosub
    d.mag = s.nosub ? Q(0) : Q(Z(mf)) * pow2(1 - bias - M);
    if (d.mag == 0 && s.sp == Sp::FNUZ) d.negative = false;  // fnuz has no -0: a flushed code is +0
  } else {
    d.mag = Q(Z((std::uint64_t(1) << M) | mf)) * pow2(int(ef) - bias - M);
  }
  return d;
}

Decoded decode(const FixedSpec& s, std::uint64_t code) {
  if (s.W < 64 && (code >> s.W)) throw std::invalid_argument("oracle::decode: code too wide");
  Z n = code;
  if (s.is_signed && ((code >> (s.W - 1)) & 1)) n -= Z(1) << s.W;  // two's complement
  Decoded d;
  d.negative = n < 0;
  d.mag = Q(d.negative ? Z(-n) : n) * pow2(-s.F);
  return d;
}

// ---- minifloat rounding -----------------------------------------------------

FloatOracle::FloatOracle(const FloatSpec& s) : s_(s) {
  const int width = 1 + s.E + s.M;
  // Enumerates every code: exhaustive checks are for the narrow formats.
  if (width > 24) throw std::invalid_argument("oracle::FloatOracle: formats up to 24 bits");
  const std::uint64_t sign = std::uint64_t(1) << (s.E + s.M);
  for (std::uint64_t c = 0; c < (std::uint64_t(1) << width); ++c) {
    const Decoded d = decode(s, c);
    if (d.kind == Decoded::Kind::Inf) has_inf_ = true;
    if (d.kind == Decoded::Kind::NaN) has_nan_ = true;
    if (d.kind != Decoded::Kind::Finite) continue;
    if (c == sign) has_negzero_ = true;  // the negative-zero code decodes to -0
    if (c & sign) continue;              // the grid holds magnitudes
    Point p;
    p.q = d.mag;
    const auto v = to_double(d.mag);
    if (!v) throw std::logic_error("oracle: value not a double in " + s.spelling());
    p.mag = *v;
    p.code = c;
    grid_.push_back(p);
  }
  std::stable_sort(grid_.begin(), grid_.end(), [](const Point& a, const Point& b) { return a.q < b.q; });
  // :nosub decodes every subnormal code to zero: keep one zero (the smallest code).
  grid_.erase(std::unique(grid_.begin(), grid_.end(), [](const Point& a, const Point& b) { return a.q == b.q; }),
              grid_.end());
  if (grid_.size() < 2 || grid_[0].q != 0) throw std::logic_error("oracle: no positive value in " + s.spelling());
  max_ = grid_.back().mag;
  min_sub_ = grid_[1].mag;
  min_normal_ = *to_double(pow2(1 - s.bias()));

  // Exponent unbounded above: the next step after the largest finite value,
  // at the largest value's quantum. Rounding to it is an overflow.
  {
    const Point& top = grid_.back();
    const int ef = int(top.code >> s.M);
    Point p;
    p.role = Point::Role::Overflow;
    p.q = top.q + pow2(std::max(ef, 1) - s.bias() - s.M);
    p.mag = ceil_double(p.q);
    p.exact = bool(to_double(p.q));
    p.code = top.code + 1;
    grid_.push_back(p);
  }
  // :nosub: exponent unbounded below. The largest such value below
  // min_normal is min_normal - 2^(emin - 1 - M) (the top of the binade
  // below); a result there or smaller becomes zero. Its code would be that of
  // min_normal minus one.
  if (s.nosub) {
    Point p;
    p.role = Point::Role::FlushToZero;
    p.q = pow2(1 - s.bias()) - pow2(1 - s.bias() - 1 - s.M);
    p.mag = ceil_double(p.q);  // below double's resolution for the most extreme biases
    p.exact = bool(to_double(p.q));
    p.code = (std::uint64_t(1) << s.M) - 1;
    if (!(grid_[1].q == pow2(1 - s.bias())) || grid_[1].code != (std::uint64_t(1) << s.M))
      throw std::logic_error("oracle: min_normal is not the smallest positive value of " + s.spelling());
    grid_.insert(grid_.begin() + 1, p);
  }
  // Neighbours have consecutive magnitude codes (except zero and the :nosub
  // point below min_normal, which both give zero): that is what makes the
  // parity rule of RNE and RO well defined.
  for (std::size_t i = 0; i + 1 < grid_.size(); ++i) {
    const bool flush_gap = s.nosub && i == 0;
    if (!flush_gap && grid_[i + 1].code != grid_[i].code + 1)
      throw std::logic_error("oracle: neighbouring codes not consecutive in " + s.spelling());
  }
  for (const Point& p : grid_) {
    mags_.push_back(p.mag);
    all_exact_ &= p.exact;
  }
  for (std::size_t i = 0; i + 1 < grid_.size(); ++i) twice_mid_.push_back(grid_[i].q + grid_[i + 1].q);
}

Outcome FloatOracle::signed_value(double mag, bool negative) const {
  if (mag == 0) return Outcome::val(negative && has_negzero_ ? -0.0 : 0.0);
  return Outcome::val(negative ? -mag : mag);
}

Outcome FloatOracle::overflow(Mode m, bool negative) const {
  // IEEE 754: the nearest modes (and stochastic rounding, which may pick the
  // step beyond) and the directed mode pointing away from zero overflow to
  // infinity; the others give the largest finite value.
  const bool to_inf = m == Mode::RNE || m == Mode::RNA || m == Mode::SR || (m == Mode::RU && !negative) ||
                      (m == Mode::RD && negative);
  if (s_.sat || !to_inf) return signed_value(max_, negative);
  if (has_inf_) return Outcome::val(negative ? -std::numeric_limits<double>::infinity()
                                             : std::numeric_limits<double>::infinity());
  if (has_nan_) return Outcome::nan();  // fn / fnuz: that infinity becomes NaN
  return signed_value(max_, negative);  // :nonan has neither: saturate
}

Outcome FloatOracle::point(std::size_t i, Mode m, bool negative) const {
  const Point& p = grid_[i];
  switch (p.role) {
    case Point::Role::Value: return signed_value(p.mag, negative);
    case Point::Role::FlushToZero: return signed_value(0, negative);
    case Point::Role::Overflow: return overflow(m, negative);
  }
  return Outcome::error();
}

FloatOracle::Analysis FloatOracle::analyze(double x) const {
  Analysis a;
  a.negative = std::signbit(x);
  if (std::isnan(x)) {
    a.fixed = has_nan_ ? Outcome::nan() : Outcome::error();
    return a;
  }
  if (std::isinf(x)) {
    if (s_.sat) a.fixed = signed_value(max_, a.negative);
    else if (has_inf_) a.fixed = Outcome::val(x);
    else if (has_nan_) a.fixed = Outcome::nan();
    else a.fixed = signed_value(max_, a.negative);
    return a;
  }
  if (x == 0) {
    a.fixed = signed_value(0, a.negative);
    return a;
  }
  const double m = std::fabs(x);
  if (m > mags_.back()) {
    a.kind = Analysis::Kind::Overflow;
    return a;
  }
  // First grid point >= m. The doubles decide when every grid point is a
  // double; otherwise (mags rounded up) exact comparisons settle it.
  std::size_t i = std::size_t(std::lower_bound(mags_.begin(), mags_.end(), m) - mags_.begin());
  if (!all_exact_) {
    a.x = exact(m);
    while (i > 0 && compare(grid_[i - 1].q, a.x) >= 0) --i;
    while (i < grid_.size() && compare(grid_[i].q, a.x) < 0) ++i;
    if (i == grid_.size()) {
      a.kind = Analysis::Kind::Overflow;
      return a;
    }
    if (compare(grid_[i].q, a.x) == 0) {
      a.kind = Analysis::Kind::OnGrid;
      a.lo = a.hi = i;
      return a;
    }
  } else if (mags_[i] == m) {
    a.kind = Analysis::Kind::OnGrid;
    a.lo = a.hi = i;
    return a;
  } else {
    a.x = exact(m);
  }
  a.kind = Analysis::Kind::Between;
  a.lo = i - 1;
  a.hi = i;
  a.cmp = compare(a.x * 2, twice_mid_[a.lo]);
  if (compare(grid_[a.lo].q, a.x) >= 0 || compare(a.x, grid_[a.hi].q) >= 0)
    throw std::logic_error("oracle: bad neighbours");
  return a;
}

Outcome FloatOracle::outcome(const Analysis& a, Mode m) const {
  switch (a.kind) {
    case Analysis::Kind::Fixed: return a.fixed;
    case Analysis::Kind::Overflow: return overflow(m, a.negative);
    case Analysis::Kind::OnGrid: return point(a.lo, m, a.negative);
    case Analysis::Kind::Between: break;
  }
  const bool lo_odd = grid_[a.lo].code & 1;
  bool up = false;
  switch (m) {
    case Mode::RNE: up = a.cmp > 0 || (a.cmp == 0 && lo_odd); break;  // a tie goes to the even code
    case Mode::RNA: up = a.cmp >= 0; break;
    case Mode::RZ: up = false; break;
    case Mode::RU: up = !a.negative; break;
    case Mode::RD: up = a.negative; break;
    case Mode::RO: up = !lo_odd; break;  // the odd code
    case Mode::SR: throw std::logic_error("oracle: SR has no single outcome; use candidates()");
  }
  return point(up ? a.hi : a.lo, m, a.negative);
}

FloatOracle::Candidates FloatOracle::candidates(const Analysis& a) const {
  Candidates c;
  switch (a.kind) {
    case Analysis::Kind::Fixed: c.down = c.up = a.fixed; return c;
    case Analysis::Kind::Overflow: c.down = c.up = overflow(Mode::SR, a.negative); return c;
    case Analysis::Kind::OnGrid: c.down = c.up = point(a.lo, Mode::SR, a.negative); return c;
    case Analysis::Kind::Between: break;
  }
  c.down = point(a.lo, Mode::SR, a.negative);
  c.up = point(a.hi, Mode::SR, a.negative);
  c.frac = (a.x - grid_[a.lo].q) / (grid_[a.hi].q - grid_[a.lo].q);
  return c;
}

// ---- fixed-point rounding ----------------------------------------------------

FixedOracle::FixedOracle(const FixedSpec& s) : s_(s), n_min_(s.n_min()), n_max_(s.n_max()) {}

double FixedOracle::max_finite() const { return *to_double(Q(s_.n_max()) * pow2(-s_.F)); }
double FixedOracle::lowest() const { return *to_double(Q(s_.n_min()) * pow2(-s_.F)) + 0.0; }

Outcome FixedOracle::from_magnitude(const Z& n, bool negative) const {
  Z v = negative ? Z(-n) : n;
  const Z& lo = n_min_;
  const Z& hi = n_max_;
  if (v < lo || v > hi) {
    if (s_.wrap) {
      // Two's complement wrap: v mod 2^W, read back in [lo, hi].
      const Z mod = Z(1) << s_.W;
      v %= mod;  // sign of the dividend
      if (v < 0) v += mod;
      if (v > hi) v -= mod;
    } else {
      v = v < lo ? lo : hi;
    }
  }
  // v * 2^-F: exact as a double (|v| < 2^53 and 2^-F within double's range
  // for the formats tested; checked).
  if (v != 0 && boost::multiprecision::msb(v < 0 ? Z(-v) : v) >= 53)
    throw std::logic_error("oracle: fixed-point value too wide for a double");
  const double d = std::ldexp(double(v.convert_to<long long>()), -s_.F);
  if (std::ldexp(d, s_.F) != double(v.convert_to<long long>())) throw std::logic_error("oracle: inexact value");
  return Outcome::val(d + 0.0);  // fixed point has no negative zero
}

FixedOracle::Analysis FixedOracle::analyze(double x) const {
  Analysis a;
  if (std::isnan(x)) {
    a.fixed = Outcome::error();  // no NaN code
    return a;
  }
  a.negative = std::signbit(x);
  if (std::isinf(x)) {
    // ±infinity saturates (also under :wrap: there is no residue of infinity).
    a.fixed = Outcome::val(a.negative ? lowest() : max_finite());
    return a;
  }
  a.kind = Analysis::Kind::Num;
  // t = |x| 2^F = num / den; n = floor(t), fraction = r / den.
  const Q t = exact(std::fabs(x)) * pow2(s_.F);
  const Z& num = boost::multiprecision::numerator(t);
  const Z& den = boost::multiprecision::denominator(t);
  a.n = num / den;
  const Z r = num - a.n * den;
  a.frac = Q(r, den);
  a.exact = r == 0;
  const Z twice = r * 2;
  a.cmp = twice < den ? -1 : twice > den ? 1 : 0;
  return a;
}

Outcome FixedOracle::outcome(const Analysis& a, Mode m) const {
  if (a.kind == Analysis::Kind::Fixed) return a.fixed;
  bool up = false;
  if (!a.exact) {
    const bool odd = bool(a.n & 1);  // the magnitude's parity is the code's parity
    switch (m) {
      case Mode::RNE: up = a.cmp > 0 || (a.cmp == 0 && odd); break;
      case Mode::RNA: up = a.cmp >= 0; break;
      case Mode::RZ: up = false; break;
      case Mode::RU: up = !a.negative; break;
      case Mode::RD: up = a.negative; break;
      case Mode::RO: up = !odd; break;
      case Mode::SR: throw std::logic_error("oracle: SR has no single outcome; use candidates()");
    }
  }
  return from_magnitude(up ? Z(a.n + 1) : a.n, a.negative);
}

FixedOracle::Candidates FixedOracle::candidates(const Analysis& a) const {
  Candidates c;
  if (a.kind == Analysis::Kind::Fixed) {
    c.down = c.up = a.fixed;
    return c;
  }
  c.down = from_magnitude(a.n, a.negative);
  c.up = a.exact ? c.down : from_magnitude(a.n + 1, a.negative);
  c.frac = a.frac;
  return c;
}

// ---- stochastic decision ------------------------------------------------------

bool sr_up(const Q& frac, int sr_bits, std::uint64_t seed, std::uint32_t stream, std::uint64_t index) {
  if (frac == 0) return false;
  if (sr_bits > 0) {
    const Z truncated = floor_nonneg(frac * pow2(sr_bits));
    const std::uint64_t w0 = arith::random_word(seed, stream, index, 0);
    return Z(w0 >> (64 - sr_bits)) < truncated;
  }
  Q r = frac;
  for (std::uint32_t j = 0;; ++j) {
    if (r == 0) return false;  // U >= frac: the fraction ended, U's remaining words are >= 0
    const Q t = r * pow2(64);
    const Z word = floor_nonneg(t);
    const Z w = arith::random_word(seed, stream, index, j);
    if (w != word) return w < word;
    r = t - Q(word);
  }
}

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::RNE: return "rne";
    case Mode::RNA: return "rna";
    case Mode::RZ: return "rz";
    case Mode::RU: return "ru";
    case Mode::RD: return "rd";
    case Mode::RO: return "ro";
    case Mode::SR: return "sr";
  }
  return "?";
}

std::string describe(float x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "float 0x%08x (%a)", std::bit_cast<std::uint32_t>(x), double(x));
  return buf;
}

std::string describe(double x) {
  char buf[80];
  std::snprintf(buf, sizeof buf, "double 0x%016llx (%a)", (unsigned long long)std::bit_cast<std::uint64_t>(x), x);
  return buf;
}

}  // namespace lpsim::oracle
