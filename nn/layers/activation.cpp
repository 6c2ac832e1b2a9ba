#include "nn/layers/activation.hpp"

#include <algorithm>
#include <stdexcept>

namespace lpsim::nn {

template <class T>
Tensor<T> ReLU<T>::forward(const Tensor<T>& x, bool) {
  x_.shape = x.shape;
  x_.data.resize(x.data.size());  // the previous step's buffer: copied below with y
  Tensor<T> y(x.shape);
#pragma omp parallel for schedule(static) if (x.numel() > (1 << 16))
  for (std::int64_t i = 0; i < x.numel(); ++i) x_[i] = x[i], y[i] = std::min(std::max(x[i], T(0)), cap);
  return y;
}

template <class T>
Tensor<T> ReLU<T>::backward(const Tensor<T>& dy) {
  check_shape(this->name, "output gradient", dy.shape, x_.shape);
  Tensor<T> dx(dy.shape);
#pragma omp parallel for schedule(static) if (dy.numel() > (1 << 16))
  for (std::int64_t i = 0; i < dy.numel(); ++i) dx[i] = x_[i] > T(0) && x_[i] < cap ? dy[i] : T(0);
  return dx;
}

template class ReLU<float>;
template class ReLU<double>;

}  // namespace lpsim::nn
