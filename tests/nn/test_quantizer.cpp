// Quantizers against hand-worked examples and grid properties.
#include <doctest/doctest.h>
#include <omp.h>

#include <limits>
#include <vector>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <random>
#include <vector>

#include "arith/isa.hpp"
#include "arith/quantize.hpp"
#include "nn/quantizer.hpp"
#include "nn/tensor.hpp"

using namespace lpsim;
using nn::parse_quant;

namespace {

std::vector<float> q(const char* format, std::vector<float> x, nn::Shape shape = {}, const char* rounding = "rne",
                     int axis = 0, arith::RandomKey key = {}) {
  if (shape.empty()) shape = {std::int64_t(x.size())};
  std::vector<float> out(x.size());
  nn::quantize_tensor(parse_quant(format, rounding), x.data(), out.data(), shape, axis, key);
  return out;
}

std::vector<float> randn(std::size_t n, unsigned seed, float scale = 1) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> nd(0, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(gen);
  return v;
}

float amax_of(const std::vector<float>& v) {
  float m = 0;
  for (float x : v) m = std::max(m, std::fabs(x));
  return m;
}

}  // namespace

TEST_CASE("absmax: symmetric integer grid, scale = amax / (2^(b-1) - 1)") {
  CHECK(q("int8/absmax/tensor", {127, -3.5f, 2.5f, 0.4f}) == std::vector<float>{127, -4, 2, 0});
  CHECK(q("int8/absmax/tensor", {127, -3.5f, 2.5f, 0.4f}, {}, "rz") == std::vector<float>{127, -3, 2, 0});
  // int2: levels {-amax, 0, amax}; -0.5 of a step ties to the even code 0.
  CHECK(q("int2/absmax/tensor", {-0.4f, 0.6f, 2, -1}) == std::vector<float>{0, 0, 2, 0});
  // Per channel (axis 0 of a 2 x 3 weight): each row has its own scale, its maximum exact.
  const auto w = q("int8/absmax/channel", {1, -0.5f, 0.25f, 100, 30, -7}, {2, 3});
  CHECK(w[0] == 1);
  CHECK(w[1] == doctest::Approx(-64.0 / 127).epsilon(1e-7));
  CHECK(w[3] == 100);
  CHECK(w[4] == doctest::Approx(38 * 100.0 / 127).epsilon(1e-7));
  // Float elements: amax maps to the element's largest value (448 for e4m3fn).
  const auto f = q("e4m3fn/absmax/tensor", {0.7f, -0.35f, 0.001f});
  CHECK(f[0] == 0.7f);
  CHECK(f[1] == -0.35f);                                           // 224 on the e4m3 grid
  CHECK(f[2] == doctest::Approx(0.625 * 0.7 / 448).epsilon(1e-6));  // 0.64 -> 0.625 (step 2^-4 in [0.5, 1))
}

TEST_CASE("minmax: asymmetric with an integer zero point, 0 exact") {
  // scale = 3/3, zp = -1: codes 0..3 hold -1, 0, 1, 2; 0.5 is code 1.5 -> even 2.
  CHECK(q("int2/minmax/tensor", {-1, 0, 0.5f, 2}) == std::vector<float>{-1, 0, 1, 2});
  // scale = 1.1/15, min/scale = -1.36 -> zp = -1: the grid is (q - 1) * scale.
  const double s = 1.1 / 15;
  const auto v = q("int4/minmax/tensor", {-0.1f, 1.0f, 0.0f, 0.5f});
  CHECK(v[0] == doctest::Approx(-s).epsilon(1e-6));
  CHECK(v[1] == doctest::Approx(14 * s).epsilon(1e-6));  // 1.0 is code 15.6: clamped to 15
  CHECK(v[2] == 0.0f);
  CHECK(v[3] == doctest::Approx(std::nearbyint(0.5 / s) * s).epsilon(1e-6));
  // The range always contains 0 (positive inputs: zp = 0, the maximum exact).
  const auto p = q("int4/minmax/tensor", {0.5f, 3.0f, 1.66f});
  CHECK(p[1] == 3.0f);
  CHECK(p[0] == doctest::Approx(2 * 0.2).epsilon(1e-6));
  CHECK(p[2] == doctest::Approx(8 * 0.2).epsilon(1e-6));
}

TEST_CASE("offset: asymmetric over [min, max] as found, offset by min (the CPT/FracTrain code), 0 not exact") {
  // int2 over [-1, 1]: scale 2/3, levels -1, -1/3, 1/3, 1; 0 is code 1.5 -> even 2 (1/3).
  const auto v = q("int2/offset/tensor", {-1, 0, 0.6f, 1});
  CHECK(v[0] == -1.0f);
  CHECK(v[1] == doctest::Approx(1.0 / 3).epsilon(1e-6));
  CHECK(v[2] == doctest::Approx(1.0 / 3).epsilon(1e-6));  // code 2.4 -> 2
  CHECK(v[3] == 1.0f);
  // Positive inputs are not widened to 0: the grid starts at the minimum.
  const auto p = q("int2/offset/tensor", {0.5f, 2.0f, 1.0f});
  CHECK(p[0] == 0.5f);
  CHECK(p[1] == 2.0f);
  CHECK(p[2] == 1.0f);  // code 1: 0.5 + 1 x 0.5
  // minmax on the same values keeps 0 exact.
  CHECK(q("int2/minmax/tensor", {-1, 0, 0.6f, 1})[1] == 0.0f);
  // A constant tensor is its own minimum: unchanged; no integer codes to give.
  CHECK(q("int4/offset/channel", {0.7f, 0.7f, -2, -2}, {2, 2}) == std::vector<float>{0.7f, 0.7f, -2, -2});
  CHECK_FALSE(nn::code_range(parse_quant("int8/offset/tensor").format).has_value());
  nn::ScaledCodes codes;
  std::vector<float> x = {1, 2}, out(2);
  const nn::Shape shape = {2};
  CHECK_THROWS_WITH_AS(nn::quantize_tensor(parse_quant("int8/offset/tensor"), x.data(), out.data(), shape, 0, {}, &codes),
                       doctest::Contains("no integer codes"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_quant("e4m3/offset/tensor"), doctest::Contains("integer element"), std::invalid_argument);
}

TEST_CASE("pow2: the smallest power-of-two scale that holds the largest magnitude") {
  // amax 3: 3 <= 127 * 2^-5 but not 127 * 2^-6, so the step is 1/32.
  CHECK(q("int8/pow2/tensor", {3, 1, 0.01f, -0.7f}) == std::vector<float>{3, 1, 0, -0.6875f});
  CHECK(q("int8/pow2/tensor", {127, 1.6f})[1] == 2);      // step 1
  CHECK(q("int8/pow2/tensor", {127.5f, 1.6f})[1] == 2);   // step 2
  CHECK(q("int8/pow2/tensor", {127.5f, 3.2f})[1] == 4);
  CHECK(q("int8/pow2/tensor", {127.5f, 3.2f})[0] == 128);
  // Blocks of 2 along the last axis, each with its own exponent.
  CHECK(q("int4/pow2/block2", {7, 0.6f, 0.7f, 0.05f}, {2, 2}) == std::vector<float>{7, 1, 0.75f, 0});
}

TEST_CASE("MX (OCP v1.0): E8M0 scale 2^(floor(log2 amax) - emax) per 32 elements, saturating elements") {
  std::vector<float> x(3 * 32, 0.f);
  x[0] = 1, x[1] = 0.3f;    // X = 2^(0-8): 0.3 -> 76.8 -> 80 (step 8) -> 0.3125
  x[32] = 100, x[33] = 1;   // X = 2^(6-8): 100 -> 400, a tie between 384 and 416 -> even 384 -> 96
  x[64] = 480, x[65] = -1;  // X = 2^(8-8): 480 -> saturates to 448
  const auto y = q("mxfp8e4m3", x, {3, 32});
  CHECK(y[0] == 1);
  CHECK(y[1] == 0.3125f);
  CHECK(y[32] == 96);
  CHECK(y[33] == 1);
  CHECK(y[64] == 448);
  CHECK(y[65] == -1);
  // A partial last block (40 = 32 + 8) scales on its own.
  std::vector<float> r(40, 0.f);
  r[0] = 1000, r[39] = 0.3f;
  CHECK(q("mxfp8e4m3", r, {1, 40})[39] == 0.3125f);
  // The E8M0 exponent is clamped at -127: amax 1e-38 gives X = 2^-127, 1.7 -> 1.75.
  CHECK(q("mxfp8e4m3", {1e-38f}, {1, 1})[0] == std::ldexp(1.75f, -127));
  // MXINT8: fx8.6 elements (emax 0): amax 3 gives X = 2, 0.3/2 -> 10/64.
  const auto i8 = q("mxint8", {3, 0.3f}, {1, 2});
  CHECK(i8[0] == 3);
  CHECK(i8[1] == 0.3125f);
  CHECK(q("mxfp4", {6, 2.4f, -0.2f}, {1, 3}) == std::vector<float>{6, 2, 0});
}

TEST_CASE("absolute formats go through arith::quantize unchanged") {
  const auto x = randn(100, 1, 50);
  std::vector<float> ref(x.size());
  for (const char* f : {"e4m3fn", "bf16", "fx8.4"}) {
    arith::quantize(x.data(), ref.data(), x.size(), arith::parse_format(f), arith::parse_rounding("sr"), {5, 2}, 0);
    CHECK(q(f, x, {}, "sr", 0, {5, 2}) == ref);
  }
}

TEST_CASE("degenerate ranges are exact, never NaN") {
  for (const char* f : {"int8/minmax/tensor", "int4/absmax/channel", "int8/pow2/block4", "mxfp8e4m3", "e4m3fn/absmax/tensor"})
    for (const char* r : {"rne", "rd", "ru", "sr"}) {
      CAPTURE(f);
      CAPTURE(r);
      CHECK(q(f, {0, 0, 0, 0}, {1, 4}, r) == std::vector<float>{0, 0, 0, 0});
    }
  // Constant tensors: scale-based rules put the constant on the grid exactly.
  for (const char* f : {"int8/minmax/tensor", "int3/minmax/tensor", "int4/absmax/tensor", "e2m1fn:nonan/absmax/tensor"})
    for (const char* r : {"rne", "rd", "ru", "rz", "sr"})
      for (float c : {0.7f, -0.7f, 1e-30f, 3e30f}) {
        CAPTURE(f);
        CAPTURE(r);
        CAPTURE(c);
        CHECK(q(f, {c, c, c}, {}, r) == std::vector<float>{c, c, c});
      }
  // Power-of-two rules keep a constant within half a step (0.3 is not on their grid).
  CHECK(q("int8/pow2/tensor", {0.3f, 0.3f})[0] == doctest::Approx(77.0 / 256));
}

TEST_CASE("grid properties on random tensors") {
  for (int b : {2, 3, 4, 8})
    for (const char* r : {"rne", "sr", "rd"})
      for (unsigned seed : {1u, 2u, 3u}) {
        CAPTURE(b);
        CAPTURE(r);
        auto x = randn(257, seed, 3);
        x[7] = 0;
        const std::string bits = std::to_string(b);
        const double levels = std::ldexp(1.0, b) - 1;

        // minmax: (y / scale - zp) is an integer code in [0, 2^b - 1]; 0 stays 0.
        const auto y = q(("int" + bits + "/minmax/tensor").c_str(), x, {}, r, 0, {seed, 0});
        const double lo = std::min(0.0, double(*std::min_element(x.begin(), x.end())));
        const double hi = std::max(0.0, double(*std::max_element(x.begin(), x.end())));
        const double scale = (hi - lo) / levels, zp = std::nearbyint(lo / scale);
        for (std::size_t i = 0; i < x.size(); ++i) {
          const double code = y[i] / scale - zp;
          CHECK(std::fabs(code - std::nearbyint(code)) < 1e-4);
          CHECK(code > -1e-4);
          CHECK(code < levels + 1e-4);
          // Within one step (half for nearest), plus up to half a step where
          // the rounded zero point leaves x outside the grid and it is clamped.
          const double clamp = std::max({0.0, zp * scale - x[i], x[i] - (zp + levels) * scale});
          CHECK(std::fabs(y[i] - x[i]) <= (std::string(r) == "rne" ? 0.5 : 1.0) * scale * (1 + 1e-5) + clamp);
        }
        CHECK(y[7] == 0);

        // absmax: y / scale an integer in [-(2^(b-1) - 1), 2^(b-1) - 1]; the largest magnitude exact.
        const auto z = q(("int" + bits + "/absmax/tensor").c_str(), x, {}, r, 0, {seed, 1});
        const double qmax = std::ldexp(1.0, b - 1) - 1, s = amax_of(x) / qmax;
        for (std::size_t i = 0; i < x.size(); ++i) {
          const double code = z[i] / s;
          CHECK(std::fabs(code - std::nearbyint(code)) < 1e-4);
          CHECK(std::fabs(code) <= qmax + 1e-4);
          if (std::fabs(x[i]) == amax_of(x)) CHECK(z[i] == x[i]);
        }
      }
}

TEST_CASE("quantizing twice changes nothing (round to nearest)") {
  const auto x = randn(300, 9, 2);
  for (const char* f : {"int4/absmax/tensor", "int8/absmax/channel", "int4/absmax/block16", "int6/pow2/tensor",
                        "int8/pow2/block32", "mxfp8e4m3", "mxfp6e3m2", "mxfp4", "mxint8", "e4m3fn/absmax/tensor",
                        "e5m2/pow2/channel", "e4m3fn", "fx8.3"}) {
    CAPTURE(f);
    const auto once = q(f, x, {10, 30}, "rne", 0);
    CHECK(q(f, once, {10, 30}, "rne", 0) == once);
  }
  // minmax moves the extreme codes' values unless an end of the range is 0,
  // as for the non-negative outputs of a ReLU.
  auto relu = x;
  for (auto& v : relu) v = std::max(v, 0.f);
  const auto once = q("int4/minmax/tensor", relu);
  CHECK(q("int4/minmax/tensor", once) == once);
}

TEST_CASE("stochastic rounding: unbiased, keyed, element-indexed") {
  std::vector<float> x(20001, 0.3f);
  x[0] = 1;  // int4 absmax: scale 1/7, 0.3 is code 2.1
  const auto a = q("int4/absmax/tensor", x, {}, "sr", 0, {42, 3});
  double mean = 0;
  for (std::size_t i = 1; i < a.size(); ++i) {
    CHECK((a[i] == float(2.0 / 7) || a[i] == float(3.0 / 7)));
    mean += a[i];
  }
  CHECK(mean / 20000 == doctest::Approx(0.3).epsilon(0.01));
  CHECK(q("int4/absmax/tensor", x, {}, "sr", 0, {42, 3}) == a);
  CHECK(q("int4/absmax/tensor", x, {}, "sr", 0, {43, 3}) != a);
}

TEST_CASE("channel axis 1 of NCHW tensors") {
  // 2 x 2 x 1 x 2: channel 0 holds {4, 1, 2, -1}, channel 1 {0.5, 0.25, 0.1, 0}.
  const auto y = q("int3/absmax/channel", {4, 1, 0.5f, 0.25f, 2, -1, 0.1f, 0}, {2, 2, 1, 2}, "rne", 1);
  // Channel 0: step 4/3; channel 1: step 0.5/3.
  CHECK(y[0] == 4);
  CHECK(y[1] == doctest::Approx(4.0 / 3));
  CHECK(y[2] == 0.5f);
  CHECK(y[3] == doctest::Approx(0.5 / 3 * 2));
  CHECK(y[5] == doctest::Approx(-4.0 / 3));
  CHECK(y[6] == doctest::Approx(0.5 / 3));
}

TEST_CASE("bad specs and inputs are named") {
  CHECK_THROWS_WITH_AS(parse_quant("e4m3fn/minmax/tensor"), doctest::Contains("minmax"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_quant("int8/median/tensor"), doctest::Contains("int8/median/tensor"), std::invalid_argument);
  CHECK_THROWS_AS(parse_quant("int8/absmax/tensor", "nearest"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_quant("int32/absmax/tensor"), doctest::Contains("24 bits"), std::invalid_argument);
  std::vector<float> x{1, NAN, 2};
  CHECK_THROWS_WITH_AS(q("int8/absmax/tensor", x), doctest::Contains("index 1"), std::domain_error);
  CHECK_THROWS_WITH_AS(q("int8/absmax/channel", {1, 2}, {2}, "rne", 1), doctest::Contains("channel axis 1"),
                       std::invalid_argument);
}

TEST_CASE("a scaled quantizer names the first non-finite element of a large tensor for any thread count") {
  // Large enough for the parallel min/max pass; the first bad index wins
  // whichever thread meets it.
  std::vector<float> v(100000, 0.5f);
  v[70000] = std::numeric_limits<float>::infinity();
  v[40000] = std::numeric_limits<float>::quiet_NaN();
  const std::int64_t shape[] = {100000};
  const auto spec = lpsim::nn::parse_quant("int8/minmax/tensor");
  const int before = omp_get_max_threads();
  for (int threads : {1, 2}) {
    omp_set_num_threads(threads);
    CAPTURE(threads);
    CHECK_THROWS_WITH_AS(lpsim::nn::quantize_tensor(spec, v.data(), v.data(), shape, 0, {}),
                         doctest::Contains("index 40000"), std::domain_error);
  }
  omp_set_num_threads(before);
}

TEST_CASE("a given range sets a per-tensor scale and clips what lies outside") {
  const std::vector<float> x = {-3.f, -1.f, 0.f, 0.5f, 1.f, 2.5f};
  const std::int64_t shape[] = {6};
  std::vector<float> got(x.size()), want(x.size());
  const auto spec = parse_quant("int3/minmax/tensor");
  const lpsim::nn::TensorRange r{-1.0, 1.0};
  lpsim::nn::quantize_tensor(spec, x.data(), got.data(), shape, 0, {}, nullptr, &r);
  // scale 2/7, zero point round(-1 / (2/7)) = -4 (ties to even of -3.5): grid (q - 4) * 2/7, q in [0, 7]
  const double s = 2.0 / 7.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double q = std::clamp(std::nearbyint(x[i] / s + 4.0), 0.0, 7.0);
    want[i] = float((q - 4.0) * s);
  }
  CHECK(got == want);
  CHECK(got[0] == float(-4 * s));  // -3 clipped to the range's bottom
  CHECK(got[5] == float(3 * s));   // 2.5 clipped to the top
  CHECK_THROWS_AS(lpsim::nn::quantize_tensor(parse_quant("int8"), x.data(), got.data(), shape, 0, {}, nullptr, &r),
                  std::invalid_argument);
}

namespace {

// The definition of the integer-code scaled quantizers, one element at a
// time (nn/quantizer.cpp's header): extremes in index order, the scale and
// zero point, t = x / scale - zp clamped and snapped to an integer within
// 1e-9, arith's scalar rounding of t with random index i, (t + zp) * scale.
std::vector<float> definition(bool minmax, int bits, const std::vector<float>& x, std::int64_t channels,
                              std::int64_t inner, const char* rounding, arith::RandomKey key) {
  const auto r = arith::parse_rounding(rounding);
  const auto code = arith::parse_format((minmax ? "uint" : "int") + std::to_string(bits));
  std::vector<float> out(x.size());
  for (std::int64_t c = 0; c < channels; ++c) {
    auto in_group = [&](std::size_t i) { return std::int64_t(i) / inner % channels == c; };
    float mn = INFINITY, mx = -INFINITY;
    for (std::size_t i = 0; i < x.size(); ++i)
      if (in_group(i)) mn = x[i] < mn ? x[i] : mn, mx = x[i] > mx ? x[i] : mx;
    double scale, zp = 0, lo, hi;
    if (minmax) {
      hi = std::ldexp(1.0, bits) - 1, lo = 0;
      scale = (std::max(double(mx), 0.0) - std::min(double(mn), 0.0)) / hi;
      zp = std::nearbyint(std::min(double(mn), 0.0) / scale);
    } else {
      hi = std::ldexp(1.0, bits - 1) - 1, lo = -hi;
      scale = std::max(std::fabs(double(mn)), std::fabs(double(mx))) / hi;
    }
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (!in_group(i)) continue;
      const double q = double(x[i]) / scale - zp;
      double v = q < lo ? lo : hi < q ? hi : q;
      const double near = std::rint(v);
      if (std::fabs(v - near) <= 1e-9 * std::max(1.0, std::fabs(v))) v = near;
      out[i] = float((arith::quantize(v, code, r, key, i) + zp) * scale);
    }
  }
  return out;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("integer-code scaled quantizers equal their definition bit for bit at every ISA level and thread count") {
  // Sizes across the blocks of the fused pass (2048), the thread chunks
  // (16384) and the parallel threshold; zeros of both signs first so that
  // a zero extreme may differ in sign from the ordered scan's (unobservable,
  // nn/quantizer.cpp) and a +0 met before a -0 in a later lane is covered.
  const int before = omp_get_max_threads();
  const arith::Isa level = arith::isa();
  std::size_t checked = 0;
  for (std::size_t n : {std::size_t(37), std::size_t(5000), std::size_t(40000), std::size_t(70001)}) {
    std::vector<std::vector<float>> inputs;
    auto v = randn(n, unsigned(n));
    inputs.push_back(v);
    for (auto& x : v) x = std::max(x, 0.f);  // ReLU output: the minimum is 0
    v[2] = 0.f, v[17] = -0.f;
    inputs.push_back(v);
    for (auto& x : v) x = -x;  // the maximum is 0, -0 (then +0) first
    inputs.push_back(v);
    // On the grid already (a quantizer's own output): quotients at or within
    // ulps of integers, powers of two among them (the division-free
    // quotient's fallback lanes, nn/quantizer.cpp).
    inputs.push_back(definition(false, 8, inputs[0], 1, std::int64_t(n), "rne", {}));
    inputs.push_back(definition(true, 8, inputs[0], 1, std::int64_t(n), "rne", {}));
    for (const auto& x : inputs)
      for (const bool minmax : {true, false})
        for (const char* rounding : {"rne", "sr", "rz"})
          for (const std::int64_t channels : {std::int64_t(1), std::int64_t(3)}) {
            if (n % std::size_t(channels)) continue;
            const std::int64_t inner = std::int64_t(n) / channels;
            const std::string spelling =
                std::string("int8/") + (minmax ? "minmax" : "absmax") + (channels == 1 ? "/tensor" : "/channel");
            const auto want = definition(minmax, 8, x, channels, inner, rounding, {11, 2});
            for (const arith::Isa isa : arith::isa_levels())
              for (int threads : {1, 2}) {
                arith::set_isa(isa);
                omp_set_num_threads(threads);
                const std::string isa_name = arith::isa_name(isa);
                CAPTURE(n);
                CAPTURE(spelling);
                CAPTURE(rounding);
                CAPTURE(isa_name);
                CAPTURE(threads);
                std::vector<float> got(n);
                const std::int64_t shape[] = {channels, inner};
                nn::quantize_tensor(parse_quant(spelling, rounding), x.data(), got.data(), shape, 0, {11, 2});
                CHECK(same_bits(got, want));
                ++checked;
              }
          }
  }
  arith::set_isa(level);
  omp_set_num_threads(before);
  MESSAGE(checked << " tensors equal to the definition");
}
