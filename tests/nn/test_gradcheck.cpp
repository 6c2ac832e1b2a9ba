// Every layer's backward against central differences of its forward, in fp64.
// The scalar checked is sum(forward(x) * r) for a fixed random r, so that
// backward(r) is its gradient.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <numeric>

#include "nn_test_util.hpp"

using namespace lpsim::nn;
using nn_test::randn;
using nn_test::rel_error;

namespace {

constexpr double kStep = 1e-5, kTolerance = 1e-6;

// d f / d v[i] by central differences, v restored afterwards.
Tensor<double> numeric_grad(const std::function<double()>& f, Tensor<double>& v) {
  Tensor<double> g(v.shape);
  for (std::int64_t i = 0; i < v.numel(); ++i) {
    const double keep = v[i];
    v[i] = keep + kStep;
    const double up = f();
    v[i] = keep - kStep;
    const double down = f();
    v[i] = keep;
    g[i] = (up - down) / (2 * kStep);
  }
  return g;
}

double dot(const Tensor<double>& a, const Tensor<double>& b) {
  return std::inner_product(a.data.begin(), a.data.end(), b.data.begin(), 0.0);
}

// Checks dx and every parameter gradient of `layer` at x.
void check_layer(Layer<double>& layer, Tensor<double> x, bool training, unsigned seed = 1) {
  const Tensor<double> r = randn(layer.forward(x, training).shape, seed + 100);
  for (auto* p : layer.params()) p->grad = Tensor<double>(p->value.shape);
  const Tensor<double> dx = layer.backward(r);
  const auto loss = [&] { return dot(layer.forward(x, training), r); };
  const double ex = rel_error(dx, numeric_grad(loss, x));
  CAPTURE(layer.name);
  CHECK(ex < kTolerance);
  for (auto* p : layer.params()) {
    CAPTURE(p->name);
    CHECK(rel_error(p->grad, numeric_grad(loss, p->value)) < kTolerance);
  }
}

}  // namespace

TEST_CASE("gradient check: Conv2d with stride, padding, groups, depthwise, bias") {
  struct Case {
    const char* name;
    std::int64_t cin, cout, k, stride, pad, groups;
    bool bias;
    Shape x;
  };
  const Case cases[] = {
      {"3x3 pad 1", 3, 4, 3, 1, 1, 1, true, {2, 3, 5, 5}},
      {"3x3 stride 2 pad 1, non-square input", 3, 4, 3, 2, 1, 1, true, {2, 3, 7, 6}},
      {"groups 2", 4, 6, 3, 1, 0, 2, true, {2, 4, 5, 4}},
      {"depthwise stride 2", 4, 4, 3, 2, 1, 4, false, {2, 4, 6, 6}},
      {"pointwise no bias", 5, 3, 1, 1, 0, 1, false, {3, 5, 3, 2}},
      {"5x5 stride 3 pad 2", 2, 2, 5, 3, 2, 1, true, {1, 2, 8, 9}},
  };
  unsigned seed = 1;
  for (const auto& c : cases) {
    Conv2d<double> conv(c.cin, c.cout, c.k, c.stride, c.pad, c.groups, c.bias);
    conv.name = c.name;
    conv.reset_parameters(seed);
    check_layer(conv, randn(c.x, seed++), true);
  }
}

TEST_CASE("gradient check: Linear") {
  for (bool bias : {true, false}) {
    Linear<double> fc(7, 5, bias);
    fc.name = bias ? "fc" : "fc_nobias";
    fc.reset_parameters(3);
    check_layer(fc, randn({4, 7}, 4), true);
  }
}

TEST_CASE("gradient check: BatchNorm2d in training and eval mode") {
  BatchNorm2d<double> bn(3);
  bn.name = "bn";
  bn.gamma.value = randn({3}, 5);
  bn.beta.value = randn({3}, 6);
  check_layer(bn, randn({4, 3, 3, 2}, 7, 2), true);
  bn.running_mean = randn({3}, 8);
  for (auto& v : bn.running_var.data) v = 0.5 + v * v;
  check_layer(bn, randn({4, 3, 3, 2}, 9, 2), false);
}

TEST_CASE("gradient check: Range BatchNorm in training (through the chunks' extremes) and eval mode") {
  // 4 x 3 x 3 x 2: 18 values per channel in 4 chunks, one uneven (floor boundaries 0, 4, 9, 13, 18)
  BatchNorm2d<double> bn(3, 0.1, 1e-5, NormKind::Range, 4);
  bn.name = "range_bn";
  bn.gamma.value = randn({3}, 15);
  bn.beta.value = randn({3}, 16);
  check_layer(bn, randn({4, 3, 3, 2}, 17, 2), true);
  for (auto& v : bn.running_var.data) v = 0.5 + v * v;
  check_layer(bn, randn({4, 3, 3, 2}, 19, 2), false);
}

TEST_CASE("Range BatchNorm: the authors' scale and running statistics, worked by hand") {
  // One channel, 8 values in 2 chunks of 4: maxima 4, 7 and minima -2, 1.
  BatchNorm2d<double> bn(1, 0.1, 1e-5, NormKind::Range, 2);
  Tensor<double> x({2, 1, 2, 2});
  x.data = {1, -2, 4, 3, 7, 1, 2, 6};
  const Tensor<double> y = bn.forward(x, true);
  const double mean = 22.0 / 8, c = 0.5 * 0.35 * (1 + std::sqrt(M_PI * std::log(4.0))) / std::sqrt(2 * std::log(4.0));
  const double s = ((4 + 7) / 2.0 - (-2 + 1) / 2.0) * c;
  for (std::int64_t i = 0; i < 8; ++i) CHECK(y[i] == doctest::Approx((x[i] - mean) / (s + 1e-5)).epsilon(1e-14));
  CHECK(bn.running_mean[0] == doctest::Approx(0.9 * mean).epsilon(1e-15));          // 0.1 * 0 + 0.9 * mean
  CHECK(bn.running_var[0] == doctest::Approx(0.1 * 1 + 0.9 * s).epsilon(1e-15));    // holds the scale
  const Tensor<double> e = bn.forward(x, false);
  CHECK(e[0] == doctest::Approx((1 - bn.running_mean[0]) / (bn.running_var[0] + 1e-5)).epsilon(1e-14));
  CHECK_THROWS_WITH_AS(parse_norm("layer"), doctest::Contains("unknown normalisation \"layer\""), std::invalid_argument);
  BatchNorm2d<double> small(1, 0.1, 1e-5, NormKind::Range, 16);
  small.name = "bn";
  CHECK_THROWS_WITH_AS(small.forward(x, true), doctest::Contains("at least 2 values per chunk"), std::invalid_argument);
}

TEST_CASE("gradient check: ReLU and ReLU6 away from their kinks") {
  Tensor<double> x = randn({3, 2, 4, 4}, 10, 5);
  for (auto& v : x.data) {
    if (std::fabs(v) < 0.1) v += 0.2;
    if (std::fabs(v - 6) < 0.1) v += 0.2;
  }
  ReLU<double> relu;
  relu.name = "relu";
  check_layer(relu, x, true);
  ReLU6<double> relu6;
  relu6.name = "relu6";
  check_layer(relu6, x, true);
}

TEST_CASE("gradient check: pooling, flatten") {
  // Distinct values 0.01 apart: a step of 1e-5 never changes a window's maximum.
  Tensor<double> x({2, 3, 5, 6});
  std::vector<int> order(std::size_t(x.numel()));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937(11));
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = 0.01 * order[std::size_t(i)] - 0.9;
  MaxPool2d<double> max2(2), max3(3, 2, 1);
  max2.name = "maxpool 2", max3.name = "maxpool 3 stride 2 pad 1";
  check_layer(max2, x, true);
  check_layer(max3, x, true);
  AvgPool2d<double> avg2(2), avg3(3, 2, 1);
  avg2.name = "avgpool 2", avg3.name = "avgpool 3 stride 2 pad 1";
  check_layer(avg2, x, true);
  check_layer(avg3, x, true);
  GlobalAvgPool<double> gap;
  gap.name = "gap";
  check_layer(gap, x, true);
  Flatten<double> flat;
  flat.name = "flatten";
  check_layer(flat, x, true);
}

TEST_CASE("gradient check: residual add and softmax cross-entropy") {
  ResidualAdd<double> add;
  Tensor<double> a = randn({2, 3, 2, 2}, 12), b = randn({2, 3, 2, 2}, 13);
  const Tensor<double> r = randn({2, 3, 2, 2}, 14);
  add.forward(a, b);
  const Tensor<double> g = add.backward(r);
  const auto loss = [&] { return dot(add.forward(a, b), r); };
  CHECK(rel_error(g, numeric_grad(loss, a)) < kTolerance);
  CHECK(rel_error(g, numeric_grad(loss, b)) < kTolerance);

  SoftmaxCrossEntropy<double> ce;
  Tensor<double> z = randn({5, 4}, 15, 3);
  const std::vector<std::int64_t> labels{0, 3, 1, 1, 2};
  ce.forward(z, labels);
  const Tensor<double> dz = ce.backward();
  CHECK(rel_error(dz, numeric_grad([&] { return double(ce.forward(z, labels)); }, z)) < kTolerance);
}

TEST_CASE("gradient check: a small network end to end") {
  // conv (stride 2) -> bn -> maxpool -> relu -> depthwise conv -> relu6 -> flatten -> linear -> loss.
  // Pooling before the ReLU avoids windows of tied zeros (a kink of the max);
  // the conv before BatchNorm has no bias (BatchNorm removes it: its gradient is 0).
  Conv2d<double> c1(2, 4, 3, 2, 1, 1, false);
  BatchNorm2d<double> bn(4);
  ReLU<double> relu;
  MaxPool2d<double> pool(2);
  Conv2d<double> dw(4, 4, 3, 1, 1, 4);
  ReLU6<double> relu6;
  Flatten<double> flat;
  Linear<double> fc(4 * 2 * 2, 3);
  SoftmaxCrossEntropy<double> ce;
  c1.reset_parameters(20), dw.reset_parameters(21), fc.reset_parameters(22);
  std::vector<Layer<double>*> net{&c1, &bn, &pool, &relu, &dw, &relu6, &flat, &fc};
  for (std::size_t i = 0; i < net.size(); ++i) net[i]->name = "layer" + std::to_string(i);
  Tensor<double> x = randn({3, 2, 9, 9}, 24);  // a draw with no max-pool near-tie within the step
  const std::vector<std::int64_t> labels{2, 0, 1};
  const auto loss = [&] {
    Tensor<double> h = x;
    for (auto* l : net) h = l->forward(h, true);
    return double(ce.forward(h, labels));
  };
  loss();
  Tensor<double> g = ce.backward();
  for (auto it = net.rbegin(); it != net.rend(); ++it) g = (*it)->backward(g);
  CHECK(rel_error(g, numeric_grad(loss, x)) < kTolerance);
  for (auto* l : net)
    for (auto* p : l->params()) {
      const auto n = numeric_grad(loss, p->value);
      CAPTURE(p->name);
      CHECK(rel_error(p->grad, n) < kTolerance);
    }
}
