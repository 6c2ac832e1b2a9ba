#include "nn/layers/pool.hpp"

#include <stdexcept>

namespace lpsim::nn {

namespace {

struct Window {
  std::int64_t n, c, h, w, oh, ow;
};

// The output shape of a k x k window with stride s and padding p over x; errors name the layer.
Window window(const std::string& layer, const Shape& x, std::int64_t k, std::int64_t s, std::int64_t p) {
  check_shape(layer, "input", x, {-1, -1, -1, -1});
  if (x[2] + 2 * p < k || x[3] + 2 * p < k)
    throw std::invalid_argument(layer + ": window " + std::to_string(k) + " larger than the padded input " +
                                shape_str(x));
  return {x[0], x[1], x[2], x[3], (x[2] + 2 * p - k) / s + 1, (x[3] + 2 * p - k) / s + 1};
}

void check_args(const char* what, std::int64_t k, std::int64_t s, std::int64_t p) {
  if (k < 1 || s < 1 || p < 0 || 2 * p > k)
    throw std::invalid_argument(std::string(what) + "(kernel=" + std::to_string(k) + ", stride=" + std::to_string(s) +
                                ", padding=" + std::to_string(p) +
                                "): need kernel >= 1, stride >= 1, 0 <= padding <= kernel/2");
}

}  // namespace

template <class T>
MaxPool2d<T>::MaxPool2d(std::int64_t k, std::int64_t s, std::int64_t p) : kernel(k), stride(s ? s : k), padding(p) {
  check_args("MaxPool2d", kernel, stride, padding);
}

template <class T>
Tensor<T> MaxPool2d<T>::forward(const Tensor<T>& x, bool) {
  const Window win = window(this->name, x.shape, kernel, stride, padding);
  in_shape_ = x.shape;
  out_shape_ = {win.n, win.c, win.oh, win.ow};
  Tensor<T> y(out_shape_);
  argmax_.assign(std::size_t(y.numel()), 0);
  for (std::int64_t pl = 0; pl < win.n * win.c; ++pl)
    for (std::int64_t oy = 0; oy < win.oh; ++oy)
      for (std::int64_t ox = 0; ox < win.ow; ++ox) {
        std::int64_t best = -1;
        for (std::int64_t r = 0; r < kernel; ++r)
          for (std::int64_t c = 0; c < kernel; ++c) {
            const std::int64_t iy = oy * stride - padding + r, ix = ox * stride - padding + c;
            if (iy < 0 || iy >= win.h || ix < 0 || ix >= win.w) continue;
            const std::int64_t i = (pl * win.h + iy) * win.w + ix;
            if (best < 0 || x[i] > x[best]) best = i;
          }
        const std::int64_t o = (pl * win.oh + oy) * win.ow + ox;
        argmax_[std::size_t(o)] = best;  // padding <= kernel/2: every window holds an input element
        y[o] = x[best];
      }
  return y;
}

template <class T>
Tensor<T> MaxPool2d<T>::backward(const Tensor<T>& dy) {
  check_shape(this->name, "output gradient", dy.shape, out_shape_);
  Tensor<T> dx(in_shape_);
  for (std::int64_t o = 0; o < dy.numel(); ++o) dx[argmax_[std::size_t(o)]] += dy[o];
  return dx;
}

template <class T>
AvgPool2d<T>::AvgPool2d(std::int64_t k, std::int64_t s, std::int64_t p) : kernel(k), stride(s ? s : k), padding(p) {
  check_args("AvgPool2d", kernel, stride, padding);
}

template <class T>
Tensor<T> AvgPool2d<T>::forward(const Tensor<T>& x, bool) {
  const Window win = window(this->name, x.shape, kernel, stride, padding);
  in_shape_ = x.shape;
  out_shape_ = {win.n, win.c, win.oh, win.ow};
  Tensor<T> y(out_shape_);
  const double area = double(kernel * kernel);
  for (std::int64_t pl = 0; pl < win.n * win.c; ++pl)
    for (std::int64_t oy = 0; oy < win.oh; ++oy)
      for (std::int64_t ox = 0; ox < win.ow; ++ox) {
        double sum = 0;
        for (std::int64_t r = 0; r < kernel; ++r)
          for (std::int64_t c = 0; c < kernel; ++c) {
            const std::int64_t iy = oy * stride - padding + r, ix = ox * stride - padding + c;
            if (iy >= 0 && iy < win.h && ix >= 0 && ix < win.w) sum += x[(pl * win.h + iy) * win.w + ix];
          }
        y[(pl * win.oh + oy) * win.ow + ox] = T(sum / area);
      }
  return y;
}

template <class T>
Tensor<T> AvgPool2d<T>::backward(const Tensor<T>& dy) {
  check_shape(this->name, "output gradient", dy.shape, out_shape_);
  const std::int64_t h = in_shape_[2], w = in_shape_[3], oh = out_shape_[2], ow = out_shape_[3];
  const double area = double(kernel * kernel);
  Tensor<T> dx(in_shape_);
  for (std::int64_t pl = 0; pl < in_shape_[0] * in_shape_[1]; ++pl)
    for (std::int64_t oy = 0; oy < oh; ++oy)
      for (std::int64_t ox = 0; ox < ow; ++ox) {
        const T g = T(dy[(pl * oh + oy) * ow + ox] / area);
        for (std::int64_t r = 0; r < kernel; ++r)
          for (std::int64_t c = 0; c < kernel; ++c) {
            const std::int64_t iy = oy * stride - padding + r, ix = ox * stride - padding + c;
            if (iy >= 0 && iy < h && ix >= 0 && ix < w) dx[(pl * h + iy) * w + ix] += g;
          }
      }
  return dx;
}

template <class T>
Tensor<T> GlobalAvgPool<T>::forward(const Tensor<T>& x, bool) {
  check_shape(this->name, "input", x.shape, {-1, -1, -1, -1});
  in_shape_ = x.shape;
  const std::int64_t planes = x.dim(0) * x.dim(1), area = x.dim(2) * x.dim(3);
  Tensor<T> y({x.dim(0), x.dim(1)});
  for (std::int64_t pl = 0; pl < planes; ++pl) {
    double sum = 0;
    for (std::int64_t q = 0; q < area; ++q) sum += x[pl * area + q];
    y[pl] = T(sum / double(area));
  }
  return y;
}

template <class T>
Tensor<T> GlobalAvgPool<T>::backward(const Tensor<T>& dy) {
  if (in_shape_.empty()) throw std::logic_error(this->name + ": backward before forward");
  check_shape(this->name, "output gradient", dy.shape, {in_shape_[0], in_shape_[1]});
  const std::int64_t area = in_shape_[2] * in_shape_[3];
  Tensor<T> dx(in_shape_);
  for (std::int64_t pl = 0; pl < dy.numel(); ++pl)
    for (std::int64_t q = 0; q < area; ++q) dx[pl * area + q] = T(dy[pl] / double(area));
  return dx;
}

template class MaxPool2d<float>;
template class MaxPool2d<double>;
template class AvgPool2d<float>;
template class AvgPool2d<double>;
template class GlobalAvgPool<float>;
template class GlobalAvgPool<double>;

}  // namespace lpsim::nn
