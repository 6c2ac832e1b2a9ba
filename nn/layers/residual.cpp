#include "nn/layers/residual.hpp"

namespace lpsim::nn {

template <class T>
Tensor<T> ResidualAdd<T>::forward(Tensor<T> a, const Tensor<T>& b) {
  check_shape(name, "shortcut", b.shape, a.shape);
  shape_ = a.shape;
#pragma omp parallel for schedule(static) if (a.numel() > (1 << 16))
  for (std::int64_t i = 0; i < a.numel(); ++i) a[i] += b[i];
  return a;
}

template <class T>
const Tensor<T>& ResidualAdd<T>::backward(const Tensor<T>& dy) const {
  check_shape(name, "output gradient", dy.shape, shape_);
  return dy;
}

template class ResidualAdd<float>;
template class ResidualAdd<double>;

}  // namespace lpsim::nn
