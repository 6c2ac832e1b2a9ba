// The float layers on the emulated hardware: agreement with the fp64
// reference, bit-exactness of the fp32 MAC path, the quantization points and
// the straight-through estimator, BatchNorm's statistics, the products' stats.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "conv_reference.hpp"
#include "nn/product.hpp"
#include "nn_test_util.hpp"
#include "sim/conv.hpp"

using namespace lpsim;
using namespace lpsim::nn;
using namespace nn_test;


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
  CHECK(values(mp.forward(x, true)) == std::vector<float>{5, 7});
  CHECK(values(mp.backward(Tensor<float>({1, 1, 1, 2}, 1.f))) == std::vector<float>{0, 1, 0, 0, 0, 0, 0, 1});
  AvgPool2d<float> ap(2);
  CHECK(values(ap.forward(x, true)) == std::vector<float>{3.25f, 2});
  GlobalAvgPool<float> gap;
  const Tensor<float> g = gap.forward(x, true);
  CHECK(g.shape == Shape{1, 1});
  CHECK(g[0] == 2.625f);
  ReLU6<float> r6;
  Tensor<float> big({3});
  big[0] = -1, big[1] = 3, big[2] = 9;
  CHECK(values(r6.forward(big, true)) == std::vector<float>{0, 3, 6});

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
