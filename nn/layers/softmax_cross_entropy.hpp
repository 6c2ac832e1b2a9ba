// Softmax cross-entropy, mean over the batch: loss = mean_b (logsumexp(z_b) -
// z_b[label_b]), computed stably (the row maximum subtracted) in fp64.
// backward() gives dLoss/dz = (softmax(z) - onehot(label)) / batch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nn/tensor.hpp"

namespace lpsim::nn {

template <class T>
class SoftmaxCrossEntropy {
 public:
  std::string name = "loss";
  int depth = -1;
  // logits: batch x classes; labels in [0, classes). Throws std::invalid_argument
  // for bad shapes or labels, std::runtime_error naming the layer when the loss
  // is NaN or infinite (a diverged run).
  T forward(const Tensor<T>& logits, const std::vector<std::int64_t>& labels);
  Tensor<T> backward() const;
  std::int64_t correct = 0;  // samples of the latest forward whose largest logit is their label

 private:
  Tensor<double> prob_;
  std::vector<std::int64_t> labels_;
};

extern template class SoftmaxCrossEntropy<float>;
extern template class SoftmaxCrossEntropy<double>;

}  // namespace lpsim::nn
