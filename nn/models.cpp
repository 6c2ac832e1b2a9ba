#include "nn/models.hpp"

#include <algorithm>
#include <stdexcept>

#include "nn/nn.hpp"

namespace lpsim::nn {

namespace {

template <class L>
L* named(L* l, const std::string& name) {
  l->name = name;
  return l;
}

NormKind norm_of(const ModelSpec& s) { return parse_norm(s.norm); }

struct Builder {
  Model& m;
  std::uint64_t seed;
  std::vector<std::unique_ptr<Layer<float>>>* into = nullptr;  // inside a residual block, else the model

  template <class L, class... Args>
  L& add(const std::string& name, Args&&... args) {
    auto l = std::make_unique<L>(std::forward<Args>(args)...);
    l->name = name;
    L& ref = *l;
    if constexpr (std::is_same_v<L, Conv2d<float>> || std::is_same_v<L, Linear<float>>) ref.reset_parameters(seed++);
    if (into) into->push_back(std::move(l));
    else m.blocks.push_back(std::make_unique<SingleLayer>(std::move(l)));
    return ref;
  }
};

void mlp(Model& m, const ModelSpec& s) {
  Builder b{m, s.seed};
  b.add<Flatten<float>>("flatten");
  b.add<Linear<float>>("fc1", s.channels * s.height * s.width, s.hidden);
  b.add<ReLU<float>>("relu1");
  b.add<Linear<float>>("fc2", s.hidden, s.hidden);
  b.add<ReLU<float>>("relu2");
  b.add<Linear<float>>("fc3", s.hidden, s.classes);
}

// LeNet-5 (LeCun et al. 1998) with ReLU and max pooling; 28x28 inputs get
// padding 2 in the first convolution so that both sizes reach 5x5 maps.
void lenet5(Model& m, const ModelSpec& s) {
  const std::int64_t pad = s.height == 28 ? 2 : 0;
  const std::int64_t h1 = (s.height + 2 * pad - 4) / 2, w1 = (s.width + 2 * pad - 4) / 2;
  const std::int64_t h2 = (h1 - 4) / 2, w2 = (w1 - 4) / 2;
  if (h2 < 1 || w2 < 1) throw std::invalid_argument("lenet5: input " + std::to_string(s.height) + "x" +
                                                     std::to_string(s.width) + " is too small (at least 28x28)");
  Builder b{m, s.seed};
  b.add<Conv2d<float>>("conv1", s.channels, 6, 5, 1, pad);
  b.add<ReLU<float>>("relu1");
  b.add<MaxPool2d<float>>("pool1", 2);
  b.add<Conv2d<float>>("conv2", 6, 16, 5);
  b.add<ReLU<float>>("relu2");
  b.add<MaxPool2d<float>>("pool2", 2);
  b.add<Flatten<float>>("flatten");
  b.add<Linear<float>>("fc1", 16 * h2 * w2, 120);
  b.add<ReLU<float>>("relu3");
  b.add<Linear<float>>("fc2", 120, 84);
  b.add<ReLU<float>>("relu4");
  b.add<Linear<float>>("fc3", 84, s.classes);
}

// CIFAR ResNet: a 3x3 stem, three stages of n basic blocks (16, 32, 64
// channels; stride 2 entering stages 2 and 3), global average pooling and a
// linear classifier. Where the shape changes the shortcut is a 1x1
// convolution with batch norm (option B of He et al.; their CIFAR runs used
// zero-padding, option A, which has no parameters to quantize).
void resnet(Model& m, const ModelSpec& s, int depth) {
  if (depth < 8 || (depth - 2) % 6) throw std::invalid_argument("resnet" + std::to_string(depth) +
                                                               ": depth must be 6n+2 (20, 32, 38, 44, 56, 74, 110)");
  const int n = (depth - 2) / 6;
  Builder b{m, s.seed};
  b.add<Conv2d<float>>("stem.conv", s.channels, 16, 3, 1, 1, 1, false);
  b.add<BatchNorm2d<float>>("stem.bn", 16, 0.1, 1e-5, norm_of(s));
  b.add<ReLU<float>>("stem.relu");
  std::int64_t in = 16;
  for (int stage = 1; stage <= 3; ++stage) {
    const std::int64_t out = 16 << (stage - 1);
    for (int blk = 1; blk <= n; ++blk) {
      const std::int64_t stride = (stage > 1 && blk == 1) ? 2 : 1;
      const std::string p = "stage" + std::to_string(stage) + ".block" + std::to_string(blk) + ".";
      auto block = std::make_unique<ResidualBlock>();
      Builder inner{m, b.seed, &block->main};
      inner.add<Conv2d<float>>(p + "conv1", in, out, 3, stride, 1, 1, false);
      inner.add<BatchNorm2d<float>>(p + "bn1", out, 0.1, 1e-5, norm_of(s));
      inner.add<ReLU<float>>(p + "relu1");
      inner.add<Conv2d<float>>(p + "conv2", out, out, 3, 1, 1, 1, false);
      inner.add<BatchNorm2d<float>>(p + "bn2", out, 0.1, 1e-5, norm_of(s));
      if (stride != 1 || in != out) {
        inner.into = &block->shortcut;
        inner.add<Conv2d<float>>(p + "shortcut.conv", in, out, 1, stride, 0, 1, false);
        inner.add<BatchNorm2d<float>>(p + "shortcut.bn", out, 0.1, 1e-5, norm_of(s));
      }
      b.seed = inner.seed;
      block->add.name = p + "add";
      block->relu.name = p + "relu2";
      m.blocks.push_back(std::move(block));
      in = out;
    }
  }
  b.add<GlobalAvgPool<float>>("pool");
  b.add<Linear<float>>("fc", 64, s.classes);
}

// MobileNetV2 (Sandler et al., CVPR 2018) for 28x28 and 32x32 images: the
// paper's stage table with the two changes of the usual CIFAR variants,
// stride 1 in the stem and in stage 2, so that 32x32 maps reach 4x4 (28x28: 4x4).
//   stem   conv3x3 32, stride 1, BN, ReLU6
//   stage  t  c    n  s    (t expansion, c output channels, n blocks, s stride of the first block)
//     1    1  16   1  1
//     2    6  24   2  1    (ImageNet: s = 2)
//     3    6  32   3  2
//     4    6  64   4  2
//     5    6  96   3  1
//     6    6  160  3  2
//     7    6  320  1  1
//   head   conv1x1 1280, BN, ReLU6, global average pooling, linear
// A block: expand (1x1, c_in*t, BN, ReLU6; absent when t = 1), depthwise
// (3x3, groups = channels, stride s, BN, ReLU6), project (1x1, c, BN, no
// activation: the linear bottleneck); the input is added when the stride is 1
// and the channels match. Width multiplier `alpha` scales every channel count,
// rounded to a multiple of 8 (never below 90% of the scaled count), except
// that the head keeps 1280 when alpha < 1, as in the paper.
std::int64_t divisible8(double v) {
  std::int64_t n = std::max<std::int64_t>(8, std::int64_t(v + 4) / 8 * 8);
  if (double(n) < 0.9 * v) n += 8;
  return n;
}

void mobilenetv2(Model& m, const ModelSpec& s, double alpha) {
  struct Stage {
    std::int64_t t, c, n, stride;
  };
  static const Stage kStages[] = {{1, 16, 1, 1}, {6, 24, 2, 1}, {6, 32, 3, 2}, {6, 64, 4, 2},
                                  {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  Builder b{m, s.seed};
  std::int64_t in = divisible8(32 * alpha);
  b.add<Conv2d<float>>("stem.conv", s.channels, in, 3, 1, 1, 1, false);
  b.add<BatchNorm2d<float>>("stem.bn", in, 0.1, 1e-5, norm_of(s));
  b.add<ReLU6<float>>("stem.relu");
  for (int st = 0; st < 7; ++st) {
    const Stage& g = kStages[st];
    const std::int64_t out = divisible8(double(g.c) * alpha);
    for (std::int64_t blk = 1; blk <= g.n; ++blk) {
      const std::int64_t stride = blk == 1 ? g.stride : 1, hidden = in * g.t;
      const std::string p = "stage" + std::to_string(st + 1) + ".block" + std::to_string(blk) + ".";
      std::unique_ptr<ResidualBlock> block;
      Builder inner{m, b.seed};
      if (stride == 1 && in == out) {
        block = std::make_unique<ResidualBlock>();
        block->relu_after = false;
        block->add.name = p + "add";
        inner.into = &block->main;
      }
      if (g.t != 1) {
        inner.add<Conv2d<float>>(p + "expand", in, hidden, 1, 1, 0, 1, false);
        inner.add<BatchNorm2d<float>>(p + "expand_bn", hidden, 0.1, 1e-5, norm_of(s));
        inner.add<ReLU6<float>>(p + "expand_relu");
      }
      inner.add<Conv2d<float>>(p + "depthwise", hidden, hidden, 3, stride, 1, hidden, false);
      inner.add<BatchNorm2d<float>>(p + "depthwise_bn", hidden, 0.1, 1e-5, norm_of(s));
      inner.add<ReLU6<float>>(p + "depthwise_relu");
      inner.add<Conv2d<float>>(p + "project", hidden, out, 1, 1, 0, 1, false);
      inner.add<BatchNorm2d<float>>(p + "project_bn", out, 0.1, 1e-5, norm_of(s));
      b.seed = inner.seed;
      if (block) m.blocks.push_back(std::move(block));
      in = out;
    }
  }
  const std::int64_t head = alpha > 1 ? divisible8(1280 * alpha) : 1280;
  b.add<Conv2d<float>>("head.conv", in, head, 1, 1, 0, 1, false);
  b.add<BatchNorm2d<float>>("head.bn", head, 0.1, 1e-5, norm_of(s));
  b.add<ReLU6<float>>("head.relu");
  b.add<GlobalAvgPool<float>>("pool");
  b.add<Linear<float>>("fc", head, s.classes);
}

// "mobilenetv2" (alpha 1) or "mobilenetv2_<alpha>" ("mobilenetv2_0.5").
double mobilenet_alpha(const std::string& arch) {
  if (arch == "mobilenetv2") return 1.0;
  const std::string v = arch.substr(std::string("mobilenetv2_").size());
  std::size_t used = 0;
  double a = 0;
  try {
    a = std::stod(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (arch.rfind("mobilenetv2_", 0) != 0 || used != v.size() || v.empty() || !(a > 0 && a <= 4))
    throw std::invalid_argument("unknown model \"" + arch +
                                "\": MobileNetV2 is mobilenetv2 or mobilenetv2_<width multiplier in (0, 4]>, "
                                "e.g. mobilenetv2_0.5");
  return a;
}

}  // namespace

std::unique_ptr<Model> make_model(const ModelSpec& s) {
  auto m = std::make_unique<Model>();
  m->name = s.arch;
  try {
    norm_of(s);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("model.norm: ") + e.what());
  }
  if ((s.arch == "mlp" || s.arch == "lenet5") && s.norm != "batch")
    throw std::invalid_argument("model.norm = \"" + s.norm + "\": " + s.arch + " has no normalisation layers");
  if (s.arch == "mlp") mlp(*m, s);
  else if (s.arch == "lenet5") lenet5(*m, s);
  else if (s.arch.rfind("mobilenetv2", 0) == 0) mobilenetv2(*m, s, mobilenet_alpha(s.arch));
  else if (s.arch.rfind("resnet", 0) == 0) {
    int depth = 0;
    try {
      depth = std::stoi(s.arch.substr(6));
    } catch (const std::exception&) {
      throw std::invalid_argument("unknown model \"" + s.arch + "\" (mlp, lenet5, resnet<6n+2>, mobilenetv2, mobilenetv2_<width>)");
    }
    resnet(*m, s, depth);
  } else {
    throw std::invalid_argument("unknown model \"" + s.arch + "\" (mlp, lenet5, resnet<6n+2>, mobilenetv2, mobilenetv2_<width>)");
  }
  int depth = 0;
  for (auto* l : m->product_layers()) l->depth = depth++;
  // The first product layer needs no input gradient.
  if (auto* c = dynamic_cast<Conv2d<float>*>(m->product_layers().front())) c->compute_input_grad = false;
  if (auto* f = dynamic_cast<Linear<float>*>(m->product_layers().front())) f->compute_input_grad = false;
  return m;
}

}  // namespace lpsim::nn
