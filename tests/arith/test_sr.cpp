// Stochastic rounding: the probability of rounding up is the exact fraction
// (sr) or the fraction truncated to k bits (sr<k>); results are one of the
// two neighbours; the bits are those of the counter-based generator of docs/formats.md,
// so array, scalar, any thread count and any tiling agree bit for bit.
#include <doctest/doctest.h>
#include <omp.h>

#include <bit>
#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "arith/arith.hpp"
#include "arith/philox.hpp"
#include "check_util.hpp"
#include "oracle.hpp"

using namespace lpsim;
using arith::Format;
using arith::Mode;
using arith::RandomKey;
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
FixedSpec fx(int W, int F, bool is_signed = true, bool wrap = false) {
  FixedSpec s;
  s.W = W;
  s.F = F;
  s.is_signed = is_signed;
  s.wrap = wrap;
  return s;
}

// A format under test with its oracle, minifloat or fixed point.
struct Subject {
  Format f;
  std::variant<FloatOracle, FixedOracle> o;
  explicit Subject(const FloatSpec& s) : f(arith::parse_format(s.spelling())), o(FloatOracle(s)) {}
  explicit Subject(const FixedSpec& s) : f(arith::parse_format(s.spelling())), o(FixedOracle(s)) {}
  struct Cand {
    Outcome down, up;
    Q frac;
  };
  Cand candidates(double x) const {
    return std::visit(
        [&](const auto& o) {
          const auto c = o.candidates(o.analyze(x));
          return Cand{c.down, c.up, c.frac};
        },
        o);
  }
};

Q truncate(const Q& frac, int k) {
  if (k == 0) return frac;
  const Q t = frac * oracle::pow2(k);
  return Q(boost::multiprecision::numerator(t) / boost::multiprecision::denominator(t)) * oracle::pow2(-k);
}

double approx(const Q& q) { return q.convert_to<double>(); }

constexpr std::size_t kN = 1 << 18;

// Rounds kN copies of x (indices 0..kN-1) and compares the share of upper
// results with the expected probability: within 5 sigma, while the wrong
// probabilities 0.5, 1 - p and (for sr<k>) the untruncated fraction are
// rejected at 5 sigma of their own.
void check_statistics(const Subject& s, double x, int k, RandomKey key) {
  const auto c = s.candidates(x);
  const Q pq = truncate(c.frac, k);
  const double p = approx(pq), p_exact = approx(c.frac);
  INFO(s.f.spelling << " sr" << (k ? std::to_string(k) : "") << " in " << oracle::describe(x) << " down "
                    << c.down.str() << " up " << c.up.str() << " P(up) " << p << " (exact fraction " << p_exact
                    << ")");
  REQUIRE(c.frac > 0);
  REQUIRE(c.frac < 1);
  REQUIRE_FALSE((c.down.kind == c.up.kind && c.down.value == c.up.value));
  const std::vector<double> in(kN, x);
  std::vector<double> out(kN);
  arith::quantize(in.data(), out.data(), kN, s.f, Rounding{Mode::SR, k}, key, 0);
  std::size_t ups = 0, downs = 0, others = 0;
  for (double v : out) {
    if (matches(c.up, v)) ++ups;
    else if (matches(c.down, v)) ++downs;
    else ++others;
  }
  CHECK(others == 0);  // only ever one of the two neighbours
  const double phat = double(ups) / kN;
  const auto sigma = [](double q) { return std::sqrt(q * (1 - q) / double(kN)); };
  INFO("observed " << phat << " sigma " << sigma(p));
  if (pq == 0) CHECK(ups == 0);
  else CHECK(std::fabs(phat - p) <= 5 * sigma(p));
  std::vector<double> wrong{0.5, 1 - p_exact};
  if (k) wrong.push_back(p_exact);
  int rejected = 0;
  for (double w : wrong) {
    if (std::fabs(w - p) < 0.02) continue;  // not a distinguishable alternative for this input
    CHECK(std::fabs(phat - w) > 5 * sigma(w));
    ++rejected;
  }
  CHECK(rejected >= 1);
}

}  // namespace

TEST_SUITE("stochastic") {

TEST_CASE("sr and sr<k>: empirical probability matches the exact (truncated) fraction") {
  struct Case {
    Subject s;
    double x;
  };
  // x = lower neighbour + fraction * gap, fractions 5/16 = 0.0101b and
  // 13/16 = 0.1101b (their truncations to 1, 2, 3 bits differ from them),
  // and a non-dyadic-looking one (the oracle gives its exact value).
  const Subject e4m3(fs(4, 3, Sp::FN)), e5m2(fs(5, 2)), fp16(fs(5, 10)), bf16(fs(8, 7)),
      nosub(fs(4, 3, Sp::FN, true)), fp4(fs(2, 1, Sp::FN, false, false, true)), fxw(fx(8, 4, true, true)),
      ufx(fx(8, 3, false)), fnuz(fs(5, 2, Sp::FNUZ));
  const Case cases[] = {
      {e4m3, 1 + 0.125 * 5 / 16},
      {e4m3, -(1 + 0.125 * 13 / 16)},
      {e4m3, 448 + 32.0 * 5 / 16},  // up is the overflow step: NaN
      {e5m2, 2 + 0.5 * 13 / 16},
      {e5m2, -(57344 + 8192.0 * 13 / 16)},  // up: -inf
      {fp16, 1 + 0x1p-10 * 0.3},
      {fp16, 0x1p-24 * 5 / 16},             // between 0 and the smallest subnormal
      {bf16, 0x1p-133 * (1 + 13.0 / 16)},
      {nosub, 15 * 0x1p-10 + 0x1p-10 * 5 / 16},  // down flushes to 0, up is 2^-6
      {fp4, 4 + 2.0 * 13 / 16},
      {fp4, -(0.5 * 5 / 16)},
      {fxw, 1.25 + 0.0625 * 13 / 16},
      {fxw, 7.9375 + 0.0625 * 5 / 16},  // up wraps to -8
      {fxw, -(3 + 0.0625 * 5 / 16)},
      {ufx, 2 + 0.125 * 13 / 16},
      {fnuz, -(0x1p-17 * 5 / 16)},  // down is +0 (no -0)
  };
  std::uint32_t stream = 0;
  for (const Case& c : cases)
    for (int k : {0, 1, 2, 3, 4, 20}) check_statistics(c.s, c.x, k, RandomKey{0x5EEDull, stream++});
}

TEST_CASE("sr and sr<k>: every decision equals the oracle's on the same random bits") {
  // Independent of the statistics: U = 0.w0 w1 w2 ... in binary from
  // random_word(seed, stream, index, j); up iff U < fraction (sr), or iff the
  // top k bits of w0 are below the fraction truncated to k bits (sr<k>).
  const Subject subjects[] = {Subject(fs(4, 3, Sp::FN)), Subject(fs(5, 10)),  Subject(fs(8, 7)),
                              Subject(fs(3, 2, Sp::FNUZ, true)), Subject(fs(2, 1, Sp::FN, false, false, true)),
                              Subject(fx(8, 4, true, true)), Subject(fx(16, 8)), Subject(fx(8, 0, false))};
  std::mt19937_64 gen(12345);
  for (const Subject& s : subjects) {
    const double big = s.f.max_finite() * 1.1;
    std::vector<double> xs;
    std::uniform_real_distribution<double> uni(-big, big);
    std::uniform_int_distribution<int> ex(-70, 0);
    for (int i = 0; i < 3000; ++i) xs.push_back(uni(gen));
    for (int i = 0; i < 1000; ++i) xs.push_back(std::ldexp(uni(gen), ex(gen)));  // small and tiny magnitudes
    std::vector<float> xf(xs.begin(), xs.end());
    for (int k : {0, 1, 3, 8, 64}) {
      const Rounding r{Mode::SR, k};
      const RandomKey key{0xC0FFEEull + std::uint64_t(k), 11};
      const std::uint64_t index0 = k % 2 ? (1ull << 32) - 5 : 1000;  // odd k: indices cross 2^32
      Tally t(s.f.spelling + " " + r.spelling() + " vs oracle decisions");
      std::vector<double> out(xs.size());
      arith::quantize(xs.data(), out.data(), xs.size(), s.f, r, key, index0);
      std::vector<float> outf(xs.size());
      const bool fl = s.f.fits_in_float();
      if (fl) arith::quantize(xf.data(), outf.data(), xf.size(), s.f, r, key, index0);
      for (std::size_t i = 0; i < xs.size(); ++i) {
        const std::uint64_t idx = index0 + i;
        const auto check_one = [&](double x, double array_got, bool is_float, float array_got_f) {
          const auto c = s.candidates(x);
          const bool up = oracle::sr_up(c.frac, k, key.seed, key.stream, idx);
          const Outcome& e = up ? c.up : c.down;
          const std::string where = " index " + std::to_string(idx) + " in " + oracle::describe(x) + " expected " + e.str();
          if (!is_float) {
            if (!matches(e, array_got)) t.fail("array double" + where + " got " + oracle::describe(array_got));
            const double sc = arith::quantize(x, s.f, r, key, idx);
            if (!matches(e, sc)) t.fail("scalar double" + where + " got " + oracle::describe(sc));
          } else {
            if (!matches(e, array_got_f)) t.fail("array float" + where + " got " + oracle::describe(array_got_f));
            const float sc = arith::quantize(float(x), s.f, r, key, idx);
            if (!matches(e, sc)) t.fail("scalar float" + where + " got " + oracle::describe(sc));
          }
        };
        check_one(xs[i], out[i], false, 0);
        if (fl) check_one(double(xf[i]), 0, true, outf[i]);
      }
      t.finish(xs.size());
    }
  }
}

TEST_CASE("sr: a tie on the first 64 random bits is settled by the next word") {
  // x's fraction (relative to the quantum) is w0 * 2^-64 + 2^-65 where w0 is
  // the first random word of the element: U < fraction iff w1 < 2^63. With
  // fraction exactly w0 * 2^-64, U >= fraction: never up. The fast path sees
  // only 64 bits of the fraction here and must defer to the exact rule.
  struct S {
    Subject s;
    double quantum;  // of the results near 0
  };
  const S subjects[] = {{Subject(fx(8, 0)), 1.0}, {Subject(fs(5, 10)), 0x1p-24}, {Subject(fs(4, 3, Sp::FN)), 0x1p-9},
                        {Subject(fx(8, 4, true, true)), 0x1p-4}};
  const RandomKey key{777, 5};
  int found = 0;
  for (std::uint64_t idx = 0; idx < (1u << 16) && found < 6; ++idx) {
    const std::uint64_t w0 = arith::random_word(key.seed, key.stream, idx, 0);
    if (w0 >> 52) continue;  // need 2 * w0 + 1 < 2^53 to be exact in a double
    ++found;
    for (const S& t : subjects) {
      for (int variant = 0; variant < 2; ++variant) {
        const double frac_scaled = variant == 0 ? std::ldexp(double(2 * w0 + 1), -65) : std::ldexp(double(w0), -64);
        for (double sign : {1.0, -1.0}) {
          const double x = sign * frac_scaled * t.quantum;
          const auto c = t.s.candidates(x);
          const bool up = oracle::sr_up(c.frac, 0, key.seed, key.stream, idx);
          if (variant == 1) CHECK_FALSE(up);
          if (variant == 0) CHECK(up == (arith::random_word(key.seed, key.stream, idx, 1) < (std::uint64_t(1) << 63)));
          const Outcome& e = up ? c.up : c.down;
          INFO(t.s.f.spelling << " index " << idx << " in " << oracle::describe(x) << " expected " << e.str());
          // array of one element at this index, and a longer array around it
          double out = 0;
          arith::quantize(&x, &out, 1, t.s.f, Rounding{Mode::SR, 0}, key, idx);
          CHECK(matches(e, out));
          CHECK(matches(e, arith::quantize(x, t.s.f, Rounding{Mode::SR, 0}, key, idx)));
          const std::size_t at = std::size_t(std::min<std::uint64_t>(idx, 1234));
          std::vector<double> xs(3000, x), outs(3000);
          arith::quantize(xs.data(), outs.data(), xs.size(), t.s.f, Rounding{Mode::SR, 0}, key, idx - at);
          CHECK(matches(e, outs[at]));
        }
      }
    }
  }
  CHECK(found == 6);
}

TEST_CASE("sr: identical for any thread count, tiling, scalar or array") {
  const int saved = omp_get_max_threads();
  for (const char* name : {"e4m3fn", "fp16", "bf16", "fx8.4:wrap", "e2m1fn:nonan"}) {
    const Format f = arith::parse_format(name);
    INFO(f.spelling);
    std::mt19937_64 gen(99);
    std::uniform_real_distribution<double> uni(-f.max_finite() * 1.05, f.max_finite() * 1.05);
    const std::size_t n = (1 << 17) + 123;
    std::vector<double> xs(n);
    for (double& v : xs) v = uni(gen);
    std::vector<float> xf(xs.begin(), xs.end());
    for (int k : {0, 5}) {
      const Rounding r{Mode::SR, k};
      const RandomKey key{0xABCDEF0123ull, 3};
      const std::uint64_t index0 = 7;
      std::vector<double> one(n), two(n), tiled(n), reseeded(n);
      std::vector<float> onef(n), twof(n);
      omp_set_num_threads(1);
      arith::quantize(xs.data(), one.data(), n, f, r, key, index0);
      arith::quantize(xf.data(), onef.data(), n, f, r, key, index0);
      omp_set_num_threads(2);
      arith::quantize(xs.data(), two.data(), n, f, r, key, index0);
      arith::quantize(xf.data(), twof.data(), n, f, r, key, index0);
      const std::size_t cut = 40000;  // uneven tiles, each with its first index
      arith::quantize(xs.data(), tiled.data(), cut, f, r, key, index0);
      arith::quantize(xs.data() + cut, tiled.data() + cut, n - cut, f, r, key, index0 + cut);
      arith::quantize(xs.data(), reseeded.data(), n, f, r, RandomKey{key.seed + 1, key.stream}, index0);
      std::size_t diff_threads = 0, diff_tiles = 0, diff_scalar = 0, diff_float = 0, diff_seed = 0;
      for (std::size_t i = 0; i < n; ++i) {
        diff_threads += std::bit_cast<std::uint64_t>(one[i]) != std::bit_cast<std::uint64_t>(two[i]);
        diff_tiles += std::bit_cast<std::uint64_t>(one[i]) != std::bit_cast<std::uint64_t>(tiled[i]);
        diff_float += std::bit_cast<std::uint32_t>(onef[i]) != std::bit_cast<std::uint32_t>(twof[i]);
        diff_seed += one[i] != reseeded[i];
        if (i % 7 == 0) {
          const double sc = arith::quantize(xs[i], f, r, key, index0 + i);
          diff_scalar += std::bit_cast<std::uint64_t>(sc) != std::bit_cast<std::uint64_t>(one[i]);
          const float scf = arith::quantize(xf[i], f, r, key, index0 + i);
          diff_scalar += std::bit_cast<std::uint32_t>(scf) != std::bit_cast<std::uint32_t>(onef[i]);
        }
      }
      INFO(r.spelling());
      CHECK(diff_threads == 0);
      CHECK(diff_tiles == 0);
      CHECK(diff_float == 0);
      CHECK(diff_scalar == 0);
      CHECK(diff_seed > n / 10);  // the seed matters (a sanity check of the comparison itself)
    }
  }
  omp_set_num_threads(saved);
}

}  // TEST_SUITE
