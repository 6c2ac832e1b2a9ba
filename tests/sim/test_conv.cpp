// Convolution lowered through the engine equals a direct convolution whose
// every output is the golden dot product over the window in (ci, r, c) order.
#include <doctest/doctest.h>

#include <cstring>
#include <random>
#include <vector>

#include "arith/quantize.hpp"
#include "sim/conv.hpp"
#include "sim/cost.hpp"
#include "sim/dot.hpp"

using namespace lpsim;

namespace {

std::vector<float> direct(const sim::MacConfig& cfg, const sim::ConvShape& s, const std::vector<float>& x,
                          const std::vector<float>& w) {
  const std::int64_t cg = s.cin / s.groups, og = s.cout / s.groups, k = cg * s.kh * s.kw;
  const std::int64_t oh = s.out_h(), ow = s.out_w(), ncol = s.batch * oh * ow;
  std::vector<float> y(std::size_t(s.batch * s.cout * oh * ow));
  auto q = [](float v, const std::optional<sim::Rounded>& f) {
    return f ? double(arith::quantize(v, f->format, f->rounding)) : double(v);
  };
  for (std::int64_t g = 0; g < s.groups; ++g)
    for (std::int64_t o = 0; o < og; ++o)
      for (std::int64_t b = 0; b < s.batch; ++b)
        for (std::int64_t yy = 0; yy < oh; ++yy)
          for (std::int64_t xx = 0; xx < ow; ++xx) {
            std::vector<double> a, v;
            for (std::int64_t ci = 0; ci < cg; ++ci)
              for (std::int64_t r = 0; r < s.kh; ++r)
                for (std::int64_t c = 0; c < s.kw; ++c) {
                  const std::int64_t iy = yy * s.stride_h - s.pad_h + r, ix = xx * s.stride_w - s.pad_w + c;
                  const bool in = iy >= 0 && iy < s.h && ix >= 0 && ix < s.w;
                  a.push_back(q(w[std::size_t(((g * og + o) * cg + ci) * s.kh * s.kw + r * s.kw + c)], cfg.a));
                  v.push_back(in ? q(x[std::size_t(((b * s.cin + g * cg + ci) * s.h + iy) * s.w + ix)], cfg.b) : 0.0);
                }
            sim::MacCounts counts;
            const sim::OutputSlot slot{std::uint64_t(o * ncol + (b * oh + yy) * ow + xx), std::uint64_t(og * ncol)};
            y[std::size_t(((b * s.cout + g * og + o) * oh + yy) * ow + xx)] =
                float(sim::dot_golden(cfg, a.data(), v.data(), 1, k, {0, std::uint32_t(g)}, slot, counts));
          }
  return y;
}

}  // namespace

TEST_CASE("conv2d through the engine equals the direct golden convolution") {
  const sim::ConvShape shapes[] = {
      {2, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1, 1},   // 3x3, padding
      {1, 4, 9, 9, 6, 3, 3, 2, 2, 1, 1, 2},   // strided, grouped
      {2, 4, 5, 5, 4, 3, 3, 1, 1, 1, 1, 4},   // depthwise
      {1, 2, 4, 4, 3, 1, 1, 1, 1, 0, 0, 1},   // pointwise
  };
  std::mt19937 gen(3);
  std::normal_distribution<float> nd;
  // Deterministic configurations run transposed (operand formats exchanged,
  // a != b below shows the exchange is right); stochastic ones keep W . cols
  // and its random indices, which the golden model's output slots follow.
  for (const char* spelling : {"in=fp16,acc=e5m10", "fp32", "in=bf16,acc=bf16,order=pairwise",
                               "a=bf16,b=fp16,acc=fp32", "in=bf16,acc=e5m10,acc_round=sr16"}) {
    const sim::MacConfig cfg = sim::parse_mac(spelling);
    for (const auto& s : shapes) {
      std::vector<float> x(std::size_t(s.batch * s.cin * s.h * s.w)), w(std::size_t(s.cout * (s.cin / s.groups) * s.kh * s.kw));
      for (auto& v : x) v = nd(gen);
      for (auto& v : w) v = nd(gen);
      std::vector<float> y(std::size_t(s.batch * s.cout * s.out_h() * s.out_w()));
      sim::conv2d(cfg, s, x.data(), w.data(), y.data());
      const auto want = direct(cfg, s, x, w);
      INFO(std::string(spelling) << " groups " << s.groups);
      CHECK(std::memcmp(y.data(), want.data(), y.size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("conv2d reports its accumulation length and element reuse") {
  const sim::ConvShape s{2, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1, 1};
  std::vector<float> x(2 * 3 * 25, 1.f), w(4 * 3 * 9, 1.f), y(2 * 4 * 25);
  sim::GemmStats st;
  sim::conv2d(sim::parse_mac("fp32"), s, x.data(), w.data(), y.data(), {}, &st, {true, false, 3, "conv"});
  CHECK(st.k == 27);              // Cin * kh * kw
  CHECK(st.usage_a == 2 * 25);    // every weight: batch * out_h * out_w outputs
  CHECK(st.usage_b_max == 4 * 9);  // an interior input pixel: 9 windows x 4 output channels
  // 5x5 input, 3x3 pad 1: coverage sums to 9*25 windows minus padded taps (= 81 real taps per row pair...).
  double cover = 0;
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j) cover += double((i == 0 || i == 4 ? 2 : 3) * (j == 0 || j == 4 ? 2 : 3));
  CHECK(st.usage_b == doctest::Approx(4 * cover / 25));
  CHECK(y[12] == 27.f);  // an interior output of all-ones
  CHECK(sim::bitops(sim::parse_mac("in=int8,acc=int32,out=fp32"), 4, 50, 27) == 4.0 * 50 * 27 * 8 * 8);
  CHECK(sim::bitops(sim::parse_mac("fp32"), 4, 50, 27) == 4.0 * 50 * 27 * 32 * 32);
}

TEST_CASE("bad convolution shapes name the field") {
  sim::ConvShape s{1, 3, 5, 5, 4, 3, 3, 1, 1, 0, 0, 2};
  CHECK_THROWS_WITH_AS(s.check(), doctest::Contains("groups=2 must divide cin=3"), std::invalid_argument);
  s = {1, 2, 2, 2, 2, 5, 5, 1, 1, 0, 0, 1};
  CHECK_THROWS_WITH_AS(s.check(), doctest::Contains("larger than the padded input"), std::invalid_argument);
}
