// Pooling over NCHW windows: max, average, and global average.
#pragma once

#include <cstdint>

#include "nn/layer.hpp"

namespace lpsim::nn {

// Square windows; padding counts as -infinity (never the maximum). The
// gradient goes to the first maximum of each window (row-major order).
template <class T>
class MaxPool2d : public Layer<T> {
 public:
  explicit MaxPool2d(std::int64_t kernel, std::int64_t stride = 0 /* = kernel */, std::int64_t padding = 0);
  Tensor<T> forward(const Tensor<T>& x, bool training) override;
  Tensor<T> backward(const Tensor<T>& dy) override;
  const std::int64_t kernel, stride, padding;

 private:
  Shape in_shape_, out_shape_;
  std::vector<std::int64_t> argmax_;  // flat input index of each output's maximum
};

// Square windows; padding counts as zeros and every window divides by
// kernel^2 (PyTorch's default count_include_pad=True).
template <class T>
class AvgPool2d : public Layer<T> {
 public:
  explicit AvgPool2d(std::int64_t kernel, std::int64_t stride = 0 /* = kernel */, std::int64_t padding = 0);
  Tensor<T> forward(const Tensor<T>& x, bool training) override;
  Tensor<T> backward(const Tensor<T>& dy) override;
  const std::int64_t kernel, stride, padding;

 private:
  Shape in_shape_, out_shape_;
};

// N x C x H x W -> N x C: the mean of each plane (ready for a Linear layer).
template <class T>
class GlobalAvgPool : public Layer<T> {
 public:
  Tensor<T> forward(const Tensor<T>& x, bool training) override;
  Tensor<T> backward(const Tensor<T>& dy) override;

 private:
  Shape in_shape_;
};

extern template class MaxPool2d<float>;
extern template class MaxPool2d<double>;
extern template class AvgPool2d<float>;
extern template class AvgPool2d<double>;
extern template class GlobalAvgPool<float>;
extern template class GlobalAvgPool<double>;

}  // namespace lpsim::nn
