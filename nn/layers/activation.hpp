// ReLU and ReLU6 (min(max(x, 0), 6), MobileNetV2). The gradient is 1 strictly
// inside (0, cap) and 0 elsewhere, including at the kinks (PyTorch's choice).
#pragma once

#include <limits>

#include "nn/layer.hpp"

namespace lpsim::nn {

template <class T>
class ReLU : public Layer<T> {
 public:
  explicit ReLU(T cap = std::numeric_limits<T>::infinity()) : cap(cap) {}
  Tensor<T> forward(const Tensor<T>& x, bool training) override;
  Tensor<T> backward(const Tensor<T>& dy) override;
  const T cap;  // upper clamp: infinity for ReLU, 6 for ReLU6

 private:
  Tensor<T> x_;
};

template <class T>
class ReLU6 : public ReLU<T> {
 public:
  ReLU6() : ReLU<T>(T(6)) {}
};

extern template class ReLU<float>;
extern template class ReLU<double>;

}  // namespace lpsim::nn
