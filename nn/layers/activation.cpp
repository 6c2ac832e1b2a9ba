#include "nn/layers/activation.hpp"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <stdexcept>
#include <type_traits>

namespace lpsim::nn {

template <class T>
Tensor<T> ReLU<T>::forward(const Tensor<T>& x, bool) {
  x_.shape = x.shape;
  x_.data.resize(x.data.size());  // the previous step's buffer: copied below with y
  auto y = Tensor<T>::uninitialized(x.shape);  // every element written below
  // Raw pointers and the cap in a local: through `this` and the vectors GCC
  // must assume aliasing and emits a scalar, branching loop.
  const T c = cap;
  const T* in = x.ptr();
  T* keep = x_.ptr();
  T* out = y.ptr();
#pragma omp parallel for schedule(static) if (x.numel() > (1 << 16))
  for (std::int64_t i = 0; i < x.numel(); ++i) keep[i] = in[i], out[i] = std::min(std::max(in[i], T(0)), c);
  return y;
}

template <class T>
Tensor<T> ReLU<T>::backward(const Tensor<T>& dy) {
  check_shape(this->name, "output gradient", dy.shape, x_.shape);
  auto dx = Tensor<T>::uninitialized(dy.shape);  // every element written below
  // 0 < x < cap as a signed comparison of the bit patterns (cap > 0: NaN and
  // negative values, -0 included, fail as they do in floating point), and
  // the select as a mask: integer operations GCC vectorises, where a
  // floating-point comparison that may trap keeps the loop scalar and branching.
  using Bits = std::conditional_t<sizeof(T) == 4, std::int32_t, std::int64_t>;
  const Bits c = std::bit_cast<Bits>(cap);
  const T* in = x_.ptr();
  const T* g = dy.ptr();
  T* out = dx.ptr();
#pragma omp parallel for schedule(static) if (dy.numel() > (1 << 16))
  for (std::int64_t i = 0; i < dy.numel(); ++i) {
    const Bits x = std::bit_cast<Bits>(in[i]);
    out[i] = std::bit_cast<T>(Bits(std::bit_cast<Bits>(g[i]) & -Bits(x > 0 && x < c)));
  }
  return dx;
}

template class ReLU<float>;
template class ReLU<double>;

}  // namespace lpsim::nn
