#include "nn/layers/softmax_cross_entropy.hpp"

#include <cmath>
#include <stdexcept>

namespace lpsim::nn {

template <class T>
T SoftmaxCrossEntropy<T>::forward(const Tensor<T>& logits, const std::vector<std::int64_t>& labels) {
  check_shape(name, "logits", logits.shape, {std::int64_t(labels.size()), -1});
  const std::int64_t n = logits.dim(0), c = logits.dim(1);
  if (n < 1 || c < 1) throw std::invalid_argument(name + ": empty logits " + shape_str(logits.shape));
  prob_ = Tensor<double>(logits.shape);
  labels_ = labels;
  correct = 0;
  double total = 0;
  for (std::int64_t b = 0; b < n; ++b) {
    const std::int64_t y = labels[std::size_t(b)];
    if (y < 0 || y >= c)
      throw std::invalid_argument(name + ": label " + std::to_string(y) + " of sample " + std::to_string(b) +
                                  " outside [0, " + std::to_string(c) + ")");
    const T* z = logits.ptr() + b * c;
    std::int64_t arg = 0;
    for (std::int64_t j = 1; j < c; ++j)
      if (z[j] > z[arg]) arg = j;
    correct += arg == y;
    const double zmax = z[arg];
    double sum = 0;
    for (std::int64_t j = 0; j < c; ++j) sum += std::exp(double(z[j]) - zmax);
    for (std::int64_t j = 0; j < c; ++j) prob_[b * c + j] = std::exp(double(z[j]) - zmax) / sum;
    total += zmax + std::log(sum) - double(z[y]);
  }
  const double loss = total / double(n);
  if (!std::isfinite(loss))
    throw std::runtime_error(name + ": the loss is " + std::to_string(loss) + " (non-finite logits: training diverged)");
  return T(loss);
}

template <class T>
Tensor<T> SoftmaxCrossEntropy<T>::backward() const {
  if (prob_.numel() == 0) throw std::logic_error(name + ": backward before forward");
  const std::int64_t n = prob_.dim(0), c = prob_.dim(1);
  Tensor<T> dz(prob_.shape);
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t j = 0; j < c; ++j)
      dz[b * c + j] = T((prob_[b * c + j] - (j == labels_[std::size_t(b)] ? 1.0 : 0.0)) / double(n));
  return dz;
}

template class SoftmaxCrossEntropy<float>;
template class SoftmaxCrossEntropy<double>;

}  // namespace lpsim::nn
