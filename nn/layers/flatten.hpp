// N x C x H x W (or any rank >= 2) -> N x (C*H*W); row-major, so only the shape changes.
#pragma once

#include "nn/layer.hpp"

namespace lpsim::nn {

template <class T>
class Flatten : public Layer<T> {
 public:
  Tensor<T> forward(const Tensor<T>& x, bool training) override;
  Tensor<T> backward(const Tensor<T>& dy) override;

 private:
  Shape in_shape_;
};

extern template class Flatten<float>;
extern template class Flatten<double>;

}  // namespace lpsim::nn
