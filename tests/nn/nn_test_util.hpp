// Shared helpers of the nn tests: seeded tensors and comparisons.
#pragma once

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "nn/nn.hpp"

namespace nn_test {

using lpsim::nn::Shape;
using lpsim::nn::Tensor;

template <class T = double>
Tensor<T> randn(Shape s, unsigned seed, double scale = 1) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> nd(0, scale);
  Tensor<T> t(std::move(s));
  for (auto& v : t.data) v = T(nd(gen));
  return t;
}

// ||a - b|| / (||a|| + ||b||), 0 when both are 0.
template <class A, class B>
double rel_error(const Tensor<A>& a, const Tensor<B>& b) {
  double diff = 0, na = 0, nb = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    diff += (double(a[i]) - double(b[i])) * (double(a[i]) - double(b[i]));
    na += double(a[i]) * double(a[i]);
    nb += double(b[i]) * double(b[i]);
  }
  return na + nb == 0 ? 0 : std::sqrt(diff) / (std::sqrt(na) + std::sqrt(nb));
}

template <class A, class B>
double max_abs_diff(const Tensor<A>& a, const Tensor<B>& b) {
  double m = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::fabs(double(a[i]) - double(b[i])));
  return m;
}

// The elements as a plain vector (for comparisons with a literal list).
template <class T>
std::vector<T> values(const Tensor<T>& t) {
  return {t.data.begin(), t.data.end()};
}

}  // namespace nn_test
