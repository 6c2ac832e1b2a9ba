#include "nn/layers/residual.hpp"

namespace lpsim::nn {

template <class T>
Tensor<T> ResidualAdd<T>::forward(const Tensor<T>& a, const Tensor<T>& b) {
  check_shape(name, "shortcut", b.shape, a.shape);
  shape_ = a.shape;
  Tensor<T> y = a;
  for (std::int64_t i = 0; i < y.numel(); ++i) y[i] += b[i];
  return y;
}

template <class T>
Tensor<T> ResidualAdd<T>::backward(const Tensor<T>& dy) const {
  check_shape(name, "output gradient", dy.shape, shape_);
  return dy;
}

template class ResidualAdd<float>;
template class ResidualAdd<double>;

}  // namespace lpsim::nn
