// Batch normalisation over N, H, W per channel (Ioffe and Szegedy 2015),
// with PyTorch's conventions: training normalises with the batch mean and
// biased variance and updates running_mean/running_var (unbiased variance)
// by r = (1 - momentum) r + momentum b; eval normalises with the running
// statistics. Sums are accumulated in fp64 (no matrix product: nothing
// here goes through the engine).
//
// NormKind::Range is Range BatchNorm (Banner et al., NeurIPS 2018, section 5),
// as the authors' RangeBN: the channel's B*H*W values (in b, h, w order) are
// cut into `range_chunks` contiguous chunks; the scale is
//   s = (mean of the chunks' maxima - mean of their minima) * C,
//   C = 0.5 * 0.35 * (1 + sqrt(pi * ln 4)) / sqrt(2 * ln(chunk size)),
// and y = gamma * (x - mean) / (s + eps) + beta. Their running statistics
// keep the mean and s with r = momentum * r + (1 - momentum) * b (their
// convention: momentum 0.1 weighs the old value); eval uses them. The
// gradient flows through the mean and through each chunk's extreme values
// (the first one in chunk order on ties). Counts not divisible by the chunk
// count get chunk boundaries floor(j * count / chunks) (the authors' view()
// needs divisibility); C then uses floor(count / chunks).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nn/layer.hpp"

namespace lpsim::nn {

enum class NormKind { Batch, Range };
// "batch" or "range"; throws std::invalid_argument naming the spelling.
NormKind parse_norm(const std::string& spelling);

template <class T>
class BatchNorm2d : public Layer<T> {
 public:
  explicit BatchNorm2d(std::int64_t channels, double momentum = 0.1, double eps = 1e-5,
                       NormKind kind = NormKind::Batch, int range_chunks = 16);

  Tensor<T> forward(const Tensor<T>& x, bool training) override;
  Tensor<T> backward(const Tensor<T>& dy) override;
  std::vector<Param<T>*> params() override;

  const std::int64_t channels;
  const double momentum, eps;
  const NormKind kind;
  const int range_chunks;
  Param<T> gamma, beta;                  // affine: y = gamma * x_hat + beta (initially 1 and 0)
  Tensor<T> running_mean, running_var;   // initially 0 and 1 (Range: running_var holds the scale s); saved

 private:
  bool training_ = true;  // of the latest forward
  Tensor<T> x_hat_;
  std::vector<double> inv_std_;  // per channel, of the latest forward: 1/sqrt(var + eps) or 1/(s + eps)
  // Range, training: per channel, each chunk's index of its maximum and minimum, and C / chunks.
  std::vector<std::int64_t> arg_max_, arg_min_;
  std::vector<double> range_grad_;
};

extern template class BatchNorm2d<float>;
extern template class BatchNorm2d<double>;

}  // namespace lpsim::nn
