#include "nn/layers/flatten.hpp"

#include <algorithm>
#include <stdexcept>

namespace lpsim::nn {

template <class T>
Tensor<T> Flatten<T>::forward(const Tensor<T>& x, bool) {
  if (x.rank() < 2)
    throw std::invalid_argument(this->name + ": input has shape " + shape_str(x.shape) + ", expected rank >= 2");
  in_shape_ = x.shape;
  Tensor<T> y = x;
  y.shape = {x.dim(0), x.dim(0) ? x.numel() / x.dim(0) : 0};
  return y;
}

template <class T>
Tensor<T> Flatten<T>::backward(const Tensor<T>& dy) {
  if (in_shape_.empty()) throw std::logic_error(this->name + ": backward before forward");
  check_shape(this->name, "output gradient", dy.shape, {in_shape_[0], numel(in_shape_) / std::max<std::int64_t>(in_shape_[0], 1)});
  Tensor<T> dx = dy;
  dx.shape = in_shape_;
  return dx;
}

template class Flatten<float>;
template class Flatten<double>;

}  // namespace lpsim::nn
