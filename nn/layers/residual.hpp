// The join of a residual block: y = a + b (the main path and the shortcut).
// Both inputs receive the output gradient unchanged, so backward returns it once.
#pragma once

#include <string>

#include "nn/tensor.hpp"

namespace lpsim::nn {

template <class T>
class ResidualAdd {
 public:
  std::string name;
  int depth = -1;
  Tensor<T> forward(Tensor<T> a, const Tensor<T>& b);  // a + b, in a's buffer
  const Tensor<T>& backward(const Tensor<T>& dy) const;  // the gradient of a and of b: dy itself

 private:
  Shape shape_;
};

extern template class ResidualAdd<float>;
extern template class ResidualAdd<double>;

}  // namespace lpsim::nn
