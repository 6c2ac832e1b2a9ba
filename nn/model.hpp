// A model: a chain of blocks (a single layer, or a residual block whose main
// path and shortcut join in an add), ending in logits, with the loss beside
// it. The step is three plain calls: forward, backward, and the optimizer.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nn/layer.hpp"
#include "nn/layers/activation.hpp"
#include "nn/layers/residual.hpp"
#include "nn/layers/softmax_cross_entropy.hpp"

namespace lpsim::nn {

class Block {
 public:
  virtual ~Block() = default;
  virtual Tensor<float> forward(const Tensor<float>& x, bool training) = 0;
  virtual Tensor<float> backward(const Tensor<float>& dy) = 0;
  virtual void layers(std::vector<Layer<float>*>& out) = 0;  // in forward order
};

class SingleLayer : public Block {
 public:
  explicit SingleLayer(std::unique_ptr<Layer<float>> l) : layer(std::move(l)) {}
  Tensor<float> forward(const Tensor<float>& x, bool training) override { return layer->forward(x, training); }
  Tensor<float> backward(const Tensor<float>& dy) override { return layer->backward(dy); }
  void layers(std::vector<Layer<float>*>& out) override { out.push_back(layer.get()); }
  std::unique_ptr<Layer<float>> layer;
};

// y = relu(main(x) + shortcut(x)); an empty shortcut is the identity.
// Without relu_after, y = main(x) + shortcut(x) (MobileNetV2's linear bottleneck).
class ResidualBlock : public Block {
 public:
  Tensor<float> forward(const Tensor<float>& x, bool training) override;
  Tensor<float> backward(const Tensor<float>& dy) override;
  void layers(std::vector<Layer<float>*>& out) override;
  std::vector<std::unique_ptr<Layer<float>>> main, shortcut;
  ResidualAdd<float> add;
  ReLU<float> relu;
  bool relu_after = true;
};

class Model {
 public:
  std::string name;
  std::vector<std::unique_ptr<Block>> blocks;
  SoftmaxCrossEntropy<float> loss;

  Tensor<float> forward(const Tensor<float>& x, bool training);
  void backward(const Tensor<float>& dlogits);
  std::vector<Param<float>*> params();
  std::vector<Layer<float>*> layers();
  // The layers with matrix products (Conv2d, Linear), in forward order; their
  // depth is their index here.
  std::vector<Layer<float>*> product_layers();
  std::int64_t num_parameters();
};

}  // namespace lpsim::nn
