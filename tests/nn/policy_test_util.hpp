// What the policy tests share: a small model without data, one hand-run
// training step on random inputs, and a run context.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "nn/train.hpp"

namespace lpsim::nn::testing {

inline std::unique_ptr<Model> tiny(const std::string& arch = "mlp") {
  ModelSpec s;
  s.arch = arch;
  s.height = s.width = 28;
  s.hidden = 32;
  s.seed = 5;
  return make_model(s);
}

inline PolicyContext context(std::int64_t total) {
  return {.iterations_per_epoch = total, .total_iterations = total, .epochs = 1, .seed = 1};
}

// One forward/backward on random data, so that gradients and product statistics exist.
inline void step(Model& m, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> nd;
  Tensor<float> x({8, 1, 28, 28});
  for (auto& v : x.data) v = nd(gen);
  std::vector<std::int64_t> labels(8);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = std::int64_t(i % 10);
  m.loss.forward(m.forward(x, true), labels);
  m.backward(m.loss.backward());
}

// Zeroes the gradients (as the optimizer would) between two hand-run steps.
inline void zero_grads(Model& m) {
  for (auto* p : m.params()) std::fill(p->grad.data.begin(), p->grad.data.end(), 0.0f);
}

}  // namespace lpsim::nn::testing
