// Batch normalisation over N, H, W per channel (Ioffe and Szegedy 2015),
// with PyTorch's conventions: training normalises with the batch mean and
// biased variance and updates running_mean/running_var (unbiased variance)
// by r = (1 - momentum) r + momentum b; eval normalises with the running
// statistics. Sums are accumulated in fp64 (no matrix product: nothing
// here goes through the engine).
#pragma once

#include <cstdint>

#include "nn/layer.hpp"

namespace lpsim::nn {

template <class T>
class BatchNorm2d : public Layer<T> {
 public:
  explicit BatchNorm2d(std::int64_t channels, double momentum = 0.1, double eps = 1e-5);

  Tensor<T> forward(const Tensor<T>& x, bool training) override;
  Tensor<T> backward(const Tensor<T>& dy) override;
  std::vector<Param<T>*> params() override;

  const std::int64_t channels;
  const double momentum, eps;
  Param<T> gamma, beta;                  // affine: y = gamma * x_hat + beta (initially 1 and 0)
  Tensor<T> running_mean, running_var;   // initially 0 and 1; saved with the model

 private:
  bool training_ = true;  // of the latest forward
  Tensor<T> x_hat_;
  std::vector<double> inv_std_;  // per channel, of the latest forward
};

extern template class BatchNorm2d<float>;
extern template class BatchNorm2d<double>;

}  // namespace lpsim::nn
