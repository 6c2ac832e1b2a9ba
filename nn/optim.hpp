// Optimizers (SGD with momentum / Nesterov and weight decay, Adam) and
// learning-rate schedules (constant, step, cosine, with linear warm-up).
// Updates are plain fp32 arithmetic on the master weights, element by
// element, so a step is the same for any thread count.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nn/layer.hpp"

namespace lpsim::nn {

struct OptimizerConfig {
  std::string kind = "sgd";  // sgd, nesterov, adam
  double momentum = 0.9, weight_decay = 5e-4;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // adam
};

// One step with learning rate lr; zeroes the gradients afterwards.
// SGD follows PyTorch: g += wd*w; v = m*v + g; w -= lr*(nesterov ? g + m*v : v).
// Adam: Kingma & Ba 2015 with bias correction, L2 decay added to the gradient.
void optimizer_step(const OptimizerConfig& c, std::vector<Param<float>*>& params, double lr, std::int64_t step);

struct ScheduleConfig {
  std::string kind = "cosine";    // const, step, cosine
  double lr = 0.1;
  std::int64_t warmup_iters = 0;  // linear warm-up from lr/warmup_iters
  std::vector<double> milestones; // step: fractions of training at which lr *= gamma
  double gamma = 0.1;
};

// The learning rate of iteration `it` of `total`. Throws for an unknown kind.
double learning_rate(const ScheduleConfig& s, std::int64_t it, std::int64_t total);

}  // namespace lpsim::nn
