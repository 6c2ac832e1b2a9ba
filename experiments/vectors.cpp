// Golden test vectors (vectors.hpp, docs/vectors.md): the operand and addend
// generators, the golden result and the per-vector flags.
#include "experiments/vectors.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <exception>
#include <limits>
#include <numbers>
#include <optional>
#include <stdexcept>

#include "arith/arith.hpp"
#include "arith/philox.hpp"
#include "sim/dot.hpp"

namespace lpsim::cli {

// ---- the documented normal draw -------------------------------------------------------------------------------
// Only IEEE-754 double +, -, *, / and sqrt (correctly rounded everywhere; the
// build has -ffp-contract=off), in the order written: docs/vectors.md spells
// the same formulas out, and tests/experiments/test_vectors_formats.py
// recomputes them in Python bit for bit.

double fixed_log(double x) {
  int e = 0;
  double m = std::frexp(x, &e);  // x = m 2^e, m in [0.5, 1)
  if (m < 0x1.6a09e667f3bcdp-1) {  // below sqrt(1/2): m in [sqrt(1/2), sqrt(2)) after doubling
    m = m * 2;
    e = e - 1;
  }
  const double s = (m - 1) / (m + 1), s2 = s * s;  // ln m = 2 atanh s = 2 (s + s^3/3 + s^5/5 + ...)
  double p = 1.0 / 25;
  for (int j = 11; j >= 0; --j) p = 1.0 / (2 * j + 1) + s2 * p;
  return e * std::numbers::ln2 + 2 * s * p;
}

double fixed_cos2pi(double u) {
  const double q = u * 4;             // exact
  const int n = int(std::floor(q));   // the quadrant, 0..3
  const double x = (q - n) * (std::numbers::pi / 2);  // cos(2 pi u) = cos(n pi/2 + x), x in [0, pi/2)
  const double x2 = x * x;
  double c = 1, s = 1;  // Taylor series of cos x and sin x / x, nested
  for (int j = 12; j >= 1; --j) {
    c = 1 - x2 * c / ((2 * j - 1) * (2 * j));
    s = 1 - x2 * s / ((2 * j) * (2 * j + 1));
  }
  s = x * s;
  return n == 0 ? c : n == 1 ? -s : n == 2 ? -c : s;
}

double normal_draw(std::uint64_t seed, std::uint32_t stream, std::uint64_t index) {
  const std::uint64_t w = arith::random_word(seed, stream, index, 0);
  const double u1 = double((w & 0xffffffffu) + 1) * 0x1p-32;  // (0, 1]
  const double u2 = double(w >> 32) * 0x1p-32;                // [0, 1)
  return std::sqrt(-2 * fixed_log(u1)) * fixed_cos2pi(u2);
}

namespace {

constexpr std::int64_t kMaxOperands = std::int64_t(1) << 28;  // as the CLI's --k x --count limit
constexpr int kMaxExhaustiveBits = 24;

// Philox streams of the draws (docs/vectors.md, "Random draws").
enum : std::uint32_t {
  kStreamA = 1,
  kStreamB = 2,
  kStreamAddend = 3,
  kStreamVector = 4,
  kStreamSpecialA = 5,
  kStreamSpecialB = 6,
  kStreamSpecialAddend = 7,
  kStreamRoundA = 8,
  kStreamRoundB = 9,
  kStreamRoundAddend = 10,
};

enum class Kind { Codes, Finite, Normal, Subnormals, NearOverflow, Cancellation, Ties };

const char* const kDists[] = {"codes", "finite", "normal", "subnormals", "near-overflow", "cancellation", "ties",
                              "corners", "mixed"};

// The exact value of sum x_l y_l: a two's complement fixed-point number over
// every product of two doubles (m 2^e with m < 2^53, e >= -1126, so products
// m 2^e with m < 2^106, e in [-2252, 1942]) and 2^20 more terms.
class ExactDot {
 public:
  void add(double x, double y) {
    if (x == 0 || y == 0) return;
    int ex = 0, ey = 0;
    const auto mx = mantissa(x, ex), my = mantissa(y, ey);
    const unsigned __int128 v = static_cast<unsigned __int128>(mx) * my;
    const int p = ex + ey - kLow, limb = p / 64, off = p % 64;
    const auto lo = std::uint64_t(v), hi = std::uint64_t(v >> 64);
    const std::uint64_t w0 = lo << off, w1 = off ? (lo >> (64 - off)) | (hi << off) : hi,
                        w2 = off ? hi >> (64 - off) : 0;
    const bool negative = (x < 0) != (y < 0);
    std::uint64_t carry = 0;
    const std::uint64_t ws[3] = {w0, w1, w2};
    for (int q = limb; q < kLimbs; ++q) {
      const std::uint64_t d = q - limb < 3 ? ws[q - limb] : 0;
      if (q - limb >= 3 && carry == 0) break;
      std::uint64_t& t = w_[std::size_t(q)];
      if (!negative) {
        const std::uint64_t s = t + d, c1 = s < t, s2 = s + carry, c2 = s2 < s;
        t = s2, carry = c1 | c2;
      } else {
        const std::uint64_t s = t - d, b1 = t < d, s2 = s - carry, b2 = s < carry;
        t = s2, carry = b1 | b2;
      }
    }
  }
  bool zero() const {
    return std::all_of(w_.begin(), w_.end(), [](std::uint64_t x) { return x == 0; });
  }

 private:
  static constexpr int kLimbs = 70, kLow = -2260;  // bit 0 weighs 2^-2260; 4480 bits reach 2^2219 with the sign
  std::array<std::uint64_t, kLimbs> w_{};
  static std::uint64_t mantissa(double x, int& e) {
    const double f = std::frexp(std::fabs(x), &e);  // |x| = f 2^e, f in [0.5, 1) with at most 53 bits
    e -= 53;
    return std::uint64_t(std::ldexp(f, 53));
  }
};

struct Side {
  sim::Rounded r;  // the operand's format and rounding (fp32, RNE, where the MAC has none)
  std::uint32_t stream, special_stream, round_stream;
  int lo_pow, hi_pow;  // the powers of two the format holds: 2^lo_pow .. 2^hi_pow
  bool is_signed;
};

Side make_side(const std::optional<sim::Rounded>& r, std::uint32_t stream, std::uint32_t special, std::uint32_t round) {
  Side s{r ? *r : sim::Rounded{arith::parse_format("fp32"), {}}, stream, special, round, 0, 0, true};
  const arith::Format& f = s.r.format;
  s.lo_pow = std::ilogb(f.min_subnormal());
  s.hi_pow = std::ilogb(f.max_finite());
  s.is_signed = f.kind == arith::Kind::Float || f.is_signed;
  return s;
}

std::uint64_t low_bits(std::uint64_t w, const arith::Format& f) {
  return f.bits() >= 64 ? w : w & (f.num_codes() - 1);
}

class Generator {
 public:
  Generator(const VectorSpec& x, const sim::MacConfig& cfg)
      : x_(x), cfg_(cfg), a_(make_side(cfg.a, kStreamA, kStreamSpecialA, kStreamRoundA)),
        b_(make_side(cfg.b, kStreamB, kStreamSpecialB, kStreamRoundB)) {
    limit_ = cfg.acc.format.max_finite();
    if (cfg.outer) limit_ = std::min(limit_, cfg.outer->format.max_finite());
    if (cfg.out) limit_ = std::min(limit_, cfg.out->format.max_finite());
  }
  const Side& a() const { return a_; }
  const Side& b() const { return b_; }

  // Vector i's operand codes (K each) for the distribution's kind of vector i.
  void draw(std::int64_t i, std::uint64_t* a, std::uint64_t* b) const {
    const Kind kind = kind_of(i);
    const std::int64_t k = x_.k;
    const std::uint64_t base = std::uint64_t(i) * std::uint64_t(k);
    switch (kind) {
      case Kind::Codes:
        for (std::int64_t l = 0; l < k; ++l) a[l] = any_code(a_, base + l), b[l] = any_code(b_, base + l);
        return;  // every bit pattern already: nothing injected
      case Kind::Finite:
        for (std::int64_t l = 0; l < k; ++l) a[l] = finite_code(a_, base + l), b[l] = finite_code(b_, base + l);
        break;
      case Kind::Normal:
        for (std::int64_t l = 0; l < k; ++l) a[l] = normal_code(a_, base + l), b[l] = normal_code(b_, base + l);
        break;
      case Kind::Subnormals:
        for (std::int64_t l = 0; l < k; ++l) a[l] = small_code(a_, base + l), b[l] = small_code(b_, base + l);
        break;
      case Kind::NearOverflow: near_overflow(i, a, b); break;
      case Kind::Cancellation: cancellation(i, a, b); break;
      case Kind::Ties: ties(i, a, b); break;
    }
    if (x_.specials)
      for (std::int64_t l = 0; l < k; ++l) {
        a[l] = special(a_, base + l, a[l], 8 * std::uint64_t(k));
        b[l] = special(b_, base + l, b[l], 8 * std::uint64_t(k));
      }
  }

  std::uint64_t addend(std::int64_t i, const sim::Rounded& rc) const {
    const arith::Format& f = rc.format;
    const auto idx = std::uint64_t(i);
    if (x_.addend == "zero") return arith::encode(0.0, f);
    if (x_.addend == "codes") return low_bits(word(kStreamAddend, idx, 0), f);
    if (x_.addend == "all") return idx % f.num_codes();
    const double v = arith::quantize(x_.scale * normal_draw(x_.seed, kStreamAddend, idx), f, rc.rounding,
                                     {x_.seed, kStreamRoundAddend}, idx);
    const std::uint64_t code = arith::encode(v, f);
    if (!x_.specials) return code;
    Side s{rc, kStreamAddend, kStreamSpecialAddend, kStreamRoundAddend, 0, 0, true};
    return special(s, idx, code, 8);
  }

 private:
  const VectorSpec& x_;
  const sim::MacConfig& cfg_;
  Side a_, b_;
  double limit_;  // the smallest largest-finite value of the accumulator, outer and output formats

  std::uint64_t word(std::uint32_t stream, std::uint64_t index, std::uint32_t w) const {
    return arith::random_word(x_.seed, stream, index, w);
  }
  static double uniform(std::uint64_t w) { return double(w >> 11) * 0x1p-53; }  // [0, 1)

  Kind kind_of(std::int64_t i) const {
    static constexpr Kind corners[4] = {Kind::Subnormals, Kind::NearOverflow, Kind::Cancellation, Kind::Ties};
    const std::string& d = x_.dist;
    if (d == "codes") return Kind::Codes;
    if (d == "finite") return Kind::Finite;
    if (d == "normal") return Kind::Normal;
    if (d == "subnormals") return Kind::Subnormals;
    if (d == "near-overflow") return Kind::NearOverflow;
    if (d == "cancellation") return Kind::Cancellation;
    if (d == "ties") return Kind::Ties;
    if (d == "corners") return corners[i % 4];
    return i % 2 == 0 ? Kind::Finite : corners[(i / 2) % 4];  // mixed
  }

  // A value of the side's format (exact, or rounded by its rounding) -> its code.
  std::uint64_t code(const Side& s, double v, std::uint64_t idx) const {
    const double q = arith::quantize(v, s.r.format, s.r.rounding, {x_.seed, s.round_stream}, idx);
    return arith::encode(q, s.r.format);
  }
  double value(const Side& s, std::uint64_t c) const { return arith::decode(c, s.r.format); }
  std::uint64_t pow2(const Side& s, int e, bool negative) const {
    return arith::encode(negative ? -std::ldexp(1.0, e) : std::ldexp(1.0, e), s.r.format);
  }

  std::uint64_t any_code(const Side& s, std::uint64_t idx) const { return low_bits(word(s.stream, idx, 0), s.r.format); }
  std::uint64_t finite_code(const Side& s, std::uint64_t idx) const {
    for (std::uint32_t w = 0; w < 64; ++w) {
      const std::uint64_t c = low_bits(word(s.stream, idx, w), s.r.format);
      if (std::isfinite(value(s, c))) return c;
    }
    return arith::encode(0.0, s.r.format);
  }
  std::uint64_t normal_code(const Side& s, std::uint64_t idx) const {
    return code(s, x_.scale * normal_draw(x_.seed, s.stream, idx), idx);
  }
  // Zeros, subnormals and the lowest normal binade (exponent field 0 or 1),
  // either sign; fixed point: the codes -2..2 (unsigned 0..2).
  std::uint64_t tiny_code(const Side& s, std::uint64_t idx) const {
    const arith::Format& f = s.r.format;
    const std::uint64_t w = word(s.stream, idx, 2);
    if (f.kind != arith::Kind::Float) {
      const int n = s.is_signed ? int(w % 5) - 2 : int(w % 3);
      return arith::encode(arith::quantize(n * f.min_normal(), f), f);
    }
    const int m = f.man_bits;
    const std::uint64_t mant = m ? w & ((std::uint64_t(1) << m) - 1) : 0;
    const std::uint64_t c = ((w >> 63) << (f.exp_bits + m)) | (((w >> 62) & 1) << m) | mant;
    return std::isfinite(value(s, c)) ? c : arith::encode(0.0, f);
  }
  std::uint64_t small_code(const Side& s, std::uint64_t idx) const {
    return word(s.stream, idx, 1) & 1 ? tiny_code(s, idx) : normal_code(s, idx);
  }
  std::uint64_t negate(const Side& s, std::uint64_t c) const {
    return arith::encode(arith::quantize(-value(s, c), s.r.format), s.r.format);
  }
  // The next code toward zero (a zero stays).
  std::uint64_t toward_zero(const Side& s, std::uint64_t c) const {
    const double v = value(s, c);
    if (v == 0 || std::isnan(v)) return c;
    return arith::encode(arith::quantize(std::nextafter(v, 0.0), s.r.format, {arith::Mode::RZ}), s.r.format);
  }
  // --specials: with probability 1/one_in, an infinity of either sign or the
  // canonical NaN, as far as the format has them.
  std::uint64_t special(const Side& s, std::uint64_t idx, std::uint64_t c, std::uint64_t one_in) const {
    const std::uint64_t w = word(s.special_stream, idx, 0);
    if ((w & 0xffffffffu) >= (std::uint64_t(1) << 32) / one_in) return c;
    const arith::Format& f = s.r.format;
    double pick[3];
    int n = 0;
    if (f.has_inf()) pick[n++] = std::numeric_limits<double>::infinity(), pick[n++] = -pick[0];
    if (f.has_nan()) pick[n++] = std::nan("");
    return n ? arith::encode(pick[(w >> 32) % std::uint64_t(n)], f) : c;
  }

  void near_overflow(std::int64_t i, std::uint64_t* a, std::uint64_t* b) const {
    const bool negative = word(kStreamVector, std::uint64_t(i), 0) & 1;
    const arith::Format &fa = a_.r.format, &fb = b_.r.format;
    for (std::int64_t l = 0; l < x_.k; ++l) {
      const std::uint64_t idx = std::uint64_t(i * x_.k + l);
      const double p = limit_ * (0.5 + uniform(word(kStreamA, idx, 0))) / double(x_.k);
      const int spread = int(word(kStreamB, idx, 0) % 5) - 2;
      const double am = std::clamp(std::ldexp(std::sqrt(p), spread), fa.min_subnormal(), fa.max_finite());
      const double av = arith::quantize(am, fa);
      const double bv = arith::quantize(std::clamp(p / av, fb.min_subnormal(), fb.max_finite()), fb);
      const bool nb = negative && b_.is_signed, na = negative && !b_.is_signed && a_.is_signed;
      a[l] = arith::encode(na ? -av : av, fa);
      b[l] = arith::encode(nb ? -bv : bv, fb);
    }
  }

  void cancellation(std::int64_t i, std::uint64_t* a, std::uint64_t* b) const {
    const std::int64_t k = x_.k, h = k / 2;
    const auto idx = [&](std::int64_t l) { return std::uint64_t(i * k + l); };
    const bool neg_b = b_.is_signed, neg_a = !neg_b && a_.is_signed;
    for (std::int64_t l = 0; l < h; ++l) a[l] = normal_code(a_, idx(l)), b[l] = normal_code(b_, idx(l));
    for (std::int64_t l = h; l < 2 * h; ++l) {
      if (neg_b) a[l] = a[l - h], b[l] = negate(b_, b[l - h]);
      else if (neg_a) a[l] = negate(a_, a[l - h]), b[l] = b[l - h];
      else a[l] = normal_code(a_, idx(l)), b[l] = normal_code(b_, idx(l));
    }
    if (k % 2) a[k - 1] = small_code(a_, idx(k - 1)), b[k - 1] = small_code(b_, idx(k - 1));
    const std::uint64_t v = std::uint64_t(i);
    if (h > 0 && (neg_a || neg_b) && (word(kStreamVector, v, 1) & 1)) {
      const std::int64_t l = h + std::int64_t(word(kStreamVector, v, 2) % std::uint64_t(h));
      if (neg_b) b[l] = toward_zero(b_, b[l]);
      else a[l] = toward_zero(a_, a[l]);
    }
  }

  void ties(std::int64_t i, std::uint64_t* a, std::uint64_t* b) const {
    const std::int64_t k = x_.k;
    const auto idx = [&](std::int64_t l) { return std::uint64_t(i * k + l); };
    const std::uint64_t w = word(kStreamVector, std::uint64_t(i), 0);
    a[0] = normal_code(a_, idx(0));
    double a0 = value(a_, a[0]);
    if (a0 == 0 || !std::isfinite(a0)) a[0] = pow2(a_, std::clamp(0, a_.lo_pow, a_.hi_pow), false), a0 = value(a_, a[0]);
    b[0] = pow2(b_, std::clamp(int(w % 5) - 2, b_.lo_pow, b_.hi_pow), b_.is_signed && ((w >> 32) & 1));
    const double x = a0 * value(b_, b[0]);  // exact: a power of two times a0
    const arith::Format& acc = cfg_.acc.format;
    int t = acc.kind == arith::Kind::Float ? std::max(std::ilogb(x), acc.emin()) - acc.man_bits - 1 : -acc.frac_bits - 1;
    // Half an ulp of the accumulator at x, as a product 2^u 2^(t-u) of the operand formats' powers of two (or the
    // nearest product they reach).
    t = std::clamp(t, a_.lo_pow + b_.lo_pow, a_.hi_pow + b_.hi_pow);
    const int lo = std::max(a_.lo_pow, t - b_.hi_pow), hi = std::min(a_.hi_pow, t - b_.lo_pow);
    for (std::int64_t l = 1; l < k; ++l) {
      const int u = lo + int(word(kStreamA, idx(l), 0) % std::uint64_t(hi - lo + 1));
      const bool negative = word(kStreamB, idx(l), 0) & 1;
      a[l] = pow2(a_, u, negative && !b_.is_signed && a_.is_signed);
      b[l] = pow2(b_, t - u, negative && b_.is_signed);
    }
  }
};

bool one_of(const std::string& s, std::initializer_list<const char*> names) {
  return std::any_of(names.begin(), names.end(), [&](const char* n) { return s == n; });
}

std::string dist_list() {
  std::string s;
  for (const char* d : kDists) s += (s.empty() ? "" : ", ") + std::string(d);
  return s;
}

}  // namespace

Vectors make_vectors(const VectorSpec& x) {
  const sim::MacConfig cfg = sim::parse_mac(x.mac);
  const sim::Rounded& rc = cfg.result();
  if (!one_of(x.addend, {"none", "zero", "codes", "normal", "all"}))
    throw std::invalid_argument("--addend \"" + x.addend + "\" is not one of: none, zero, codes, normal, all");
  if (std::none_of(std::begin(kDists), std::end(kDists), [&](const char* d) { return x.dist == d; }))
    throw std::invalid_argument("--dist \"" + x.dist + "\" is not one of: " + dist_list());
  if ((!x.exhaustive || x.addend == "normal") && (!std::isfinite(x.scale) || !(x.scale > 0)))
    throw std::invalid_argument(fmt::format("--scale must be positive and finite, got {}", x.scale));
  if (cfg.scale != sim::ScaleKind::None)
    throw std::invalid_argument("the MAC " + cfg.spelling() +
                                " is block-scaled: lpsim vectors has no scale columns (use lpsim matmul --scale-a/--scale-b)");
  Generator gen(x, cfg);
  Vectors v{gen.a().r.format, gen.b().r.format, rc.format, x.k, x.count, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};
  const arith::Format &fa = v.fa, &fb = v.fb, &fc = v.fc;
  if (x.addend == "all" && !x.exhaustive)
    throw std::invalid_argument("--addend all (every addend code) needs --exhaustive");
  if (x.exhaustive) {
    // Every pair of operand codes, one product per vector (K = 1); with --addend all every triple.
    const bool triples = x.addend == "all";
    const int bits = fa.bits() + fb.bits() + (triples ? fc.bits() : 0);
    if (bits > kMaxExhaustiveBits) {
      if (triples)
        throw std::invalid_argument(fmt::format(
            "--exhaustive --addend all needs operand and result formats of at most {} bits together ({} vectors); {}, {} "
            "and {} have {}",
            kMaxExhaustiveBits, 1 << kMaxExhaustiveBits, fa.spelling, fb.spelling, fc.spelling, bits));
      throw std::invalid_argument(fmt::format("--exhaustive needs operand formats of at most {} bits together; {} and {} have {}",
                                              kMaxExhaustiveBits, fa.spelling, fb.spelling, bits));
    }
    const std::uint64_t nc = triples ? fc.num_codes() : 1;
    v.k = 1;
    v.n = std::int64_t(fa.num_codes() * fb.num_codes() * nc);
    v.a.reserve(std::size_t(v.n)), v.b.reserve(std::size_t(v.n));
    for (std::uint64_t i = 0; i < fa.num_codes(); ++i)
      for (std::uint64_t j = 0; j < fb.num_codes(); ++j)
        for (std::uint64_t c = 0; c < nc; ++c) v.a.push_back(i), v.b.push_back(j);
  } else {
    if (x.k < 1 || x.count < 1) throw std::invalid_argument("--k and --count must be positive");
    if (x.k > kMaxOperands || x.count > kMaxOperands)
      throw std::invalid_argument(fmt::format("--k {} x --count {} operand pairs, more than {} (2^28)", x.k, x.count, kMaxOperands));
    if (x.k * x.count > kMaxOperands)  // both are at most 2^28: the product fits
      throw std::invalid_argument(fmt::format("--k {} x --count {} = {} operand pairs, more than {} (2^28)", x.k, x.count,
                                              x.k * x.count, kMaxOperands));
    v.a.resize(std::size_t(v.n * v.k)), v.b.resize(std::size_t(v.n * v.k));
  }
  if (x.addend != "none") v.addend.resize(std::size_t(v.n));
  v.c.resize(std::size_t(v.n));
  v.overflow.resize(std::size_t(v.n)), v.saturation.resize(std::size_t(v.n)), v.swamped.resize(std::size_t(v.n));
  v.inexact.resize(std::size_t(v.n)), v.nan.resize(std::size_t(v.n)), v.flags.resize(std::size_t(v.n));

  std::exception_ptr failed;
#pragma omp parallel
  {
    std::vector<double> a(std::size_t(v.k)), b(std::size_t(v.k));
#pragma omp for schedule(dynamic, 256)
    for (std::int64_t i = 0; i < v.n; ++i) {
      try {
        const auto row = std::size_t(i * v.k);
        if (!x.exhaustive) gen.draw(i, &v.a[row], &v.b[row]);
        if (!v.addend.empty()) v.addend[std::size_t(i)] = gen.addend(i, rc);
        bool finite = true, nan_in = false, inf_zero = false, pos_inf = false, neg_inf = false;
        auto note = [&](double t) { pos_inf |= t == INFINITY, neg_inf |= t == -INFINITY; };
        for (std::int64_t l = 0; l < v.k; ++l) {
          const double x0 = a[std::size_t(l)] = arith::decode(v.a[row + std::size_t(l)], fa);
          const double y0 = b[std::size_t(l)] = arith::decode(v.b[row + std::size_t(l)], fb);
          finite = finite && std::isfinite(x0) && std::isfinite(y0);
          nan_in = nan_in || std::isnan(x0) || std::isnan(y0);
          inf_zero = inf_zero || (std::isinf(x0) && y0 == 0) || (x0 == 0 && std::isinf(y0));
          note(x0 * y0);
        }
        const double addend = v.addend.empty() ? 0.0 : arith::decode(v.addend[std::size_t(i)], fc);
        finite = finite && std::isfinite(addend);
        nan_in = nan_in || std::isnan(addend);
        note(addend);
        sim::MacCounts counts;
        double r;
        try {
          r = sim::dot_golden(cfg, a.data(), b.data(), 1, v.k, {x.seed, 0}, {std::uint64_t(i), std::uint64_t(v.n)}, counts,
                              v.addend.empty() ? nullptr : &addend);
        } catch (const std::domain_error&) {
          r = std::nan("");  // a NaN reached a fixed-point format: the result has no code
        }
        v.c[std::size_t(i)] = std::isnan(r) && !fc.has_nan() ? ~0ull : arith::encode(r, fc);
        bool inexact = false;
        if (finite) {
          if (!std::isfinite(r)) {
            inexact = true;
          } else {
            ExactDot exact;
            for (std::int64_t l = 0; l < v.k; ++l) exact.add(a[std::size_t(l)], b[std::size_t(l)]);
            exact.add(addend, 1.0);
            exact.add(-r, 1.0);
            inexact = !exact.zero();
          }
        }
        const std::uint8_t nan = !std::isnan(r) ? kNaNNone
                                 : nan_in       ? kNaNOperand
                                 : inf_zero     ? kNaNInfZero
                                 : pos_inf && neg_inf ? kNaNInfInf
                                                      : kNaNOverflow;
        const bool underflow = inexact && std::isfinite(r) && fc.kind == arith::Kind::Float && std::fabs(r) < fc.min_normal();
        std::uint8_t flags = 0;
        if (inexact) flags |= kFlagInexact;
        if (underflow) flags |= kFlagUnderflow;
        if (counts.overflows || counts.saturations) flags |= kFlagOverflow;
        if (nan == kNaNInfZero || nan == kNaNInfInf) flags |= kFlagInvalid;
        if (counts.saturations) flags |= kFlagSaturation;
        if (counts.swamped) flags |= kFlagSwamped;
        if (nan != kNaNNone) flags |= kFlagNaN;
        v.overflow[std::size_t(i)] = counts.overflows;
        v.saturation[std::size_t(i)] = counts.saturations;
        v.swamped[std::size_t(i)] = counts.swamped;
        v.inexact[std::size_t(i)] = inexact;
        v.nan[std::size_t(i)] = nan;
        v.flags[std::size_t(i)] = flags;
      } catch (...) {
#pragma omp critical(lpsim_vectors_failure)
        if (!failed) failed = std::current_exception();
      }
    }
  }
  if (failed) std::rethrow_exception(failed);

  v.header = fmt::format("lpsim vectors: mac={} a={} b={} result={} k={} count={} seed={} dist={}{}{}{}", cfg.spelling(),
                         fa.spelling, fb.spelling, fc.spelling, v.k, v.n, x.seed, x.exhaustive ? "exhaustive" : x.dist,
                         x.specials && !x.exhaustive ? " specials" : "",
                         v.addend.empty() ? "" : fmt::format(" addend={} (in {}: c = a.b + addend)", x.addend, fc.spelling),
                         fc.has_nan() ? "" : " (result 0xff..ff: a NaN reached a format without NaN, an error)");
  return v;
}

}  // namespace lpsim::cli
