#include "nn/models.hpp"

#include <stdexcept>

#include "nn/nn.hpp"

namespace lpsim::nn {

namespace {

template <class L>
L* named(L* l, const std::string& name) {
  l->name = name;
  return l;
}

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
  b.add<BatchNorm2d<float>>("stem.bn", 16);
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
      inner.add<BatchNorm2d<float>>(p + "bn1", out);
      inner.add<ReLU<float>>(p + "relu1");
      inner.add<Conv2d<float>>(p + "conv2", out, out, 3, 1, 1, 1, false);
      inner.add<BatchNorm2d<float>>(p + "bn2", out);
      if (stride != 1 || in != out) {
        inner.into = &block->shortcut;
        inner.add<Conv2d<float>>(p + "shortcut.conv", in, out, 1, stride, 0, 1, false);
        inner.add<BatchNorm2d<float>>(p + "shortcut.bn", out);
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

}  // namespace

std::unique_ptr<Model> make_model(const ModelSpec& s) {
  auto m = std::make_unique<Model>();
  m->name = s.arch;
  if (s.arch == "mlp") mlp(*m, s);
  else if (s.arch == "lenet5") lenet5(*m, s);
  else if (s.arch.rfind("resnet", 0) == 0) {
    int depth = 0;
    try {
      depth = std::stoi(s.arch.substr(6));
    } catch (const std::exception&) {
      throw std::invalid_argument("unknown model \"" + s.arch + "\" (mlp, lenet5, resnet<6n+2>)");
    }
    resnet(*m, s, depth);
  } else {
    throw std::invalid_argument("unknown model \"" + s.arch + "\" (mlp, lenet5, resnet<6n+2>)");
  }
  int depth = 0;
  for (auto* l : m->product_layers()) l->depth = depth++;
  // The first product layer needs no input gradient.
  if (auto* c = dynamic_cast<Conv2d<float>*>(m->product_layers().front())) c->compute_input_grad = false;
  if (auto* f = dynamic_cast<Linear<float>*>(m->product_layers().front())) f->compute_input_grad = false;
  return m;
}

}  // namespace lpsim::nn
