// The float layers on the emulated hardware: agreement with the fp64
// reference, bit-exactness of the fp32 MAC path, the quantization points and
// the straight-through estimator, BatchNorm's statistics, the products' stats.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "nn/product.hpp"
#include "nn_test_util.hpp"
#include "sim/conv.hpp"

using namespace lpsim;
using namespace lpsim::nn;
using nn_test::max_abs_diff;
using nn_test::randn;
using nn_test::rel_error;

namespace {

struct ConvCase {
  std::int64_t cin, cout, k, stride, pad, groups;
  Shape x;
};
const ConvCase kConvCases[] = {
    {3, 4, 3, 1, 1, 1, {2, 3, 6, 5}},
    {4, 6, 3, 2, 1, 2, {2, 4, 7, 7}},
    {4, 4, 3, 2, 1, 4, {3, 4, 6, 6}},  // depthwise
    {3, 5, 1, 1, 0, 1, {2, 3, 4, 4}},
};

// The float layer and its fp64 twin with the same parameters.
struct ConvPair {
  Conv2d<float> f;
  Conv2d<double> d;
  explicit ConvPair(const ConvCase& c, std::uint64_t seed)
      : f(c.cin, c.cout, c.k, c.stride, c.pad, c.groups), d(c.cin, c.cout, c.k, c.stride, c.pad, c.groups) {
    d.reset_parameters(seed);
    f.weight.value = cast<float>(d.weight.value);
    f.bias.value = cast<float>(d.bias.value);
    d.weight.value = cast<double>(f.weight.value);  // both hold the float-rounded values
    d.bias.value = cast<double>(f.bias.value);
  }
};

// Each output a float fma chain over the window in (ci, r, c) order, zero
// padding included as terms, then + bias: what the fp32 MAC computes.
Tensor<float> direct_conv(const Conv2d<float>& L, const Tensor<float>& x) {
  const std::int64_t n = x.dim(0), h = x.dim(2), w = x.dim(3), k = L.kernel, s = L.stride, p = L.padding;
  const std::int64_t oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1;
  const std::int64_t cg = L.in_channels / L.groups, og = L.out_channels / L.groups;
  Tensor<float> y({n, L.out_channels, oh, ow});
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t o = 0; o < L.out_channels; ++o)
      for (std::int64_t oy = 0; oy < oh; ++oy)
        for (std::int64_t ox = 0; ox < ow; ++ox) {
          float acc = 0;
          for (std::int64_t ci = 0; ci < cg; ++ci)
            for (std::int64_t r = 0; r < k; ++r)
              for (std::int64_t c = 0; c < k; ++c) {
                const std::int64_t iy = oy * s - p + r, ix = ox * s - p + c;
                const bool in = iy >= 0 && iy < h && ix >= 0 && ix < w;
                const float xv = in ? x[((b * L.in_channels + (o / og) * cg + ci) * h + iy) * w + ix] : 0.f;
                acc = std::fma(L.weight.value[((o * cg + ci) * k + r) * k + c], xv, acc);
              }
          y[((b * L.out_channels + o) * oh + oy) * ow + ox] = acc + L.bias.value[o];
        }
  return y;
}

// The weight and input gradients as the fp32 MAC defines them: dW[o][ci,r,c]
// a float fma chain over (b, oy, ox) of dY times the (zero-padded) input;
// dX a float fma chain over the group's output channels for each tap, the
// taps then added into dX in (r, c) order (col2im, outside the engine).
void direct_conv_backward(const Conv2d<float>& L, const Tensor<float>& x, const Tensor<float>& dy, Tensor<float>& dw,
                          Tensor<float>& dx) {
  const std::int64_t n = x.dim(0), h = x.dim(2), w = x.dim(3), k = L.kernel, s = L.stride, p = L.padding;
  const std::int64_t oh = dy.dim(2), ow = dy.dim(3), cg = L.in_channels / L.groups, og = L.out_channels / L.groups;
  dw = Tensor<float>(L.weight.value.shape);
  dx = Tensor<float>(x.shape);
  for (std::int64_t o = 0; o < L.out_channels; ++o)
    for (std::int64_t ci = 0; ci < cg; ++ci)
      for (std::int64_t r = 0; r < k; ++r)
        for (std::int64_t c = 0; c < k; ++c) {
          float acc = 0;
          for (std::int64_t b = 0; b < n; ++b)
            for (std::int64_t oy = 0; oy < oh; ++oy)
              for (std::int64_t ox = 0; ox < ow; ++ox) {
                const std::int64_t iy = oy * s - p + r, ix = ox * s - p + c;
                const bool in = iy >= 0 && iy < h && ix >= 0 && ix < w;
                const float xv = in ? x[((b * L.in_channels + (o / og) * cg + ci) * h + iy) * w + ix] : 0.f;
                acc = std::fma(dy[((b * L.out_channels + o) * oh + oy) * ow + ox], xv, acc);
              }
          dw[((o * cg + ci) * k + r) * k + c] = acc;
        }
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t ch = 0; ch < L.in_channels; ++ch) {
      const std::int64_t g = ch / cg, ci = ch % cg;
      for (std::int64_t r = 0; r < k; ++r)
        for (std::int64_t c = 0; c < k; ++c)
          for (std::int64_t oy = 0; oy < oh; ++oy)
            for (std::int64_t ox = 0; ox < ow; ++ox) {
              const std::int64_t iy = oy * s - p + r, ix = ox * s - p + c;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              float acc = 0;
              for (std::int64_t o = g * og; o < (g + 1) * og; ++o)
                acc = std::fma(L.weight.value[((o * cg + ci) * k + r) * k + c],
                               dy[((b * L.out_channels + o) * oh + oy) * ow + ox], acc);
              dx[((b * L.in_channels + ch) * h + iy) * w + ix] += acc;
            }
    }
}

bool bitwise_equal(const Tensor<float>& a, const Tensor<float>& b) { return a.shape == b.shape && a.data == b.data; }

Tensor<float> quantize_copy(const char* spec, const Tensor<float>& t, Shape view, int axis) {
  Tensor<float> out = t;
  quantize_tensor(parse_quant(spec), t.ptr(), out.ptr(), view, axis, {});
  return out;
}

}  // namespace

TEST_CASE("float conv with fp32 MACs equals a direct fma-chain convolution bit for bit") {
  unsigned seed = 30;
  for (const auto& c : kConvCases) {
    ConvPair pair(c, seed);
    const Tensor<float> x = randn<float>(c.x, seed++);
    CHECK(bitwise_equal(pair.f.forward(x, true), direct_conv(pair.f, x)));
  }
}

TEST_CASE("float conv backward with fp32 MACs equals direct fma chains bit for bit") {
  // The cases with few output channels take the transposed weight-gradient
  // product (sim::orientation_free), the 40-channel one the plain product.
  std::vector<ConvCase> cases(std::begin(kConvCases), std::end(kConvCases));
  cases.push_back({3, 40, 3, 1, 1, 1, {2, 3, 5, 5}});
  unsigned seed = 60;
  for (const auto& c : cases) {
    ConvPair pair(c, seed);
    const Tensor<float> x = randn<float>(c.x, seed++);
    const Tensor<float> y = pair.f.forward(x, true);
    const Tensor<float> dy = randn<float>(y.shape, seed++);
    const Tensor<float> dx = pair.f.backward(dy);
    Tensor<float> dw, dx_want;
    direct_conv_backward(pair.f, x, dy, dw, dx_want);
    CAPTURE(c.cout);
    CHECK(bitwise_equal(pair.f.weight.grad, dw));
    CHECK(bitwise_equal(dx, dx_want));
  }
}

TEST_CASE("float linear with fp32 MACs is a float fma chain over the inputs, then + bias") {
  Linear<float> fc(9, 4);
  fc.reset_parameters(5);
  const Tensor<float> x = randn<float>({3, 9}, 6);
  Tensor<float> ref({3, 4});
  for (std::int64_t b = 0; b < 3; ++b)
    for (std::int64_t o = 0; o < 4; ++o) {
      float acc = 0;
      for (std::int64_t i = 0; i < 9; ++i) acc = std::fma(fc.weight.value[o * 9 + i], x[b * 9 + i], acc);
      ref[b * 4 + o] = acc + fc.bias.value[o];
    }
  CHECK(bitwise_equal(fc.forward(x, true), ref));
}

TEST_CASE("float layers agree with the fp64 reference (fp32 MACs)") {
  unsigned seed = 40;
  for (const auto& c : kConvCases) {
    ConvPair pair(c, seed);
    const Tensor<double> xd = cast<double>(randn<float>(c.x, seed++));
    const Tensor<float> yf = pair.f.forward(cast<float>(xd), true);
    const Tensor<double> yd = pair.d.forward(xd, true);
    CHECK(rel_error(yf, yd) < 1e-6);
    const Tensor<double> dy = cast<double>(randn<float>(yd.shape, seed++));
    CHECK(rel_error(pair.f.backward(cast<float>(dy)), pair.d.backward(dy)) < 1e-6);
    CHECK(rel_error(pair.f.weight.grad, pair.d.weight.grad) < 1e-6);
    CHECK(rel_error(pair.f.bias.grad, pair.d.bias.grad) < 1e-6);
  }
  Linear<double> ld(20, 7);
  ld.reset_parameters(1);
  Linear<float> lf(20, 7);
  lf.weight.value = cast<float>(ld.weight.value);
  lf.bias.value = cast<float>(ld.bias.value);
  ld.weight.value = cast<double>(lf.weight.value);
  ld.bias.value = cast<double>(lf.bias.value);
  const Tensor<double> x = cast<double>(randn<float>({5, 20}, 2));
  CHECK(rel_error(lf.forward(cast<float>(x), true), ld.forward(x, true)) < 1e-6);
  const Tensor<double> dy = cast<double>(randn<float>({5, 7}, 3));
  CHECK(rel_error(lf.backward(cast<float>(dy)), ld.backward(dy)) < 1e-6);
  CHECK(rel_error(lf.weight.grad, ld.weight.grad) < 1e-6);

  BatchNorm2d<float> bf(3);
  BatchNorm2d<double> bd(3);
  const Tensor<double> xb = cast<double>(randn<float>({4, 3, 3, 3}, 4, 3));
  CHECK(rel_error(bf.forward(cast<float>(xb), true), bd.forward(xb, true)) < 1e-6);
  const Tensor<double> db = cast<double>(randn<float>({4, 3, 3, 3}, 5));
  CHECK(rel_error(bf.backward(cast<float>(db)), bd.backward(db)) < 1e-6);
}

TEST_CASE("the layer's MAC configuration is the one used") {
  const ConvCase& c = kConvCases[1];
  ConvPair pair(c, 50);
  pair.f.precision.fwd = sim::parse_mac("in=bf16,acc=bf16");
  const Tensor<float> x = randn<float>(c.x, 51);
  const Tensor<float> y = pair.f.forward(x, true);
  // The same product through sim directly, plus the bias.
  const sim::ConvShape s{x.dim(0), c.cin, x.dim(2), x.dim(3), c.cout, c.k, c.k, c.stride, c.stride, c.pad, c.pad, c.groups};
  Tensor<float> ref({x.dim(0), c.cout, s.out_h(), s.out_w()});
  sim::conv2d(pair.f.precision.fwd, s, x.ptr(), pair.f.weight.value.ptr(), ref.ptr());
  const std::int64_t plane = s.out_h() * s.out_w();
  for (std::int64_t i = 0; i < ref.numel(); ++i) ref[i] += pair.f.bias.value[(i / plane) % c.cout];
  CHECK(bitwise_equal(y, ref));
  CHECK(!bitwise_equal(y, direct_conv(pair.f, x)));  // bf16 differs from fp32
}

TEST_CASE("quantization points apply where they should; the backward is straight-through") {
  for (const auto& c : kConvCases) {
    // Q quantizes W and A; R gets the pre-quantized tensors and no quantizers.
    ConvPair q(c, 60), r(c, 60);
    q.f.precision.w = parse_quant("int2/absmax/tensor");
    q.f.precision.a = parse_quant("int4/minmax/tensor");
    const std::int64_t k = c.cin / c.groups * c.k * c.k;
    r.f.weight.value = quantize_copy("int2/absmax/tensor", q.f.weight.value, {c.cout, k}, 0);
    const Tensor<float> x = randn<float>(c.x, 61);
    const Tensor<float> yq = q.f.forward(x, true);
    CHECK(bitwise_equal(yq, r.f.forward(quantize_copy("int4/minmax/tensor", x, x.shape, 1), true)));
    CHECK(!bitwise_equal(yq, direct_conv(q.f, x)));
    // Straight-through: the same dY gives the same dX and dW as the layer fed the quantized tensors.
    const Tensor<float> dy = randn<float>(yq.shape, 62);
    CHECK(bitwise_equal(q.f.backward(dy), r.f.backward(dy)));
    CHECK(bitwise_equal(q.f.weight.grad, r.f.weight.grad));
    CHECK(bitwise_equal(q.f.bias.grad, r.f.bias.grad));

    // E quantizes dY before both backward products; G the weight gradient after its product.
    ConvPair e(c, 63), u(c, 63);
    e.f.precision.e = parse_quant("int4/absmax/tensor");
    e.f.precision.g = parse_quant("int3/absmax/channel");
    e.f.forward(x, true);
    u.f.forward(x, true);
    const Tensor<float> dx = e.f.backward(dy);
    CHECK(bitwise_equal(dx, u.f.backward(quantize_copy("int4/absmax/tensor", dy, dy.shape, 1))));
    CHECK(bitwise_equal(e.f.weight.grad, quantize_copy("int3/absmax/channel", u.f.weight.grad, {c.cout, k}, 0)));
    CHECK(bitwise_equal(e.f.bias.grad, u.f.bias.grad));  // the bias gradient uses the quantized error
  }
  // Linear: the same four points.
  Linear<float> q(6, 4), r(6, 4);
  q.reset_parameters(7), r.reset_parameters(7);
  q.precision.w = parse_quant("mxfp4");
  q.precision.a = parse_quant("int8/pow2/tensor");
  q.precision.e = parse_quant("e4m3fn/absmax/tensor");
  q.precision.g = parse_quant("int4/minmax/tensor");
  r.weight.value = quantize_copy("mxfp4", r.weight.value, {4, 6}, 0);
  const Tensor<float> x = randn<float>({3, 6}, 8), dy = randn<float>({3, 4}, 9);
  CHECK(bitwise_equal(q.forward(x, true), r.forward(quantize_copy("int8/pow2/tensor", x, {3, 6}, 1), true)));
  const Tensor<float> e = quantize_copy("e4m3fn/absmax/tensor", dy, {3, 4}, 1);
  CHECK(bitwise_equal(q.backward(dy), r.backward(e)));
  CHECK(bitwise_equal(q.weight.grad, quantize_copy("int4/minmax/tensor", r.weight.grad, {4, 6}, 0)));
}

TEST_CASE("stochastic rounding draws differ between steps and repeat for the same step") {
  Linear<float> a(40, 8), b(40, 8);
  a.reset_parameters(1), b.reset_parameters(1);
  for (auto* l : {&a, &b}) {
    l->precision.w = parse_quant("int4/absmax/tensor", "sr");
    l->precision.key = {7, 3};
  }
  const Tensor<float> x = randn<float>({2, 40}, 2);
  const Tensor<float> y0 = a.forward(x, true);
  CHECK(bitwise_equal(y0, b.forward(x, true)));  // same key, same iteration
  a.backward(Tensor<float>({2, 8}, 1.f));
  CHECK(a.iteration == 1);
  CHECK(!bitwise_equal(a.forward(x, true), y0));  // the next step draws anew
  b.precision.key = {7, 4};
  CHECK(!bitwise_equal(b.forward(x, true), y0));  // another layer's stream
}

TEST_CASE("per-layer product statistics: K, shape, tag, depth, counts") {
  Conv2d<float> conv(6, 8, 3, 2, 1, 2);
  conv.name = "stage2.block1.conv2";
  conv.depth = 7;
  conv.reset_parameters(1);
  const Tensor<float> x = randn<float>({2, 6, 9, 9}, 2);
  const Tensor<float> y = conv.forward(x, true);  // 2 x 8 x 5 x 5
  conv.backward(randn<float>(y.shape, 3));
  const LayerStats& s = *conv.stats();
  CHECK(s.name == "stage2.block1.conv2");
  CHECK(s.depth == 7);
  CHECK(s.fwd.k == 6 / 2 * 3 * 3);
  CHECK(s.fwd.m == 8);
  CHECK(s.fwd.n == 2 * 5 * 5);
  CHECK(s.fwd.tag == "stage2.block1.conv2/fwd");
  CHECK(s.fwd.depth == 7);
  CHECK(s.fwd.counts.additions == std::uint64_t(8 * 50 * 27));
  CHECK(s.bwd_data.k == 8 / 2);
  CHECK(s.bwd_data.m * s.bwd_data.n * s.bwd_data.k == 8 * 50 * 27);  // the same MACs as forward
  CHECK(s.bwd_data.tag == "stage2.block1.conv2/bwd_data");
  CHECK(s.bwd_weight.k == 2 * 5 * 5);
  CHECK(s.bwd_weight.m * s.bwd_weight.n == 8 * 27);
  CHECK(s.bwd_weight.counts.additions == std::uint64_t(8 * 50 * 27));
  CHECK(s.bwd_weight.depth == 7);
  CHECK((s.fwd_calls == 1 && s.bwd_data_calls == 1 && s.bwd_weight_calls == 1));

  Linear<float> fc(12, 5);
  fc.name = "fc";
  fc.depth = 9;
  fc.stats_request.error = true;
  fc.precision.fwd = sim::parse_mac("in=fp16,acc=fp16");
  fc.reset_parameters(4);
  fc.forward(randn<float>({3, 12}, 5), true);
  fc.compute_input_grad = false;
  CHECK(fc.backward(randn<float>({3, 5}, 6)).numel() == 0);
  CHECK(fc.stats()->fwd.k == 12);
  CHECK(fc.stats()->fwd.tag == "fc/fwd");
  CHECK(fc.stats()->fwd.has_error);
  CHECK(fc.stats()->fwd.sqnr_db > 0);
  CHECK(fc.stats()->bwd_weight.k == 3);
  CHECK(fc.stats()->bwd_data_calls == 0);
}

TEST_CASE("BatchNorm2d: batch statistics in training, running statistics in eval") {
  BatchNorm2d<float> bn(2);
  bn.name = "bn1";
  // Channel 0 holds 1, 2, 3, 6 (mean 3, biased var 3.5, unbiased 14/3); channel 1 is constant 5.
  Tensor<float> x({2, 2, 1, 2});
  const float v[] = {1, 2, 5, 5, 3, 6, 5, 5};
  for (int i = 0; i < 8; ++i) x[i] = v[i];
  const Tensor<float> y = bn.forward(x, true);
  CHECK(y[0] == doctest::Approx(-2 / std::sqrt(3.5 + 1e-5)));
  CHECK(y[2] == 0);  // a constant channel normalises to 0, not NaN
  CHECK(bn.running_mean[0] == doctest::Approx(0.3));
  CHECK(bn.running_var[0] == doctest::Approx(0.9 + 0.1 * 14 / 3.0));
  CHECK(bn.running_mean[1] == doctest::Approx(0.5));
  CHECK(bn.running_var[1] == doctest::Approx(0.9));
  bn.forward(x, true);
  CHECK(bn.running_mean[0] == doctest::Approx(0.9 * 0.3 + 0.3));
  // Eval: (x - running_mean) / sqrt(running_var + eps) * gamma + beta, statistics untouched.
  bn.gamma.value[0] = 2, bn.beta.value[0] = 1;
  const float rm = bn.running_mean[0], rv = bn.running_var[0];
  const Tensor<float> e = bn.forward(x, false);
  CHECK(e[1] == doctest::Approx((2 - rm) / std::sqrt(rv + 1e-5) * 2 + 1));
  CHECK(bn.running_mean[0] == rm);
  // Eval backward is the affine map's.
  const Tensor<float> dx = bn.backward(Tensor<float>(x.shape, 1.f));
  CHECK(dx[0] == doctest::Approx(2 / std::sqrt(rv + 1e-5)));
  CHECK_THROWS_WITH_AS(bn.forward(Tensor<float>({1, 2, 1, 1}), true), doctest::Contains("bn1"), std::invalid_argument);
}

TEST_CASE("pooling and the loss on hand-worked values") {
  Tensor<float> x({1, 1, 2, 4});
  const float v[] = {1, 5, 2, 0, 3, 4, -1, 7};
  for (int i = 0; i < 8; ++i) x[i] = v[i];
  MaxPool2d<float> mp(2);
  CHECK(mp.forward(x, true).data == std::vector<float>{5, 7});
  CHECK(mp.backward(Tensor<float>({1, 1, 1, 2}, 1.f)).data == std::vector<float>{0, 1, 0, 0, 0, 0, 0, 1});
  AvgPool2d<float> ap(2);
  CHECK(ap.forward(x, true).data == std::vector<float>{3.25f, 2});
  GlobalAvgPool<float> gap;
  const Tensor<float> g = gap.forward(x, true);
  CHECK(g.shape == Shape{1, 1});
  CHECK(g[0] == 2.625f);
  ReLU6<float> r6;
  Tensor<float> big({3});
  big[0] = -1, big[1] = 3, big[2] = 9;
  CHECK(r6.forward(big, true).data == std::vector<float>{0, 3, 6});

  SoftmaxCrossEntropy<float> ce;
  ce.name = "head.loss";
  Tensor<float> z({2, 2});
  z[0] = 0, z[1] = 0, z[2] = 1000, z[3] = 0;  // a huge logit stays finite
  CHECK(ce.forward(z, {0, 1}) == doctest::Approx((std::log(2.0) + 1000) / 2));
  CHECK(ce.correct == 1);  // sample 0's tie picks class 0, its label; sample 1 is wrong
  const Tensor<float> dz = ce.backward();
  CHECK(dz[0] == doctest::Approx(-0.25));
  CHECK(dz[3] == doctest::Approx(-0.5));
  z[0] = NAN;
  CHECK_THROWS_WITH_AS(ce.forward(z, {0, 1}), doctest::Contains("head.loss"), std::runtime_error);
  z[0] = INFINITY;
  CHECK_THROWS_AS(ce.forward(z, {0, 1}), std::runtime_error);
  CHECK_THROWS_WITH_AS(ce.forward(z, {0, 2}), doctest::Contains("label 2"), std::invalid_argument);
}

namespace {

// The integer codes of `t` under `spec` (nn/quantizer.hpp ScaledCodes).
ScaledCodes codes_of(const char* spec, const Tensor<float>& t, Shape view, int axis) {
  ScaledCodes c;
  Tensor<float> values = t;
  quantize_tensor(parse_quant(spec), t.ptr(), values.ptr(), view, axis, {}, &c);
  return c;
}

// A two's complement register of `bits` after wrapping.
std::int64_t wrap(std::int64_t v, int bits) {
  const std::int64_t m = std::int64_t(1) << bits, r = ((v % m) + m) % m;
  return r >= m / 2 ? r - m : r;
}

}  // namespace

TEST_CASE("integer codes reproduce the quantized values and stay in their range") {
  const Tensor<float> x = randn<float>({4, 3, 5}, 70);
  for (const char* spec : {"int4/absmax/tensor", "int4/absmax/channel", "uint4/absmax/tensor", "int3/minmax/tensor",
                           "int5/minmax/channel", "int6/pow2/tensor", "int8"}) {
    CAPTURE(spec);
    ScaledCodes c;
    Tensor<float> v = x;
    quantize_tensor(parse_quant(spec), x.ptr(), v.ptr(), x.shape, 1, {}, &c);
    const auto range = code_range(parse_quant(spec).format);
    REQUIRE(range);
    CHECK(c.scale.size() == (std::string(spec).find("channel") != std::string::npos ? 3u : 1u));
    for (std::int64_t i = 0; i < x.numel(); ++i) {
      const double code = c.code[std::size_t(i)], s = c.scale[c.scale.size() == 1 ? 0 : std::size_t((i / 5) % 3)];
      CHECK(code == std::nearbyint(code));
      CHECK(code >= range->first);
      CHECK(code <= range->second);
      CHECK(v[i] == float(code * s));
    }
  }
  CHECK(!code_range(parse_quant("mxfp4").format));
  CHECK(!code_range(parse_quant("e4m3fn/absmax/tensor").format));
  CHECK_THROWS_AS(codes_of("e4m3fn/absmax/tensor", x, x.shape, 1), std::invalid_argument);
}

TEST_CASE("a fixed-point forward MAC multiplies integer codes and rescales after the accumulator") {
  // Linear 40 -> 5, W int4 per channel, A uint4 per tensor: 40 products of
  // up to 7 * 15 overflow an 8-bit accumulator, which wraps or saturates on
  // the codes after every addition, as integer hardware does.
  const std::int64_t in = 40, out = 5, n = 3;
  Tensor<float> x = randn<float>({n, in}, 71);
  for (auto& v : x.data) v = std::fabs(v);  // post-ReLU activations
  for (const std::string acc : {"int32", "int8:wrap", "int8:sat"}) {
    CAPTURE(acc);
    Linear<float> fc(in, out);
    fc.reset_parameters(72);
    fc.precision.w = parse_quant("int4/absmax/channel");
    fc.precision.a = parse_quant("uint4/absmax/tensor");
    fc.precision.fwd = sim::parse_mac("a=int4,b=uint4,acc=" + acc + ",out=fp32");
    CHECK(code_product_problem(fc.precision.fwd, fc.precision.w, fc.precision.a).empty());
    const Tensor<float> y = fc.forward(x, true);
    const ScaledCodes wc = codes_of("int4/absmax/channel", fc.weight.value, {out, in}, 0);
    const ScaledCodes xc = codes_of("uint4/absmax/tensor", x, x.shape, 1);
    Tensor<float> want({n, out});
    bool clipped = false;
    for (std::int64_t b = 0; b < n; ++b)
      for (std::int64_t o = 0; o < out; ++o) {
        std::int64_t s = 0, exact = 0;
        for (std::int64_t i = 0; i < in; ++i) {
          const auto p = std::int64_t(wc.code[std::size_t(o * in + i)]) * std::int64_t(xc.code[std::size_t(b * in + i)]);
          exact += p;
          s += p;
          if (acc == "int8:wrap") s = wrap(s, 8);
          if (acc == "int8:sat") s = std::clamp<std::int64_t>(s, -128, 127);
        }
        clipped |= s != exact;
        want[b * out + o] = float(double(s) * (wc.scale[std::size_t(o)] * xc.scale[0])) + fc.bias.value[o];
      }
    CHECK(bitwise_equal(y, want));
    CHECK(clipped == (acc != "int32"));  // the narrow accumulator did overflow
  }
}

TEST_CASE("a fixed-point conv MAC on codes equals the exact integer convolution, rescaled") {
  for (const auto& c : kConvCases) {
    ConvPair pair(c, 80);
    pair.f.precision.w = parse_quant("int3/absmax/channel");
    pair.f.precision.a = parse_quant("int4/minmax/tensor");  // codes q + zero point: 5 bits signed
    pair.f.precision.fwd = sim::parse_mac("a=int3,b=int5,acc=int32,out=fp32");
    const Tensor<float> x = randn<float>(c.x, 81);
    const Tensor<float> y = pair.f.forward(x, true);
    const std::int64_t k = c.cin / c.groups * c.k * c.k;
    const ScaledCodes wc = codes_of("int3/absmax/channel", pair.f.weight.value, {c.cout, k}, 0);
    const ScaledCodes xc = codes_of("int4/minmax/tensor", x, x.shape, 1);
    // The codes through the fp32 reference convolution (exact: small integers), rescaled.
    Conv2d<float> ref(c.cin, c.cout, c.k, c.stride, c.pad, c.groups);
    ref.weight.value.data = wc.code;
    ref.bias.value.data.assign(std::size_t(c.cout), 0.f);
    Tensor<float> xcodes(x.shape);
    xcodes.data = xc.code;
    Tensor<float> want = direct_conv(ref, xcodes);
    const std::int64_t plane = want.dim(2) * want.dim(3);
    for (std::int64_t i = 0; i < want.numel(); ++i) {
      const std::int64_t o = (i / plane) % c.cout;
      want[i] = float(double(want[i]) * (wc.scale[std::size_t(o)] * xc.scale[0])) + pair.f.bias.value[o];
    }
    CAPTURE(c.groups);
    CHECK(bitwise_equal(y, want));
  }
}

TEST_CASE("running activation ranges: the batch's range in training, folded in as QuantMeasure; the running one in eval") {
  Linear<float> fc(6, 3);
  fc.reset_parameters(90);
  fc.precision.a = parse_quant("int4/minmax/tensor");
  fc.precision.a_running_range = true;
  const Tensor<float> x1 = randn<float>({4, 6}, 91), x2 = randn<float>({4, 6}, 92, 3.0);
  auto range_of = [](const Tensor<float>& x) {
    return std::pair{*std::min_element(x.data.begin(), x.data.end()), *std::max_element(x.data.begin(), x.data.end())};
  };
  // Training: the output is the batch's own quantization, and the state moves.
  Linear<float> plain(6, 3);
  plain.reset_parameters(90);
  plain.precision.a = fc.precision.a;
  CHECK(bitwise_equal(fc.forward(x1, true), plain.forward(x1, true)));
  const auto [mn1, mx1] = range_of(x1);
  float zp = 0.f * 0.1f + mn1 * 0.9f, r = 0.f * 0.1f + (mx1 - mn1) * 0.9f;
  CHECK(fc.a_range.state[0] == zp);
  CHECK(fc.a_range.state[1] == r);
  fc.forward(x2, true);
  const auto [mn2, mx2] = range_of(x2);
  zp = zp * 0.1f + mn2 * 0.9f, r = r * 0.1f + (mx2 - mn2) * 0.9f;
  CHECK(fc.a_range.state[0] == zp);
  CHECK(fc.a_range.state[1] == r);
  // Evaluation: quantized with [zp, zp + r], which clips x2's extremes; the state stays.
  const Tensor<float> y = fc.forward(x2, false);
  Tensor<float> xq = x2;
  const TensorRange given{double(zp), double(zp) + double(r)};
  quantize_tensor(fc.precision.a.value(), x2.ptr(), xq.ptr(), x2.shape, 1, {}, nullptr, &given);
  Linear<float> ref(6, 3);
  ref.reset_parameters(90);
  CHECK(bitwise_equal(y, ref.forward(xq, false)));
  CHECK(!bitwise_equal(y, plain.forward(x2, false)));  // not the batch's own range
  CHECK(fc.a_range.state[1] == r);
  // A range needs per-tensor scales.
  fc.precision.a = parse_quant("int4/minmax/channel");
  CHECK_THROWS_WITH_AS(fc.forward(x2, false), doctest::Contains("a given range needs per-tensor scaling"),
                       std::invalid_argument);
}
