// Wide minifloats (mantissa fields of 31 bits and more, up to fp64 itself)
// and the documented range of valid exponent/mantissa widths (format.hpp,
// "Valid minifloats"). Regression tests for `1 << man_bits` on int in
// format.cpp, undefined from 31 mantissa bits on: e8m31fn was refused,
// e5m33fn reported a max_finite below its min_normal and quantizing [1, 100]
// to it gave NaN.
//
// The expected values come from exact rationals (oracle.hpp: exact, pow2,
// to_double, decode, sr_up) and the format definition of docs/formats.md, not from
// arith: the oracle's FloatOracle enumerates every code, which is out of reach
// at 2^40 codes, so the neighbours of x here are computed directly.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "arith/arith.hpp"
#include "check_util.hpp"
#include "oracle.hpp"

using namespace lpsim::arith;
namespace oracle = lpsim::oracle;
using oracle::Q;
using oracle::Z;

namespace {

// Everything a spec implies, computed from docs/formats.md's definition alone.
struct Expect {
  bool legal = true;   // the grammar admits it
  bool fits = true;    // every finite value is exactly a double
  int bias = 0, emin = 0, emax = 0;
  Q max_finite;
};

Expect expect(const oracle::FloatSpec& s) {
  Expect e;
  e.legal = s.legal();
  e.bias = s.bias();
  const int top = (1 << s.E) - 1;  // E <= 11 here
  // The top exponent field holds finite numbers unless IEEE, or fn whose
  // only code there (M = 0) is the NaN.
  const bool top_finite = s.sp == oracle::Sp::FNUZ || (s.sp == oracle::Sp::FN && (s.M > 0 || s.nonan));
  e.emax = (top_finite ? top : top - 1) - e.bias;
  e.emin = 1 - e.bias;
  // Largest significand: all ones, less one where the all-ones code is fn's NaN.
  // (in 64 bits: M + 1 <= 53; and built from an integer, as GCC 12 at -O3
  // warns falsely, maybe-uninitialized, about a temporary cpp_int shifted here)
  std::uint64_t sig = (std::uint64_t(1) << (s.M + 1)) - 1;
  if (s.sp == oracle::Sp::FN && !s.nonan && top_finite) sig -= 1;
  e.max_finite = Q(Z(sig)) * oracle::pow2(e.emax - s.M);
  e.fits = e.emax <= 1023 && e.emin - s.M >= -1074;
  return e;
}

double exact_double(const Q& q) {
  const auto d = oracle::to_double(q);
  REQUIRE(d.has_value());
  return *d;
}

// The magnitude code of n * 2^(e - M) for 2^M <= n <= 2^(M+1), e the binade of
// the lower neighbour (n = 2^(M+1) carries into the next exponent field).
std::uint64_t code_of(const oracle::FloatSpec& s, int e, const Z& n) {
  return (std::uint64_t(e + s.bias()) << s.M) + n.convert_to<std::uint64_t>() - (std::uint64_t(1) << s.M);
}

// x > 0 normal in the format, below its largest finite value: the exact
// result of rounding x by mode m (SR: with the oracle's decision on the
// given random key and index).
double rounded(const oracle::FloatSpec& s, double x, Mode m, int sr_bits, RandomKey key, std::uint64_t index,
               std::uint64_t* code) {
  const Q X = oracle::exact(x);
  const int e = std::ilogb(x);
  const Q quantum = oracle::pow2(e - s.M);
  const Q ratio = X / quantum;
  const Z n = boost::multiprecision::numerator(ratio) / boost::multiprecision::denominator(ratio);
  const Q frac = ratio - Q(n);  // in [0, 1)
  bool up = false;
  if (frac != 0) {
    const bool odd = bool(n & 1);
    const int half = frac < Q(1, 2) ? -1 : frac == Q(1, 2) ? 0 : 1;
    switch (m) {
      case Mode::RNE: up = half > 0 || (half == 0 && odd); break;
      case Mode::RNA: up = half >= 0; break;
      case Mode::RZ: up = false; break;
      case Mode::RU: up = true; break;   // x > 0
      case Mode::RD: up = false; break;  // x > 0
      case Mode::RO: up = !odd; break;
      case Mode::SR: up = oracle::sr_up(frac, sr_bits, key.seed, key.stream, index); break;
    }
  }
  const Z r = up ? Z(n + 1) : n;
  *code = code_of(s, e, r);
  // The code decodes, by the oracle's own reading of docs/formats.md, to r * quantum.
  const oracle::Decoded d = oracle::decode(s, *code);
  CHECK(d.kind == oracle::Decoded::Kind::Finite);
  CHECK(d.mag == Q(r) * quantum);
  return exact_double(Q(r) * quantum);
}

bool same(double a, double b) { return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b); }

// Inputs in [1, 100]: the ends, values on the format's grid, exact ties (the
// grid plus half a quantum), one quantum either side, and random doubles.
std::vector<double> inputs_1_100(int man_bits, std::mt19937_64& rng) {
  std::vector<double> xs = {1.0, 100.0, 1.5, 2.0, 99.999, 3.0 + std::ldexp(1.0, -man_bits)};
  std::uniform_real_distribution<double> u(1.0, 100.0);
  for (int i = 0; i < 400; ++i) {
    const double x = u(rng);
    xs.push_back(x);
    const int e = std::ilogb(x);
    const double q = std::ldexp(1.0, e - man_bits);
    const double on_grid = std::floor(x / q) * q;  // exact: x / q and the product are scalings by 2^k
    xs.push_back(on_grid);
    if (man_bits < 52) xs.push_back(on_grid + q / 2);  // a tie (exact: 2^(e-M-1) >= 2^(e-52))
    if (on_grid + q <= 100.0) xs.push_back(on_grid + q);
  }
  return xs;
}

}  // namespace

TEST_SUITE("wide") {

TEST_CASE("every e<E>m<M> of the valid range parses, with the queries its definition gives") {
  // E in 1..11 and M in 0..52 with each special-value variant: accepted
  // exactly when the grammar admits it and every value is a double, with
  // max_finite, min_normal, emin, emax and epsilon as defined; else a
  // FormatError naming the spelling and the range.
  std::size_t checked = 0, accepted = 0;
  for (int E = 1; E <= 11; ++E)
    for (int M = 0; M <= 52; ++M)
      for (int v = 0; v < 4; ++v) {
        oracle::FloatSpec s;
        s.E = E;
        s.M = M;
        s.sp = v == 0 ? oracle::Sp::IEEE : v == 3 ? oracle::Sp::FNUZ : oracle::Sp::FN;
        s.nonan = v == 2;
        const std::string spelling = s.spelling();
        INFO("format " << spelling);
        const Expect e = expect(s);
        ++checked;
        if (!e.legal) {
          CHECK_THROWS_AS((void)parse_format(spelling), FormatError);
          continue;
        }
        if (!e.fits) {
          try {
            (void)parse_format(spelling);
            FAIL_CHECK("accepted although its values do not fit in a double");
          } catch (const FormatError& err) {
            const std::string what = err.what();
            CHECK(what.find("\"" + spelling + "\"") != std::string::npos);
            CHECK(what.find("do not fit in a double") != std::string::npos);
            CHECK(what.find("2^-1074") != std::string::npos);
          }
          continue;
        }
        ++accepted;
        const Format f = parse_format(spelling);
        CHECK(f.spelling == spelling);
        CHECK(f.bits() == 1 + E + M);
        CHECK(f.bias == e.bias);
        CHECK(f.emin() == e.emin);
        CHECK(f.emax() == e.emax);
        CHECK(f.fits_in_double());
        CHECK(f.max_finite() == exact_double(e.max_finite));
        CHECK(f.min_normal() == exact_double(oracle::pow2(e.emin)));
        CHECK(f.min_subnormal() == exact_double(oracle::pow2(e.emin - M)));
        CHECK(f.epsilon() == exact_double(oracle::pow2(-M)));
        CHECK(f.lowest() == -f.max_finite());
        CHECK(f.max_finite() >= f.min_normal());
        if (1 + E + M < 64) {
          // The oracle's decoding of the largest finite code agrees.
          const std::uint64_t top_code = (std::uint64_t(e.emax + e.bias) << M) |
                                         ((std::uint64_t(1) << M) - 1 -
                                          (s.sp == oracle::Sp::FN && !s.nonan && e.emax + e.bias == (1 << E) - 1));
          const oracle::Decoded d = oracle::decode(s, top_code);
          CHECK(d.kind == oracle::Decoded::Kind::Finite);
          CHECK(d.mag == e.max_finite);
          CHECK(encode(f.max_finite(), f) == top_code);
          CHECK(decode(top_code, f) == f.max_finite());
        }
      }
  INFO(accepted << " of " << checked << " spellings accepted");
  CHECK(accepted > 2000);
}

TEST_CASE("e8m31fn, e5m33fn, e8m31, e5m33: queries") {
  {
    const Format f = parse_format("e8m31fn");
    CHECK(f.spelling == "e8m31fn");
    CHECK(f.bits() == 40);
    CHECK(f.emax() == 128);
    CHECK(f.max_finite() == std::ldexp(std::ldexp(1.0, 32) - 2, 128 - 31));  // (2 - 2^-30) * 2^128
    CHECK(f.min_normal() == 0x1p-126);
    CHECK(f.min_subnormal() == std::ldexp(1.0, -126 - 31));
    CHECK(f.max_finite() > f.min_normal());
    CHECK_FALSE(f.fits_in_float());
  }
  {
    const Format f = parse_format("e5m33fn");
    CHECK(f.bits() == 39);
    CHECK(f.emax() == 16);
    CHECK(f.max_finite() == std::ldexp(std::ldexp(1.0, 34) - 2, 16 - 33));  // just below 2^17
    CHECK(f.min_normal() == 0x1p-14);
    CHECK(f.max_finite() > f.min_normal());
    CHECK(f.max_finite() > 100);
  }
  {
    const Format f = parse_format("e8m31");
    CHECK(f.emax() == 127);
    CHECK(f.max_finite() == std::ldexp(std::ldexp(1.0, 32) - 1, 127 - 31));
  }
  {
    const Format f = parse_format("e5m33");
    CHECK(f.emax() == 15);
    CHECK(f.max_finite() == std::ldexp(std::ldexp(1.0, 34) - 1, 15 - 33));
  }
}

TEST_CASE("quantize [1, 100] to wide minifloats: exact against the oracle, every mode and entry point") {
  std::mt19937_64 rng(20261207);
  const RandomKey key{12345, 3};
  for (const char* name : {"e8m31fn", "e5m33fn", "e8m31", "e5m33", "e5m33fnuz", "e8m40", "e6m50fn", "e10m51",
                           "e11m51fnuz", "e5m31:nosub", "e4m31fn:sat"}) {
    const Format f = parse_format(name);
    oracle::FloatSpec s;
    s.E = f.exp_bits;
    s.M = f.man_bits;
    s.sp = f.specials == Specials::FN ? oracle::Sp::FN : f.specials == Specials::FNUZ ? oracle::Sp::FNUZ
                                                                                         : oracle::Sp::IEEE;
    s.nosub = !f.subnormals;
    s.sat = f.saturate;
    REQUIRE(s.spelling() == f.spelling);
    REQUIRE(f.max_finite() > 100.0);
    const std::vector<double> xs = inputs_1_100(f.man_bits, rng);
    for (const Rounding r : {Rounding{Mode::RNE, 0}, Rounding{Mode::RNA, 0}, Rounding{Mode::RZ, 0},
                             Rounding{Mode::RU, 0}, Rounding{Mode::RD, 0}, Rounding{Mode::RO, 0},
                             Rounding{Mode::SR, 0}, Rounding{Mode::SR, 7}}) {
      lpsim::testing::Tally tally(std::string(name) + " " + r.spelling());
      std::vector<double> want(xs.size()), got_array(xs.size()), in_place = xs;
      std::vector<std::uint64_t> codes(xs.size());
      for (std::size_t i = 0; i < xs.size(); ++i) want[i] = rounded(s, xs[i], r.mode, r.sr_bits, key, i, &codes[i]);
      quantize(xs.data(), got_array.data(), xs.size(), f, r, key, 0);
      quantize(in_place.data(), in_place.data(), in_place.size(), f, r, key, 0);
      for (std::size_t i = 0; i < xs.size(); ++i) {
        const double scalar = quantize(xs[i], f, r, key, i);
        if (!same(scalar, want[i]) || !same(got_array[i], want[i]) || !same(in_place[i], want[i]))
          tally.fail("in " + oracle::describe(xs[i]) + " want " + oracle::describe(want[i]) + " scalar " +
                     oracle::describe(scalar) + " array " + oracle::describe(got_array[i]) + " in place " +
                     oracle::describe(in_place[i]));
        else if (encode(want[i], f) != codes[i] || !same(decode(codes[i], f), want[i]))
          tally.fail("codec of " + oracle::describe(want[i]));
      }
      tally.finish(xs.size());
    }
  }
}

TEST_CASE("fp64 = e11m52: the queries of a double, and every double round-trips") {
  const Format f = parse_format("fp64");
  CHECK(f.spelling == "e11m52");
  CHECK(parse_format("e11m52") == f);
  using L = std::numeric_limits<double>;
  CHECK(f.bits() == 64);
  CHECK(f.max_finite() == L::max());
  CHECK(f.min_normal() == L::min());
  CHECK(f.min_subnormal() == L::denorm_min());
  CHECK(f.epsilon() == L::epsilon());
  CHECK(f.emax() == 1023);
  CHECK(f.emin() == -1022);
  CHECK(f.fits_in_double());
  CHECK_FALSE(f.fits_in_float());
  CHECK(f.has_inf());
  CHECK(f.has_nan());
  std::mt19937_64 rng(7);
  std::vector<double> xs = {0.0, -0.0, 1.0, -1.0, L::max(), -L::max(), L::min(), L::denorm_min(), -L::denorm_min(),
                            L::infinity(), -L::infinity(), 0x1.fffffffffffffp-1023, 100.0, 0.1};
  for (int i = 0; i < 4000; ++i) xs.push_back(std::bit_cast<double>(rng()));  // every kind of bit pattern
  std::size_t checked = 0;
  lpsim::testing::Tally tally("fp64 round trip");
  for (const Mode m : {Mode::RNE, Mode::RNA, Mode::RZ, Mode::RU, Mode::RD, Mode::RO, Mode::SR}) {
    std::vector<double> out(xs.size());
    quantize(xs.data(), out.data(), xs.size(), f, Rounding{m, 0}, RandomKey{1, 2});
    for (std::size_t i = 0; i < xs.size(); ++i) {
      const double x = xs[i];
      ++checked;
      const double scalar = quantize(x, f, Rounding{m, 0}, RandomKey{1, 2}, i);
      if (std::isnan(x)) {
        if (!std::isnan(scalar) || !std::isnan(out[i])) tally.fail("NaN in, not NaN out");
        continue;
      }
      if (!same(scalar, x) || !same(out[i], x))
        tally.fail(std::string(oracle::mode_name(m)) + " " + oracle::describe(x) + " -> " +
                   oracle::describe(scalar) + " / " + oracle::describe(out[i]));
      const std::uint64_t bits = std::bit_cast<std::uint64_t>(x);
      if (m == Mode::RNE && (encode(x, f) != bits || !same(decode(bits, f), x)))
        tally.fail("codec " + oracle::describe(x));
    }
  }
  tally.finish(checked);
  CHECK(std::isnan(decode(encode(std::numeric_limits<double>::quiet_NaN(), f), f)));
}

TEST_CASE("spellings outside the valid range are refused, naming the spelling and the range") {
  struct Bad {
    const char* spelling;
    const char* says;
  };
  const Bad bad[] = {
      {"e12m3", "a minifloat has 1..11"},
      {"e0m3fn", "a minifloat has 1..11"},
      {"e99m3", "a minifloat has 1..11"},
      {"e5m53", "a minifloat has 0..52"},
      {"e11m64", "a minifloat has 0..52"},
      {"e8m99999", "a minifloat has 0..52"},
      {"e11m52fn", "do not fit in a double"},    // top binade at 2^1024
      {"e11m52fnuz", "do not fit in a double"},  // bias 1024: smallest value 2^-1075
      {"e11m52:nosub:bias=1024", "do not fit in a double"},
      {"e5m33:bias=2000", "the bias is too far from the default 15"},
      {"e5m33:bias=-1000", "the bias is too far from the default 15"},
      {"e8m31fn:bias=-769", "do not fit in a double"},  // emax 1024
      {"e5m33:bias=1043", "do not fit in a double"},    // smallest value 2^-1075
  };
  for (const Bad& b : bad) {
    INFO("spelling: " << b.spelling);
    try {
      (void)parse_format(b.spelling);
      FAIL_CHECK("accepted");
    } catch (const FormatError& e) {
      const std::string what = e.what();
      INFO("message: " << what);
      CHECK(what.find("\"" + std::string(b.spelling) + "\"") != std::string::npos);
      CHECK(what.find(b.says) != std::string::npos);
    }
  }
  // Just inside: the extreme biases that still fit.
  CHECK(parse_format("e8m31fn:bias=-768").max_finite() == std::ldexp(std::ldexp(1.0, 32) - 2, 1023 - 31));
  CHECK(parse_format("e11m51fnuz").min_subnormal() == std::numeric_limits<double>::denorm_min());
  CHECK(parse_format("e5m33:bias=1042").min_subnormal() == std::numeric_limits<double>::denorm_min());
}

}  // TEST_SUITE
