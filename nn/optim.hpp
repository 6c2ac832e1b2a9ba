// Optimizers (SGD with momentum / Nesterov and weight decay, Adam) and
// learning-rate schedules (constant, step, cosine, with linear warm-up).
// Updates are plain fp32 arithmetic on the master weights, element by
// element, so a step is the same for any thread count; the master weights
// may then be stored in an emulated format (round_master).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "nn/layer.hpp"
#include "nn/quantizer.hpp"

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

// Master weights in an emulated format (precision.master): the update is
// computed in fp32 as above, then stored, i.e. rounded into this format --
// as hardware that keeps its weights in bf16, fp16 or fixed point does
// (with stochastic rounding: Gupta et al. 2015, Wang et al. 2018). Momentum
// and Adam's moments stay fp32. Only absolute formats (a float or fixed-point
// grid): a scaled format's scale would follow each update's extreme value,
// moving every weight when one changes, which is no storage format.
// Throws std::invalid_argument quoting a bad or scaled format, or rounding.
QuantSpec parse_master(std::string_view format, std::string_view rounding);
// Rounds every parameter into `spec`. Element i of parameter j draws its
// stochastic bits from index i of draw_key({seed, kMasterStream + j},
// iteration, Draw::Master): the weights that iteration t reads were rounded
// with key t (t = 0: the initial weights), the same for any thread count.
inline constexpr std::uint32_t kMasterStream = 0x80000000u;
void round_master(const QuantSpec& spec, const std::vector<Param<float>*>& params, std::uint64_t seed,
                  std::int64_t iteration);

// The learning rate of iteration `it` of `total`. Throws for an unknown kind.
double learning_rate(const ScheduleConfig& s, std::int64_t it, std::int64_t total);

}  // namespace lpsim::nn
