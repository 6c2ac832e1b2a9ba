// The direct fp32 convolution kernels (sim/conv_direct.hpp) give the bits of
// the lowered computation they replace: golden GEMMs on im2col's matrix, and
// col2im for the data gradient; with operand and output formats; for any
// thread count.
#include <doctest/doctest.h>
#include <omp.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "arith/isa.hpp"
#include "sim/conv.hpp"
#include "sim/conv_direct.hpp"
#include "sim/gemm.hpp"

using namespace lpsim;

namespace {

// Normal values over a wide range of magnitudes (so that rounding matters),
// with exact zeros of both signs.
std::vector<float> values(std::size_t n, std::mt19937& gen, int range = 20) {
  std::normal_distribution<float> nd;
  std::uniform_int_distribution<int> kind(0, 9), scale(-range, range);
  std::vector<float> v(n);
  for (auto& x : v) {
    const int k = kind(gen);
    x = k == 0 ? 0.f : k == 1 ? -0.f : std::ldexp(nd(gen), scale(gen));
  }
  return v;
}

// Equal bits, or both NaN (a NaN's payload is not part of the model).
bool same(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::bit_cast<std::uint32_t>(a[i]) != std::bit_cast<std::uint32_t>(b[i]) &&
        !(std::isnan(a[i]) && std::isnan(b[i])))
      return false;
  return true;
}

// dY (batch x cout x pixels) as the lowered products see it: cout x (batch, pixels).
std::vector<float> gathered(const sim::ConvShape& s, const std::vector<float>& dy) {
  const std::int64_t plane = s.out_h() * s.out_w(), ncol = s.batch * plane;
  std::vector<float> d(std::size_t(s.cout * ncol));
  for (std::int64_t b = 0; b < s.batch; ++b)
    for (std::int64_t o = 0; o < s.cout; ++o)
      for (std::int64_t p = 0; p < plane; ++p)
        d[std::size_t(o * ncol + b * plane + p)] = dy[std::size_t((b * s.cout + o) * plane + p)];
  return d;
}

struct Case {
  sim::ConvShape s;
  std::vector<float> x, w, dy;
};

Case make(const sim::ConvShape& s, std::mt19937& gen, int range = 20) {
  Case c{s, values(std::size_t(s.batch * s.cin * s.h * s.w), gen, range),
         values(std::size_t(s.cout * s.cin * s.kh * s.kw), gen, range),
         values(std::size_t(s.batch * s.cout * s.out_h() * s.out_w()), gen, range)};
  return c;
}

const sim::ConvShape kShapes[] = {
    // batch cin h w cout kh kw stride_h stride_w pad_h pad_w groups
    {2, 3, 7, 6, 5, 3, 3, 1, 1, 1, 1, 1},     // channels not multiples of the tiles
    {2, 16, 28, 28, 16, 3, 3, 1, 1, 1, 1, 1},  // ResNet stage 1
    {3, 5, 9, 11, 17, 3, 5, 1, 1, 2, 0, 1},   // rectangular kernel, uneven padding
    {2, 4, 4, 4, 8, 1, 1, 1, 1, 0, 0, 1},     // pointwise
    {1, 2, 1, 1, 3, 3, 3, 1, 1, 1, 1, 1},     // one pixel, all taps but one in the padding
    {2, 7, 6, 5, 20, 5, 5, 1, 1, 2, 4, 1},    // 5x5, padding 4 wider than the input
    {1, 33, 7, 7, 64, 3, 3, 1, 1, 1, 1, 1},   // ResNet stage 3 widths, cin past a tile
    {2, 16, 28, 28, 32, 3, 3, 2, 2, 1, 1, 1},  // ResNet stage 2's first conv (stride 2)
    {2, 16, 28, 28, 32, 1, 1, 2, 2, 0, 0, 1},  // its 1x1 shortcut
    {2, 5, 11, 10, 7, 5, 3, 3, 2, 2, 1, 1},    // strides 3 and 2, rectangular kernel
    {1, 3, 4, 5, 4, 3, 3, 1, 1, 3, 4, 1},      // padding beyond the kernel
};

// The fma-fp32 model with operand and output formats (deterministic roundings).
// Magnitudes within 2^+-6 for the narrow formats, so that weights stay finite
// and the data gradient is computed too.
const std::pair<const char*, int> kConfigs[] = {
    {"fp32", 20},
    {"bf16.fp32", 20},
    {"in=fp16,acc=fp32,out=bf16", 6},
    {"in=e4m3fn,in_round=rz,acc=fp32,out=fp16,out_round=ru", 6},
    {"in=fx8.4,acc=fp32,out=e5m7:sat,out_round=rna", 6},
    {"a=e4m3fn,b=fp16,acc=fp32", 6},  // A and B apart: W (forward, data gradient) and dY (weight gradient) are A
    {"a=bf16,b=e5m3,b_round=rz,acc=fp32,out=bf16", 6},
};

}  // namespace

TEST_CASE("direct fp32 convolution kernels equal the lowered golden products bit for bit") {
  std::mt19937 gen(11);
  for (const auto& config : kConfigs)
  for (const auto& s : kShapes) {
    const char* spelling = config.first;
    const int range = config.second;
    const sim::MacConfig cfg = sim::parse_mac(spelling);
    const Case c = make(s, gen, range);
    const std::int64_t k = s.cin * s.kh * s.kw, ncol = s.batch * s.out_h() * s.out_w();
    INFO(std::string(spelling) << ": cin " << s.cin << " cout " << s.cout << " " << s.h << "x" << s.w << " kernel " << s.kh << "x" << s.kw
                << " pad " << s.pad_h << "," << s.pad_w);
    REQUIRE(sim::conv_direct_applies(cfg, s, nullptr, {}) == arith::use_avx2());  // AVX2 kernels (arith/isa.hpp)

    std::vector<float> y(std::size_t(s.batch * s.cout * s.out_h() * s.out_w())), want(y.size());
    sim::conv2d_direct(cfg, s, c.x.data(), c.w.data(), y.data());
    sim::conv2d(cfg, s, c.x.data(), c.w.data(), want.data(), {}, nullptr, {}, /*golden=*/true);
    CHECK(same(y, want));

    std::vector<float> cols(std::size_t(k * ncol)), dcols(cols.size());
    sim::im2col(s, c.x.data(), 0, cols.data());
    const std::vector<float> d = gathered(s, c.dy);

    std::vector<float> dx(c.x.size(), 1.f), dx_want(c.x.size(), 0.f);  // dx is written, not added to
    const bool covered = s.stride_h == 1 && s.stride_w == 1 && s.pad_h < s.kh && s.pad_w < s.kw && !cfg.out;
    REQUIRE(sim::conv2d_data_grad_direct(cfg, s, c.w.data(), c.dy.data(), dx.data()) == covered);
    if (covered) {
      sim::gemm_golden(cfg, {k, ncol, s.cout, c.w.data(), k, true, d.data(), ncol, false, dcols.data(), ncol});
      sim::col2im_add(s, dcols.data(), 0, dx_want.data());
      CHECK(same(dx, dx_want));
    } else {
      CHECK(dx == std::vector<float>(c.x.size(), 1.f));  // declined: untouched
    }

    std::vector<float> dw(c.w.size(), 1.f), dw_want(c.w.size());
    sim::conv2d_weight_grad_direct(cfg, s, c.x.data(), c.dy.data(), dw.data());
    sim::gemm_golden(cfg, {s.cout, k, ncol, d.data(), ncol, false, cols.data(), ncol, true, dw_want.data(), k});
    CHECK(same(dw, dw_want));
  }
}

TEST_CASE("direct fp32 convolution kernels give the same bits for any thread count") {
  std::mt19937 gen(12);
  for (const char* spelling : {"fp32", "in=bf16,acc=fp32,out=fp16"})
  for (const sim::ConvShape& s : {sim::ConvShape{3, 6, 10, 9, 20, 3, 3, 1, 1, 1, 1, 1},
                                  sim::ConvShape{3, 6, 10, 9, 20, 3, 3, 2, 2, 1, 1, 1}}) {
    const sim::MacConfig cfg = sim::parse_mac(spelling);
    const Case c = make(s, gen, 6);
    std::vector<std::vector<float>> runs;
    const int threads = omp_get_max_threads();
    for (int t : {1, 3}) {
      omp_set_num_threads(t);
      std::vector<float> y(c.dy.size()), dx(c.x.size()), dw(c.w.size());
      sim::conv2d_direct(cfg, s, c.x.data(), c.w.data(), y.data());
      sim::conv2d_data_grad_direct(cfg, s, c.w.data(), c.dy.data(), dx.data());
      sim::conv2d_weight_grad_direct(cfg, s, c.x.data(), c.dy.data(), dw.data());
      y.insert(y.end(), dx.begin(), dx.end());
      y.insert(y.end(), dw.begin(), dw.end());
      runs.push_back(y);
    }
    omp_set_num_threads(threads);
    CHECK(same(runs[0], runs[1]));
  }
}

TEST_CASE("non-finite values: the forward and weight gradient agree, the data gradient declines") {
  const sim::MacConfig cfg = sim::parse_mac("fp32");
  std::mt19937 gen(13);
  const sim::ConvShape s{2, 3, 6, 7, 5, 3, 3, 1, 1, 1, 1, 1};
  Case c = make(s, gen);
  const float inf = std::numeric_limits<float>::infinity();
  c.x[5] = inf, c.x[40] = -inf, c.dy[7] = inf;
  const std::int64_t k = s.cin * s.kh * s.kw, ncol = s.batch * s.out_h() * s.out_w();
  std::vector<float> y(c.dy.size()), want(y.size());
  sim::conv2d_direct(cfg, s, c.x.data(), c.w.data(), y.data());
  sim::conv2d(cfg, s, c.x.data(), c.w.data(), want.data(), {}, nullptr, {}, true);
  CHECK(same(y, want));
  std::vector<float> cols(std::size_t(k * ncol)), dw(c.w.size()), dw_want(c.w.size());
  sim::im2col(s, c.x.data(), 0, cols.data());
  const std::vector<float> d = gathered(s, c.dy);
  sim::conv2d_weight_grad_direct(cfg, s, c.x.data(), c.dy.data(), dw.data());
  sim::gemm_golden(cfg, {s.cout, k, ncol, d.data(), ncol, false, cols.data(), ncol, true, dw_want.data(), k});
  CHECK(same(dw, dw_want));
  // An infinite dY element with finite weights: still the lowered bits.
  std::vector<float> dx(c.x.size()), dx_want(c.x.size(), 0.f), dcols(cols.size());
  REQUIRE(sim::conv2d_data_grad_direct(cfg, s, c.w.data(), c.dy.data(), dx.data()));
  sim::gemm_golden(cfg, {k, ncol, s.cout, c.w.data(), k, true, d.data(), ncol, false, dcols.data(), ncol});
  sim::col2im_add(s, dcols.data(), 0, dx_want.data());
  CHECK(same(dx, dx_want));
  // An infinite weight: a padding tap would give 0 x inf = NaN where col2im adds nothing.
  std::vector<float> untouched(c.x.size(), 7.f);
  c.w[4] = 1e5f;  // finite, but infinite once rounded into fp16
  CHECK(sim::conv2d_data_grad_direct(cfg, s, c.w.data(), c.dy.data(), untouched.data()));
  untouched.assign(c.x.size(), 7.f);
  CHECK_FALSE(sim::conv2d_data_grad_direct(sim::parse_mac("in=fp16,acc=fp32"), s, c.w.data(), c.dy.data(), untouched.data()));
  CHECK(untouched == std::vector<float>(c.x.size(), 7.f));
  c.w[4] = inf;
  CHECK_FALSE(sim::conv2d_data_grad_direct(cfg, s, c.w.data(), c.dy.data(), untouched.data()));
  CHECK(untouched == std::vector<float>(c.x.size(), 7.f));
}

TEST_CASE("the direct kernels apply only where they are exact") {
  const sim::ConvShape s{1, 4, 8, 8, 4, 3, 3, 1, 1, 1, 1, 1};
  const sim::MacConfig fp32 = sim::parse_mac("fp32");
  sim::GemmStats st;
  const bool vec = arith::use_avx2();  // the kernels are AVX2: below that level (LPSIM_ISA=scalar) never taken
  CHECK(sim::conv_direct_applies(fp32, s, nullptr, {}) == vec);
  CHECK(sim::conv_direct_applies(fp32, s, &st, {false, false, 0, ""}) == vec);
  CHECK_FALSE(sim::conv_direct_applies(fp32, s, &st, {true, false, 0, ""}));   // counts asked for
  CHECK_FALSE(sim::conv_direct_applies(fp32, s, &st, {false, true, 0, ""}));   // error statistics asked for
  for (const char* formats : {"in=bf16,acc=fp32", "acc=fp32,out=bf16", "in=int8,in_round=rz,acc=fp32,out=fp16"})
    CHECK_MESSAGE(sim::conv_direct_applies(sim::parse_mac(formats), s, nullptr, {}) == vec, formats);
  // Stochastic roundings draw by the lowered matrices' indices; other accumulators are not fma chains.
  for (const char* other : {"in=bf16,in_round=sr,acc=fp32", "acc=fp32,out=bf16,out_round=sr", "in=fp16,acc=e5m10",
                            "acc=fp32,order=pairwise"})
    CHECK_MESSAGE(!sim::conv_direct_applies(sim::parse_mac(other), s, nullptr, {}), other);
  auto with = [&](auto f) {
    sim::ConvShape t = s;
    f(t);
    return sim::conv_direct_applies(fp32, t, nullptr, {});
  };
  CHECK(with([](sim::ConvShape& t) { t.stride_h = 2; }) == vec);  // forward and weight gradient: any stride
  CHECK(with([](sim::ConvShape& t) { t.pad_w = 3; }) == vec);
  CHECK_FALSE(with([](sim::ConvShape& t) { t.groups = 2; }));
}
