// 2-D convolution (NCHW), square kernel, stride, zero padding and groups
// (groups == in_channels == out_channels is depthwise). Weights are
// out x in/groups x k x k. Lowered to matrix products as sim::conv2d does:
//   forward      Y_g  = W_g . im2col(X_g)             (sim::conv2d, K = in/groups*k*k)
//   error        dX_g = col2im(W_g^T . dY_g)          (K = out/groups; the window
//                overlaps are summed by col2im in T, outside the engine)
//   weight grad  dW_g = dY_g . im2col(X_g)^T          (K = batch*out_h*out_w)
// Group g's products use stream g of the step's key (as sim::conv2d does).
#pragma once

#include <cstdint>
#include <vector>

#include "nn/layer.hpp"
#include "nn/precision.hpp"
#include "nn/product.hpp"
#include "sim/conv.hpp"

namespace lpsim::nn {

template <class T>
class Conv2d : public Layer<T> {
 public:
  Conv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel, std::int64_t stride = 1,
         std::int64_t padding = 0, std::int64_t groups = 1, bool bias = true);

  Tensor<T> forward(const Tensor<T>& x, bool training) override;
  Tensor<T> backward(const Tensor<T>& dy) override;
  std::vector<Param<T>*> params() override;
  const LayerStats* stats() const override { return &stats_; }

  // PyTorch's default: weight and bias uniform in +-1/sqrt(fan_in).
  void reset_parameters(std::uint64_t seed);

  const std::int64_t in_channels, out_channels, kernel, stride, padding, groups;
  Param<T> weight, bias;  // bias empty when constructed without one
  LayerPrecision precision;
  sim::StatsRequest stats_request;  // counts (default) and optionally errors; tag and depth set per product
  bool compute_input_grad = true;   // false (e.g. the first layer): backward skips dX and returns an empty tensor
  std::uint64_t iteration = 0;      // backward passes so far; part of every random key (restore it to resume)
  RunningRange a_range;             // A's running range, when precision.a_running_range (restore it to resume)

 private:
  sim::ConvShape shape_of(const Tensor<T>& x) const;
  LayerStats stats_;
  sim::ConvShape shape_;
  Tensor<T> x_, w_;  // the quantized input and weights of the latest forward
};

extern template class Conv2d<float>;
extern template class Conv2d<double>;

}  // namespace lpsim::nn
