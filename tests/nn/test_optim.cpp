// Optimizers, schedules and master weights against hand-worked steps, and
// one fp32 training step of a tiny net against backpropagation written out
// by hand in double.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <vector>

#include "arith/golden.hpp"
#include "nn/layers/linear.hpp"
#include "nn/layers/activation.hpp"
#include "nn/layers/softmax_cross_entropy.hpp"
#include "nn/optim.hpp"

using namespace lpsim;
using nn::Param;
using nn::Tensor;

namespace {

Param<float> scalar_param(float w, bool decay = true) {
  Param<float> p;
  p.value = Tensor<float>({1}, w);
  p.grad = Tensor<float>({1});
  p.decay = decay;
  return p;
}

// Two steps with gradient 0.5 each; returns the weight after each.
std::vector<double> two_steps(const nn::OptimizerConfig& c, bool decay, double lr = 0.1) {
  Param<float> p = scalar_param(1.f, decay);
  std::vector<Param<float>*> ps{&p};
  std::vector<double> w;
  for (int t = 0; t < 2; ++t) {
    p.grad.data[0] = 0.5f;
    nn::optimizer_step(c, ps, lr, t);
    CHECK(p.grad.data[0] == 0.f);  // the step zeroes the gradient
    w.push_back(p.value.data[0]);
  }
  return w;
}

bool representable(float v, const nn::QuantSpec& q) {
  double out;
  arith::golden_quantize(v, q.format, arith::Rounding{}, {}, 0, out);
  return out == double(v);
}

}  // namespace

TEST_CASE("SGD, Nesterov and Adam take the hand-worked steps") {
  nn::OptimizerConfig c;
  c.momentum = 0.9, c.weight_decay = 0.1;
  // SGD: g' = 0.5 + 0.1 w; v = 0.9 v + g'; w -= 0.1 v.
  //   t0: g' = 0.6, v = 0.6, w = 0.94;  t1: g' = 0.594, v = 1.134, w = 0.8266.
  auto w = two_steps(c, true);
  CHECK(w[0] == doctest::Approx(0.94).epsilon(1e-6));
  CHECK(w[1] == doctest::Approx(0.8266).epsilon(1e-6));
  // No decay on this parameter (a bias): v = 0.5, w = 0.95; v = 0.95, w = 0.855.
  w = two_steps(c, false);
  CHECK(w[0] == doctest::Approx(0.95).epsilon(1e-6));
  CHECK(w[1] == doctest::Approx(0.855).epsilon(1e-6));
  // Nesterov: w -= 0.1 (g' + 0.9 v).
  //   t0: g' = 0.6, v = 0.6, w = 1 - 0.114 = 0.886;
  //   t1: g' = 0.5886, v = 1.1286, w = 0.886 - 0.1 (0.5886 + 1.01574) = 0.725566.
  c.kind = "nesterov";
  w = two_steps(c, true);
  CHECK(w[0] == doctest::Approx(0.886).epsilon(1e-6));
  CHECK(w[1] == doctest::Approx(0.725566).epsilon(1e-6));
  // Adam with a constant gradient: the bias-corrected moments are g and g^2,
  // so each step moves by lr (up to eps).
  c.kind = "adam";
  c.weight_decay = 0;
  w = two_steps(c, true);
  CHECK(w[0] == doctest::Approx(0.9).epsilon(1e-6));
  CHECK(w[1] == doctest::Approx(0.8).epsilon(1e-6));
  c.kind = "adagrad";
  CHECK_THROWS_WITH_AS(two_steps(c, true), doctest::Contains("optimizer \"adagrad\" is unknown"), std::invalid_argument);
}

TEST_CASE("learning-rate schedules: constant, step, cosine, warm-up") {
  nn::ScheduleConfig s;
  s.lr = 0.1;
  s.kind = "const";
  CHECK(nn::learning_rate(s, 77, 100) == 0.1);
  s.kind = "cosine";
  CHECK(nn::learning_rate(s, 0, 100) == doctest::Approx(0.1));
  CHECK(nn::learning_rate(s, 50, 100) == doctest::Approx(0.05));
  CHECK(nn::learning_rate(s, 25, 100) == doctest::Approx(0.05 * (1 + std::sqrt(0.5))));
  s.kind = "step";
  s.milestones = {0.5, 0.75};
  CHECK(nn::learning_rate(s, 49, 100) == doctest::Approx(0.1));
  CHECK(nn::learning_rate(s, 50, 100) == doctest::Approx(0.01));
  CHECK(nn::learning_rate(s, 75, 100) == doctest::Approx(0.001));
  s.warmup_iters = 10;  // linear from lr/10, then the schedule
  CHECK(nn::learning_rate(s, 0, 100) == doctest::Approx(0.01));
  CHECK(nn::learning_rate(s, 9, 100) == doctest::Approx(0.1));
  CHECK(nn::learning_rate(s, 60, 100) == doctest::Approx(0.01));
}

TEST_CASE("master weights: rounded into their format after each update; SR keeps small updates") {
  // bf16 near 1 has spacing 2^-8 below 1: an update of 1e-3 is under half of it.
  const nn::QuantSpec rne = nn::parse_master("bf16", "rne"), sr = nn::parse_master("bf16", "sr");
  const std::int64_t n = 4096;
  nn::OptimizerConfig c;
  c.momentum = 0, c.weight_decay = 0;
  auto run = [&](const nn::QuantSpec& q, int steps) {
    Param<float> p;
    p.value = Tensor<float>({n}, 1.f);
    p.grad = Tensor<float>({n});
    std::vector<Param<float>*> ps{&p};
    nn::round_master(q, ps, 9, 0);
    for (int t = 0; t < steps; ++t) {
      for (auto& g : p.grad.data) g = 1e-3f;
      nn::optimizer_step(c, ps, 1.0, t);
      nn::round_master(q, ps, 9, t + 1);
    }
    return p.value;
  };
  // Round to nearest: every update is swamped, the weights never move.
  const Tensor<float> stuck = run(rne, 20);
  for (float v : stuck.data) REQUIRE(v == 1.f);
  // Stochastic rounding: unbiased, the mean follows 1 - 20e-3 = 0.98.
  const Tensor<float> moved = run(sr, 20);
  double mean = 0;
  for (float v : moved.data) {
    REQUIRE(representable(v, sr));
    mean += v;
  }
  mean /= double(n);
  CHECK(mean == doctest::Approx(0.98).epsilon(2e-4));
  // Same bits for any thread count; another iteration draws other bits.
  omp_set_num_threads(1);
  const Tensor<float> one = run(sr, 20);
  omp_set_num_threads(2);
  CHECK(one.data == moved.data);
  const Tensor<float> fewer = run(sr, 19);
  CHECK(fewer.data != moved.data);
  // The initial weights are stored too; a fixed-point master saturates as its format says.
  Param<float> p;
  p.value = Tensor<float>({3});
  p.value.data[0] = 0.3f, p.value.data[1] = 100.f, p.value.data[2] = -0.126f;
  std::vector<Param<float>*> ps{&p};
  nn::round_master(nn::parse_master("fx8.4:sat", "rne"), ps, 1, 0);
  CHECK(p.value.data[0] == 0.3125f);
  CHECK(p.value.data[1] == 127.f / 16);
  CHECK(p.value.data[2] == -0.125f);
  // Scaled formats are not storage formats.
  CHECK_THROWS_WITH_AS(nn::parse_master("int8/minmax/tensor", "rne"), doctest::Contains("is a scaled format"),
                       std::invalid_argument);
  CHECK_THROWS_AS(nn::parse_master("bf17", "rne"), std::invalid_argument);
}

TEST_CASE("an fp32 training step of a tiny net matches backpropagation worked in double") {
  // Linear(3 -> 4) -> ReLU -> Linear(4 -> 2) -> softmax cross-entropy, batch 2, SGD.
  const std::vector<std::vector<double>> x = {{1, 2, -1}, {0.5, -1, 2}};
  const std::vector<int> y = {0, 1};
  std::vector<std::vector<double>> w1 = {{0.1, -0.2, 0.3}, {0.4, 0.1, -0.3}, {-0.2, 0.3, 0.2}, {0.3, 0.3, 0.1}};
  std::vector<double> b1 = {0.05, -0.1, 0.1, 0.02};
  std::vector<std::vector<double>> w2 = {{0.2, -0.3, 0.5, 0.1}, {-0.4, 0.2, 0.1, 0.3}};
  std::vector<double> b2 = {0.01, -0.02};

  nn::Linear<float> l1(3, 4), l2(4, 2);
  nn::ReLU<float> relu;
  nn::SoftmaxCrossEntropy<float> loss;
  for (int o = 0; o < 4; ++o)
    for (int i = 0; i < 3; ++i) l1.weight.value.data[std::size_t(o * 3 + i)] = float(w1[o][i]);
  for (int o = 0; o < 2; ++o)
    for (int i = 0; i < 4; ++i) l2.weight.value.data[std::size_t(o * 4 + i)] = float(w2[o][i]);
  for (int o = 0; o < 4; ++o) l1.bias.value.data[std::size_t(o)] = float(b1[o]);
  for (int o = 0; o < 2; ++o) l2.bias.value.data[std::size_t(o)] = float(b2[o]);
  Tensor<float> xt({2, 3});
  for (int s = 0; s < 2; ++s)
    for (int i = 0; i < 3; ++i) xt.data[std::size_t(s * 3 + i)] = float(x[s][i]);
  const float got_loss = loss.forward(l2.forward(relu.forward(l1.forward(xt, true), true), true), {0, 1});
  l1.backward(relu.backward(l2.backward(loss.backward())));
  nn::OptimizerConfig c;  // SGD, momentum 0.9, weight decay 5e-4 (weights only)
  std::vector<Param<float>*> ps = {&l1.weight, &l1.bias, &l2.weight, &l2.bias};
  nn::optimizer_step(c, ps, 0.1, 0);

  // By hand: h = relu(W1 x + b1), z = W2 h + b2, L = mean -log softmax(z)_y,
  // dz = (softmax(z) - onehot(y)) / N, dW2 = sum dz h^T, dh = W2^T dz masked
  // by h > 0, dW1 = sum dh x^T; first SGD step: w -= lr (g + wd w) (v = g').
  double want_loss = 0;
  std::vector<std::vector<double>> gw1(4, std::vector<double>(3)), gw2(2, std::vector<double>(4));
  std::vector<double> gb1(4), gb2(2);
  for (int s = 0; s < 2; ++s) {
    std::vector<double> h(4), z(2), dz(2), dh(4);
    for (int o = 0; o < 4; ++o) {
      h[o] = b1[o];
      for (int i = 0; i < 3; ++i) h[o] += w1[o][i] * x[s][i];
      h[o] = std::max(h[o], 0.0);
    }
    for (int o = 0; o < 2; ++o) {
      z[o] = b2[o];
      for (int i = 0; i < 4; ++i) z[o] += w2[o][i] * h[i];
    }
    const double zmax = std::max(z[0], z[1]);
    const double denom = std::exp(z[0] - zmax) + std::exp(z[1] - zmax);
    want_loss += -(z[y[s]] - zmax - std::log(denom)) / 2;
    for (int o = 0; o < 2; ++o) dz[o] = (std::exp(z[o] - zmax) / denom - (o == y[s])) / 2;
    for (int o = 0; o < 2; ++o) {
      gb2[o] += dz[o];
      for (int i = 0; i < 4; ++i) gw2[o][i] += dz[o] * h[i];
    }
    for (int i = 0; i < 4; ++i) {
      for (int o = 0; o < 2; ++o) dh[i] += w2[o][i] * dz[o];
      if (h[i] <= 0) dh[i] = 0;
    }
    for (int o = 0; o < 4; ++o) {
      gb1[o] += dh[o];
      for (int i = 0; i < 3; ++i) gw1[o][i] += dh[o] * x[s][i];
    }
  }
  CHECK(got_loss == doctest::Approx(want_loss).epsilon(1e-6));
  const double lr = 0.1, wd = 5e-4;
  for (int o = 0; o < 4; ++o) {
    for (int i = 0; i < 3; ++i)
      CHECK(l1.weight.value.data[std::size_t(o * 3 + i)] ==
            doctest::Approx(w1[o][i] - lr * (gw1[o][i] + wd * w1[o][i])).epsilon(1e-6));
    CHECK(l1.bias.value.data[std::size_t(o)] == doctest::Approx(b1[o] - lr * gb1[o]).epsilon(1e-6));
  }
  for (int o = 0; o < 2; ++o) {
    for (int i = 0; i < 4; ++i)
      CHECK(l2.weight.value.data[std::size_t(o * 4 + i)] ==
            doctest::Approx(w2[o][i] - lr * (gw2[o][i] + wd * w2[o][i])).epsilon(1e-6));
    CHECK(l2.bias.value.data[std::size_t(o)] == doctest::Approx(b2[o] - lr * gb2[o]).epsilon(1e-6));
  }
}
