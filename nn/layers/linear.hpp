// Fully connected layer: y (batch x out) = x (batch x in) . W^T + b, W out x in.
// The weights are the left operand of every product, as in Conv2d:
//   forward      Y^T  = W . X^T       (K = in)
//   error        dX^T = W^T . dY^T    (K = out)
//   weight grad  dW   = dY^T . X      (K = batch)
#pragma once

#include <cstdint>

#include "nn/layer.hpp"
#include "nn/precision.hpp"
#include "nn/product.hpp"

namespace lpsim::nn {

template <class T>
class Linear : public Layer<T> {
 public:
  Linear(std::int64_t in_features, std::int64_t out_features, bool bias = true);

  Tensor<T> forward(const Tensor<T>& x, bool training) override;
  Tensor<T> backward(const Tensor<T>& dy) override;
  std::vector<Param<T>*> params() override;
  const LayerStats* stats() const override { return &stats_; }

  // PyTorch's default: weight and bias uniform in +-1/sqrt(in_features).
  void reset_parameters(std::uint64_t seed);

  const std::int64_t in_features, out_features;
  Param<T> weight, bias;  // bias empty when constructed without one
  LayerPrecision precision;
  sim::StatsRequest stats_request;  // counts (default) and optionally errors; tag and depth set per product
  bool compute_input_grad = true;   // false: backward skips dX and returns an empty tensor
  std::uint64_t iteration = 0;      // backward passes so far; part of every random key (restore it to resume)
  RunningRange a_range;             // A's running range, when precision.a_running_range (restore it to resume)

 private:
  LayerStats stats_;
  Tensor<T> x_, w_;  // the quantized input and weights of the latest forward
};

extern template class Linear<float>;
extern template class Linear<double>;

}  // namespace lpsim::nn
