// What every layer shares: parameters with their gradients, the per-layer
// statistics of its matrix products, and the forward/backward interface of
// single-input layers (ResidualAdd and SoftmaxCrossEntropy have their own).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nn/tensor.hpp"
#include "sim/stats.hpp"

namespace lpsim::nn {

template <class T>
struct Param {
  std::string name;  // "<layer>.weight", "<layer>.bias", ...
  Tensor<T> value;
  Tensor<T> grad;                // accumulated by backward; the optimizer zeroes it
  std::vector<Tensor<T>> state;  // optimizer state (momentum, moments), shaped like value
  bool decay = true;             // weight decay applies (not to biases and BatchNorm affines, as usual)
};

// The latest product of each kind of a layer with matrix products, each
// tagged "<name>/fwd", "<name>/bwd_data", "<name>/bwd_weight" with the
// layer's depth; `*_calls` count products since construction.
struct LayerStats {
  std::string name;
  int depth = -1;
  sim::GemmStats fwd, bwd_data, bwd_weight;
  std::uint64_t fwd_calls = 0, bwd_data_calls = 0, bwd_weight_calls = 0;
};

template <class T>
class Layer {
 public:
  std::string name;  // set by the model builder, e.g. "stage2.block1.conv2"; errors quote it
  int depth = -1;    // position in the model, copied into the products' statistics

  virtual ~Layer() = default;
  // Caches what backward needs (even when !training): backward refers to the latest forward.
  virtual Tensor<T> forward(const Tensor<T>& x, bool training) = 0;
  // Returns dLoss/dx and adds the parameter gradients into params()' grad.
  virtual Tensor<T> backward(const Tensor<T>& dy) = 0;
  virtual std::vector<Param<T>*> params() { return {}; }
  // Layers with matrix products (Conv2d, Linear) report them here.
  virtual const LayerStats* stats() const { return nullptr; }
};

}  // namespace lpsim::nn
