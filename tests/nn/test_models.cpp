// The model zoo's MobileNetV2: layer names and order, output shapes,
// parameter counts worked out by hand, a linear bottleneck's residual
// wiring checked by a directional derivative, and a few steps that learn.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "nn/models.hpp"
#include "nn/nn.hpp"
#include "nn/optim.hpp"
#include "nn_test_util.hpp"

using namespace lpsim::nn;

namespace {

std::unique_ptr<Model> mobilenet(const std::string& arch, std::int64_t c, std::int64_t hw, std::int64_t classes) {
  ModelSpec s;
  s.arch = arch;
  s.channels = c, s.height = hw, s.width = hw, s.classes = classes;
  s.seed = 7;
  auto m = make_model(s);
  // As nn::train without --count-events: no event counts, the fast kernels.
  for (auto* l : m->product_layers()) {
    if (auto* c = dynamic_cast<Conv2d<float>*>(l)) c->stats_request.counts = false;
    if (auto* f = dynamic_cast<Linear<float>*>(l)) f->stats_request.counts = false;
  }
  return m;
}

double loss_of(Model& m, const Tensor<float>& x, const std::vector<std::int64_t>& y) {
  return double(m.loss.forward(m.forward(x, true), y));
}

}  // namespace

TEST_CASE("MobileNetV2 parameter counts match a hand computation") {
  // Stem 3x3 (c_img -> 32) + BN; per block with input c, expansion t, output
  // c': expand c*ct + 2ct (t > 1), depthwise 9ct + 2ct, project ct*c' + 2c';
  // head 320*1280 + 2*1280; classifier 1280*classes + classes. With 3 input
  // channels and 1000 classes this is 3,504,872, torchvision's mobilenet_v2
  // (strides do not change parameter counts); 1,968,680 at width 0.5 (channels
  // 16, 8, 16, 16, 32, 48, 80, 160, rounded to multiples of 8; head 1280).
  CHECK(mobilenet("mobilenetv2", 3, 32, 1000)->num_parameters() == 3504872);
  CHECK(mobilenet("mobilenetv2_0.5", 3, 32, 1000)->num_parameters() == 1968680);
  // Fashion-MNIST: 1 channel, 10 classes: 3504872 - 2*32*9 - 990*1280 - 990.
  CHECK(mobilenet("mobilenetv2", 1, 28, 10)->num_parameters() == 2236106);
}

TEST_CASE("MobileNetV2 layer names, depths and output shape") {
  auto m = mobilenet("mobilenetv2_0.25", 1, 28, 10);
  const auto pl = m->product_layers();
  // stem, 17 blocks (the first without expansion: 2 products, the others 3), head, fc.
  REQUIRE(pl.size() == 1 + 2 + 16 * 3 + 1 + 1);
  CHECK(pl[0]->name == "stem.conv");
  CHECK(pl[1]->name == "stage1.block1.depthwise");
  CHECK(pl[2]->name == "stage1.block1.project");
  CHECK(pl[3]->name == "stage2.block1.expand");
  CHECK(pl[4]->name == "stage2.block1.depthwise");
  CHECK(pl[5]->name == "stage2.block1.project");
  CHECK(pl[pl.size() - 2]->name == "head.conv");
  CHECK(pl.back()->name == "fc");
  for (std::size_t i = 0; i < pl.size(); ++i) CHECK(pl[i]->depth == int(i));
  auto* dw = dynamic_cast<Conv2d<float>*>(pl[4]);
  REQUIRE(dw);
  CHECK(dw->groups == dw->in_channels);  // depthwise
  CHECK(dw->in_channels == 6 * 8);       // width 0.25: stage 1 has 8 channels (16/4 rounded up to 8), expanded 6x
  // Residual joins only where the stride is 1 and the channels match: the
  // second block of stage 2 has one, the first does not.
  int residual = 0;
  for (auto& b : m->blocks)
    if (auto* r = dynamic_cast<ResidualBlock*>(b.get())) {
      ++residual;
      CHECK_FALSE(r->relu_after);  // linear bottleneck
      CHECK(r->add.name.find(".add") != std::string::npos);
    }
  // 17 blocks minus the first of each of the 7 stages, plus two firsts whose
  // channels happen to match at width 0.25 (stem 8 -> stage 1: 8 -> stage 2: 8).
  CHECK(residual == 12);
  const Tensor<float> x = nn_test::randn<float>({1, 1, 28, 28}, 1);
  CHECK(m->forward(x, true).shape == Shape{1, 10});
  const Tensor<float> x32 = nn_test::randn<float>({1, 1, 32, 32}, 2);
  CHECK(mobilenet("mobilenetv2_0.25", 1, 32, 10)->forward(x32, true).shape == Shape{1, 10});
}

TEST_CASE("MobileNetV2 names that are not a width multiplier are clear errors") {
  ModelSpec s;
  for (const char* bad : {"mobilenetv2_", "mobilenetv2_x", "mobilenetv2_0", "mobilenetv2_0.5x", "mobilenetv3"}) {
    s.arch = bad;
    CAPTURE(bad);
    CHECK_THROWS_WITH_AS(make_model(s), doctest::Contains((std::string("\"") + bad + "\"").c_str()), std::invalid_argument);
  }
}

TEST_CASE("MobileNetV2 backward is the gradient of its loss (directional derivative)") {
  // A tiny instance on 8x8 images: moving every parameter by eps * its
  // gradient changes the loss by eps * |g|^2 to first order.
  auto m = mobilenet("mobilenetv2_0.25", 1, 16, 4);
  const Tensor<float> x = nn_test::randn<float>({4, 1, 16, 16}, 3);
  const std::vector<std::int64_t> y = {0, 1, 2, 3};
  const double l0 = loss_of(*m, x, y);
  m->backward(m->loss.backward());
  auto params = m->params();
  double g2 = 0;
  for (auto* p : params)
    for (float g : p->grad.data) g2 += double(g) * g;
  REQUIRE(g2 > 0);
  const double eps = 1e-4 / std::sqrt(g2);  // a loss change of about 1e-4 * |g|: linear, above float noise
  auto shift = [&](double by) {
    for (auto* p : params)
      for (std::int64_t i = 0; i < p->value.numel(); ++i) p->value[i] += float(by * p->grad[i]);
  };
  shift(eps);
  const double up = loss_of(*m, x, y);
  shift(-2 * eps);
  const double down = loss_of(*m, x, y);
  shift(eps);
  const double numeric = (up - down) / (2 * eps);
  CAPTURE(l0);
  CAPTURE(up);
  CAPTURE(down);
  CHECK(numeric == doctest::Approx(g2).epsilon(0.05));
}

TEST_CASE("MobileNetV2 training steps reduce the loss on a fixed batch") {
  auto m = mobilenet("mobilenetv2_0.25", 1, 16, 4);
  const Tensor<float> x = nn_test::randn<float>({4, 1, 16, 16}, 4);
  const std::vector<std::int64_t> y = {0, 1, 2, 3};
  auto params = m->params();
  OptimizerConfig opt;
  opt.weight_decay = 0;
  double first = 0, last = 0;
  for (int it = 0; it < 8; ++it) {
    const double l = loss_of(*m, x, y);
    if (it == 0) first = l;
    last = l;
    m->backward(m->loss.backward());
    optimizer_step(opt, params, 0.01, it);
  }
  CAPTURE(first);
  CHECK(last < 0.7 * first);
}
