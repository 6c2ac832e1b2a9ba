// Exhaustive checks of the arith core against the exact oracle (oracle.hpp):
// every code of every minifloat up to 8 bits (all splits and variants), a set
// of 16-bit minifloats, fixed point up to 16 bits. For each format: the
// queries, decode/encode of every code, and quantize (scalar and array, float
// and double input) at every value, every midpoint and one ulp either side of
// each, for every deterministic rounding mode.
#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "arith/arith.hpp"
#include "check_util.hpp"
#include "oracle.hpp"

using namespace lpsim;
using arith::Format;
using arith::Mode;
using arith::Rounding;
using oracle::FixedOracle;
using oracle::FixedSpec;
using oracle::FloatOracle;
using oracle::FloatSpec;
using oracle::Outcome;
using oracle::Q;
using oracle::Sp;
using testing::matches;
using testing::Tally;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

template <class T>
bool exactly_in(double a) {
  return std::isfinite(a) && std::fabs(a) <= double(std::numeric_limits<T>::max()) && double(T(a)) == a;
}

// The anchor (if wanted) and one ulp of T either side, as doubles.
template <class T>
void add_near(std::vector<double>& out, double a, bool with_anchor) {
  if (!exactly_in<T>(a)) return;
  const T t = T(a);
  if (with_anchor) out.push_back(a);
  out.push_back(double(std::nextafter(t, std::numeric_limits<T>::infinity())));
  out.push_back(double(std::nextafter(t, -std::numeric_limits<T>::infinity())));
}

// Both signs of every point, each once (by bit pattern), NaNs appended.
std::vector<double> finish_points(std::vector<double> pts, bool mirror, bool nans) {
  const std::size_t n = pts.size();
  if (mirror)
    for (std::size_t i = 0; i < n; ++i) pts.push_back(-pts[i]);
  std::sort(pts.begin(), pts.end(), [](double a, double b) {
    return std::bit_cast<std::uint64_t>(a) < std::bit_cast<std::uint64_t>(b);
  });
  pts.erase(std::unique(pts.begin(), pts.end(),
                        [](double a, double b) { return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b); }),
            pts.end());
  if (nans) {
    pts.push_back(std::numeric_limits<double>::quiet_NaN());
    pts.push_back(-std::numeric_limits<double>::quiet_NaN());
    pts.push_back(double(std::bit_cast<float>(0x7FC12345u)));  // a payload, exactly a float
  }
  return pts;
}

// Quantize every point through one input type, scalar and array, and compare
// with the expected outcomes.
template <class T>
void run_paths(const Format& f, Rounding r, const std::vector<double>& xs, const std::vector<Outcome>& ex,
               const std::vector<std::size_t>& array_ok, const std::string& set) {
  const std::string head = f.spelling + " " + oracle::mode_name(r.mode) + " " +
                           (std::is_same_v<T, float> ? "float" : "double") + " input, " + set + " points, ";
  Tally scalar(head + "scalar quantize"), array(head + "array quantize");
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const T x = T(xs[i]);
    if (ex[i].kind == Outcome::Kind::Error) {
      bool threw = false;
      try {
        (void)arith::quantize(x, f, r);
      } catch (const std::domain_error&) {
        threw = true;
      }
      if (!threw) scalar.fail("in " + oracle::describe(x) + ": expected std::domain_error");
      continue;
    }
    const T got = arith::quantize(x, f, r);
    if (!matches(ex[i], got))
      scalar.fail("in " + oracle::describe(x) + " expected " + ex[i].str() + " got " + oracle::describe(got));
  }
  std::vector<T> in(array_ok.size()), out(array_ok.size());
  for (std::size_t k = 0; k < in.size(); ++k) in[k] = T(xs[array_ok[k]]);
  arith::quantize(in.data(), out.data(), in.size(), f, r);
  for (std::size_t k = 0; k < in.size(); ++k) {
    const Outcome& e = ex[array_ok[k]];
    if (!matches(e, out[k]))
      array.fail("element " + std::to_string(k) + " in " + oracle::describe(in[k]) + " expected " + e.str() +
                 " got " + oracle::describe(out[k]));
  }
  scalar.finish(xs.size());
  array.finish(in.size());
}

// xs: the points (exactly floats when float_too). The oracle's analysis is
// done once per point, then every mode and path is compared with it.
template <class Oracle>
void check_rounding(const Format& f, const Oracle& o, const std::vector<double>& xs, bool float_too,
                    const std::string& set) {
  std::vector<typename Oracle::Analysis> an;
  an.reserve(xs.size());
  for (double x : xs) an.push_back(o.analyze(x));
  std::vector<std::size_t> array_ok;  // a NaN the format cannot hold throws: those go through the scalar path only
  for (std::size_t i = 0; i < xs.size(); ++i)
    if (o.outcome(an[i], Mode::RNE).kind != Outcome::Kind::Error) array_ok.push_back(i);
  std::vector<Outcome> ex(xs.size());
  for (Mode m : oracle::kDeterministic) {
    for (std::size_t i = 0; i < xs.size(); ++i) ex[i] = o.outcome(an[i], m);
    const Rounding r{m, 0};
    run_paths<double>(f, r, xs, ex, array_ok, set);
    if (float_too) run_paths<float>(f, r, xs, ex, array_ok, set);
  }
}

// ---- minifloats ----------------------------------------------------------------

void check_float_queries(const Format& f, const FloatSpec& s, const FloatOracle& o) {
  CHECK(f.kind == arith::Kind::Float);
  CHECK(f.exp_bits == s.E);
  CHECK(f.man_bits == s.M);
  CHECK(f.bias == s.bias());
  CHECK(f.bits() == 1 + s.E + s.M);
  CHECK(f.num_codes() == (std::uint64_t(1) << (1 + s.E + s.M)));
  CHECK(f.max_finite() == o.max_finite());
  CHECK(f.lowest() == -o.max_finite());
  CHECK(f.min_normal() == o.min_normal());
  CHECK(f.min_subnormal() == o.min_subnormal());
  CHECK(f.epsilon() == std::ldexp(1.0, -s.M));
  CHECK(f.has_inf() == o.has_inf());
  CHECK(f.has_nan() == o.has_nan());
  CHECK(f.has_negative_zero() == o.has_negative_zero());
  bool all_float = true;
  for (const auto& p : o.grid())
    if (p.role == FloatOracle::Point::Role::Value) all_float &= exactly_in<float>(p.mag);
  CHECK(f.fits_in_float() == all_float);
  CHECK(f.fits_in_double());
  CHECK(arith::parse_format(f.spelling).spelling == f.spelling);
}

// stride > 1: only every stride-th code / grid value (and the ends), for
// formats too wide to enumerate in the quick suite.
bool sampled_out(std::uint64_t i, std::uint64_t n, std::uint64_t stride) {
  return stride > 1 && i % stride != 0 && i > 64 && i + 64 < n;
}

void check_float_codes(const Format& f, const FloatSpec& s, const FloatOracle& o, std::uint64_t stride) {
  const std::uint64_t sign = std::uint64_t(1) << (s.E + s.M);
  Tally dec(f.spelling + " decode"), enc(f.spelling + " encode(decode(code))"), rej(f.spelling + " encode rejects");
  const std::uint64_t n = std::uint64_t(1) << (1 + s.E + s.M);
  for (std::uint64_t c = 0; c < n; ++c) {
    if (sampled_out(c % sign, sign, stride)) continue;
    const oracle::Decoded d = oracle::decode(s, c);
    Outcome want;
    if (d.kind == oracle::Decoded::Kind::NaN) want = Outcome::nan();
    else if (d.kind == oracle::Decoded::Kind::Inf) want = Outcome::val(d.negative ? -kInf : kInf);
    else want = Outcome::val(d.negative ? -*oracle::to_double(d.mag) : *oracle::to_double(d.mag));
    const double got = arith::decode(c, f);
    if (!matches(want, got))
      dec.fail("code 0x" + [&] { char b[24]; std::snprintf(b, sizeof b, "%llx", (unsigned long long)c); return std::string(b); }() +
               " expected " + want.str() + " got " + oracle::describe(got));
    // Round trip: the same code, except that NaN encodes to a NaN code and
    // :nosub subnormal codes (which decode to zero) encode as zero.
    std::uint64_t back = ~std::uint64_t(0);
    try {
      back = arith::encode(got, f);
    } catch (const std::exception& e) {
      enc.fail("code " + std::to_string(c) + " value " + oracle::describe(got) + " threw " + e.what());
      continue;
    }
    bool ok;
    if (d.kind == oracle::Decoded::Kind::NaN) ok = back < n && oracle::decode(s, back).kind == oracle::Decoded::Kind::NaN;
    else if (d.kind == oracle::Decoded::Kind::Finite && d.mag == 0) ok = back == (d.negative ? sign : 0);
    else ok = back == c;
    if (!ok) enc.fail("code " + std::to_string(c) + " value " + oracle::describe(got) + " encoded " + std::to_string(back));
  }
  // Numbers that are not values of the format must be rejected.
  auto must_reject = [&](double v) {
    bool threw = false;
    try {
      (void)arith::encode(v, f);
    } catch (const std::invalid_argument&) {
      threw = true;
    }
    if (!threw) rej.fail("encode accepted " + oracle::describe(v));
  };
  const auto& g = o.grid();
  for (std::size_t i = 0; i + 1 < g.size(); ++i) {
    if (sampled_out(i, g.size(), stride)) continue;
    const auto mid = oracle::to_double((g[i].q + g[i + 1].q) / 2);
    if (mid) {
      must_reject(*mid);
      must_reject(-*mid);
    }
    if (g[i].role == FloatOracle::Point::Role::FlushToZero && g[i].exact) must_reject(g[i].mag);
  }
  if (g.back().exact) must_reject(g.back().mag);  // the step beyond the largest value
  if (!o.has_inf()) must_reject(kInf);
  if (!o.has_nan()) must_reject(std::numeric_limits<double>::quiet_NaN());
  dec.finish(n);
  enc.finish(n);
  rej.finish(g.size());
}

void check_float_rounding(const Format& f, const FloatOracle& o, std::uint64_t stride) {
  std::vector<double> anchors;
  const auto& g = o.grid();
  for (std::size_t i = 0; i < g.size(); ++i) {
    if (sampled_out(i, g.size(), stride) && !(g[i].mag >= o.min_normal() / 2 && g[i].mag <= o.min_normal() * 2))
      continue;
    anchors.push_back(g[i].mag);
    if (i + 1 < g.size())
      if (const auto mid = oracle::to_double((g[i].q + g[i + 1].q) / 2)) anchors.push_back(*mid);
  }
  // Around the smallest normal (the :nosub boundary) and beyond the overflow step.
  for (double k : {0.5, 0.25, 0.75}) anchors.push_back(o.min_normal() * k);
  if (std::isfinite(g.back().mag))
    for (double k : {1.5, 2.0, 4.0, 1024.0}) anchors.push_back(g.back().mag * k);
  const bool fl = f.fits_in_float();
  std::vector<double> fpts, dpts;
  for (double a : anchors) {
    if (fl) add_near<float>(fpts, a, true);
    add_near<double>(dpts, a, !(fl && exactly_in<float>(a)));
  }
  for (double a : {double(std::numeric_limits<float>::denorm_min()), double(std::numeric_limits<float>::min()),
                   double(std::numeric_limits<float>::max()), 1e30, kInf, 0.0})
    (fl ? fpts : dpts).push_back(a);
  for (double a : {std::numeric_limits<double>::denorm_min(), std::numeric_limits<double>::min(),
                   std::numeric_limits<double>::max(), 1e300, 0x1p-1060})
    dpts.push_back(a);
  if (fl) check_rounding(f, o, finish_points(fpts, true, true), true, "float");
  check_rounding(f, o, finish_points(dpts, true, !fl), false, "double");
  if (!fl) CHECK_THROWS_AS((void)arith::quantize(1.0f, f), std::invalid_argument);
}

void check_float_format(const FloatSpec& s, std::uint64_t stride = 1) {
  const std::string sp = s.spelling();
  if (!s.legal()) {
    CHECK_THROWS_AS(arith::parse_format(sp), arith::FormatError);
    return;
  }
  Format f;
  try {
    f = arith::parse_format(sp);
  } catch (const std::exception& e) {
    FAIL_CHECK(sp << " rejected: " << e.what());
    return;
  }
  CHECK(f.spelling == sp);
  const FloatOracle o(s);
  check_float_queries(f, s, o);
  check_float_codes(f, s, o, stride);
  check_float_rounding(f, o, stride);
}

std::vector<FloatSpec> all_small_minifloats() {
  std::vector<FloatSpec> v;
  for (int bits = 2; bits <= 8; ++bits)
    for (int E = 1; E <= bits - 1; ++E)
      for (Sp sp : {Sp::IEEE, Sp::FN, Sp::FNUZ})
        for (int opt = 0; opt < 8; ++opt) {
          FloatSpec s;
          s.E = E;
          s.M = bits - 1 - E;
          s.sp = sp;
          s.nosub = opt & 1;
          s.sat = opt & 2;
          s.nonan = opt & 4;
          v.push_back(s);
        }
  return v;
}

FloatSpec fs(int E, int M, Sp sp = Sp::IEEE, bool nosub = false, bool sat = false, bool nonan = false) {
  FloatSpec s;
  s.E = E;
  s.M = M;
  s.sp = sp;
  s.nosub = nosub;
  s.sat = sat;
  s.nonan = nonan;
  return s;
}

// ---- fixed point -------------------------------------------------------------------

void check_fixed_format(const FixedSpec& s) {
  const std::string sp = s.spelling();
  Format f;
  try {
    f = arith::parse_format(sp);
  } catch (const std::exception& e) {
    FAIL_CHECK(sp << " rejected: " << e.what());
    return;
  }
  const FixedOracle o(s);
  CHECK(f.kind == arith::Kind::Fixed);
  CHECK(f.spelling == sp);
  CHECK(f.bits() == s.W);
  CHECK(f.num_codes() == (std::uint64_t(1) << s.W));
  CHECK(f.max_finite() == o.max_finite());
  CHECK(f.lowest() == o.lowest());
  CHECK(f.min_normal() == std::ldexp(1.0, -s.F));
  CHECK(f.min_subnormal() == std::ldexp(1.0, -s.F));
  CHECK(f.epsilon() == std::ldexp(1.0, -s.F));
  CHECK_FALSE(f.has_inf());
  CHECK_FALSE(f.has_nan());
  CHECK_FALSE(f.has_negative_zero());

  // Every code: decode matches the oracle, encode gives the code back.
  {
    Tally dec(sp + " decode"), enc(sp + " encode(decode(code))");
    const std::uint64_t n = std::uint64_t(1) << s.W;
    for (std::uint64_t c = 0; c < n; ++c) {
      const oracle::Decoded d = oracle::decode(s, c);
      const double want = d.negative ? -*oracle::to_double(d.mag) : *oracle::to_double(d.mag);
      const double got = arith::decode(c, f);
      if (std::bit_cast<std::uint64_t>(got) != std::bit_cast<std::uint64_t>(want))
        dec.fail("code " + std::to_string(c) + " expected " + oracle::describe(want) + " got " + oracle::describe(got));
      std::uint64_t back = ~std::uint64_t(0);
      try {
        back = arith::encode(got, f);
      } catch (const std::exception& e) {
        enc.fail("code " + std::to_string(c) + " threw " + e.what());
        continue;
      }
      if (back != c) enc.fail("code " + std::to_string(c) + " encoded " + std::to_string(back));
    }
    dec.finish(n);
    enc.finish(n);
    for (double v : {o.max_finite() + std::ldexp(1.0, -s.F), o.lowest() - std::ldexp(1.0, -s.F),
                     std::ldexp(1.0, -s.F - 1), o.max_finite() - std::ldexp(1.0, -s.F - 1),
                     std::numeric_limits<double>::quiet_NaN(), kInf})
      CHECK_THROWS_AS((void)arith::encode(v, f), std::invalid_argument);
  }

  // Points: every value and midpoint in range and a margin either side,
  // values several ranges away (wrap), and far-away magnitudes.
  const Q q = oracle::pow2(-s.F);
  const long long nmin = s.n_min().convert_to<long long>(), nmax = s.n_max().convert_to<long long>();
  const long long range = 1LL << s.W;
  std::vector<long long> ns;
  for (long long n = nmin - 4; n <= nmax + 4; ++n) ns.push_back(n);
  for (long long k : {1LL, 2LL, 3LL, 1000LL})
    for (long long d : {-1LL, 0LL, 1LL, 7LL}) {
      ns.push_back(nmax + k * range + d);
      ns.push_back(nmin - k * range - d);
    }
  if (!s.is_signed)  // negative inputs near zero
    for (long long n = 1; n <= 64; ++n) ns.push_back(-n);
  std::vector<double> anchors;
  for (long long n : ns) {
    anchors.push_back(*oracle::to_double(Q(n) * q));
    anchors.push_back(*oracle::to_double((Q(n) + Q(1, 2)) * q));
  }
  std::vector<double> fpts, dpts;
  for (double a : anchors) {
    add_near<float>(fpts, a, true);
    add_near<double>(dpts, a, !exactly_in<float>(a));
  }
  for (double a : {std::ldexp(1.0, -s.F - 70), std::ldexp(1.0, s.W - s.F + 40), 1e30, kInf, 0.0,
                   double(std::numeric_limits<float>::max()), double(std::numeric_limits<float>::denorm_min())})
    fpts.push_back(a);
  for (double a : {std::ldexp(3.0, -s.F - 80) + std::ldexp(1.0, -s.F - 140), 1e300, std::numeric_limits<double>::max(),
                   std::numeric_limits<double>::denorm_min()})
    dpts.push_back(a);
  check_rounding(f, o, finish_points(fpts, true, true), true, "float");
  check_rounding(f, o, finish_points(dpts, true, false), false, "double");
}

FixedSpec fx(int W, int F, bool is_signed = true, bool wrap = false) {
  FixedSpec s;
  s.W = W;
  s.F = F;
  s.is_signed = is_signed;
  s.wrap = wrap;
  return s;
}

}  // namespace

TEST_SUITE("exhaustive") {

TEST_CASE("every minifloat up to 8 bits: queries, codes, rounding") {
  std::size_t legal = 0;
  for (const FloatSpec& s : all_small_minifloats()) {
    legal += s.legal();
    SUBCASE(s.spelling().c_str()) { check_float_format(s); }
  }
  // 28 splits; per split IEEE (E >= 2) 4 variants, fn 8 (e1m0fn: 4), fnuz 4.
  CHECK(legal == 28 * 16 - 7 * 4 - 4);
}

TEST_CASE("minifloats with an explicit bias: queries, codes, rounding") {
  // Values reaching into float's and double's subnormal range, or up to
  // their largest exponent (the overflow step beyond them), and formats a
  // float cannot hold (double input only).
  const std::pair<FloatSpec, int> specs[] = {
      {fs(4, 3), 135},                        {fs(4, 3, Sp::IEEE, true), 135},  {fs(4, 3, Sp::FN, true), 130},
      {fs(5, 2), 140},                        {fs(5, 2, Sp::FNUZ, true), 141},  {fs(3, 4), -5},
      {fs(4, 3, Sp::FN), -100},               {fs(5, 2), -97},                  {fs(5, 2), -98},
      {fs(5, 2, Sp::IEEE, false, true), -98}, {fs(5, 2), -993},                 {fs(5, 2), 1050},
      {fs(5, 2, Sp::IEEE, true), 1050},       {fs(5, 2), 1060},                 {fs(4, 3, Sp::IEEE, true), 1030},
      {fs(2, 5, Sp::FN, false, false, true), 0}, {fs(1, 6, Sp::FNUZ), -3},     {fs(6, 9), 20},
      // smallest subnormal exactly float's / double's; :nosub then rounds at a quantum below it
      {fs(4, 3), 147},                        {fs(4, 3, Sp::IEEE, true), 147},  {fs(4, 3, Sp::IEEE, true), 1072},
  };
  for (auto [s, bias] : specs) {
    s.explicit_bias = bias;
    SUBCASE(s.spelling().c_str()) { check_float_format(s); }
  }
}

TEST_CASE("16-bit minifloats: queries, codes, rounding") {
  const FloatSpec specs[] = {
      fs(5, 10),                        // fp16
      fs(8, 7),                         // bf16
      fs(6, 9), fs(4, 11), fs(7, 8), fs(3, 12, Sp::FN, false, false, true),
      fs(5, 10, Sp::IEEE, true, true),  // fp16:nosub:sat
      fs(5, 10, Sp::FNUZ),              // fp16 fnuz
      fs(4, 11, Sp::FN, true),          // fn:nosub
      fs(8, 7, Sp::IEEE, true),         // bf16:nosub: below float's normal range
      fs(9, 6),                         // beyond float: double input only
      fs(11, 4),                        // its overflow step 2^1024 is beyond double
  };
  for (const FloatSpec& s : specs) {
    SUBCASE(s.spelling().c_str()) { check_float_format(s); }
  }
}

TEST_CASE("19- and 20-bit minifloats (sampled): queries, codes, rounding") {
  // The oracle still enumerates every value; the points are every 37th
  // value and midpoint, all those near the ends and near the smallest normal.
  const FloatSpec specs[] = {fs(8, 10), fs(5, 13, Sp::FN), fs(6, 12, Sp::FNUZ, true), fs(8, 11, Sp::IEEE, false, true)};
  for (const FloatSpec& s : specs) {
    SUBCASE(s.spelling().c_str()) { check_float_format(s, 37); }
  }
}

TEST_CASE("fixed point up to 8 bits: queries, codes, rounding") {
  for (int W = 1; W <= 8; ++W)
    for (int F : std::set<int>{-3, -1, 0, 1, W - 1, W, W + 3}) {
      for (bool sg : {true, false})
        for (bool wrap : {false, true}) {
          const FixedSpec s = fx(W, F, sg, wrap);
          SUBCASE(s.spelling().c_str()) { check_fixed_format(s); }
        }
    }
}

TEST_CASE("16-bit fixed point: queries, codes, rounding") {
  const FixedSpec specs[] = {fx(16, 8), fx(16, 0, true, true), fx(16, 16, false, true), fx(16, -4, true, true),
                             fx(16, 3, false), fx(12, 5, true, true), fx(16, 15), fx(16, 20, true)};
  for (const FixedSpec& s : specs) {
    SUBCASE(s.spelling().c_str()) { check_fixed_format(s); }
  }
}

TEST_CASE("wide fixed point (sampled): quantize against the oracle") {
  // Beyond 16 bits the codes are not enumerated: values, midpoints and their
  // neighbours at random magnitudes, plus the range ends, checked the same way.
  const FixedSpec specs[] = {fx(24, 12), fx(32, 16), fx(32, 0, true, true), fx(40, 8, false, true), fx(51, 3),
                             fx(52, 0, false, true), fx(53, 60), fx(53, -20, false)};
  std::mt19937_64 gen(2024);
  for (const FixedSpec& s : specs) {
    SUBCASE(s.spelling().c_str()) {
      const Format f = arith::parse_format(s.spelling());
      const FixedOracle o(s);
      CHECK(f.max_finite() == o.max_finite());
      CHECK(f.lowest() == o.lowest());
      const long long lo = s.n_min().convert_to<long long>(), hi = s.n_max().convert_to<long long>();
      std::uniform_int_distribution<long long> pick(lo, hi);
      std::vector<long long> ns{lo, lo + 1, hi - 1, hi, 0, 1, -1};
      for (int i = 0; i < 6000; ++i) {
        const long long n = pick(gen);
        ns.push_back(n >> (i % 40));  // spread over magnitudes
      }
      std::vector<double> anchors;
      // m * 2^e for integers |m| < 2^53: exact doubles (ldexp is exact in range)
      const auto add = [&](long long m, int e) {
        if (m > -(1LL << 53) && m < (1LL << 53)) anchors.push_back(std::ldexp(double(m), e));
      };
      for (long long n : ns) {
        add(n, -s.F);           // a value
        add(2 * n + 1, -s.F - 1);  // a midpoint
        add(n, 1 - s.F);        // beyond the range for the larger n
        add(n, 30 - s.F);
      }
      const bool fl = f.fits_in_float();
      std::vector<double> fpts, dpts;
      for (double a : anchors) {
        if (fl) add_near<float>(fpts, a, true);
        add_near<double>(dpts, a, true);
      }
      if (fl) check_rounding(f, o, finish_points(fpts, true, false), true, "float");
      check_rounding(f, o, finish_points(dpts, true, false), false, "double");
    }
  }
}

TEST_CASE("quantize(double) does not round twice") {
  // A double just above a midpoint that is itself a float: converting the
  // double to float first would land on the midpoint and round to even
  // (down); rounding the double once must go up.
  for (const char* name : {"fp16", "bf16", "e4m3fn", "e5m2", "e3m4", "fx8.4"}) {
    const Format f = arith::parse_format(name);
    INFO(f.spelling);
    int tested = 0;
    const bool fixed = f.kind == arith::Kind::Fixed;
    for (double lo : {1.0, 2.0, 0.5, fixed ? 4.0 : f.min_normal(), f.min_subnormal() * 2}) {
      // the code of each lo is even (a normal power of two, or twice the
      // smallest subnormal / resolution), so a tie goes down
      const double hi = fixed ? lo + f.epsilon()
                                                     : lo + std::ldexp(f.epsilon(), std::max(std::ilogb(lo), f.emin()));
      if (f.kind == arith::Kind::Float && f.man_bits == 0) continue;
      const double mid = (lo + hi) / 2;
      const double x = std::nextafter(mid, kInf);
      REQUIRE(double(float(x)) == mid);
      INFO("lo " << lo << " x " << oracle::describe(x));
      CHECK(arith::quantize(float(x), f) == float(lo));  // the float's tie goes to the even lo
      CHECK(arith::quantize(x, f) == hi);
      double out = 0;
      arith::quantize(&x, &out, 1, f);
      CHECK(out == hi);
      ++tested;
    }
    CHECK(tested >= 4);
  }
}

}  // TEST_SUITE
