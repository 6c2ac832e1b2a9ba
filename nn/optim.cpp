#include "nn/optim.hpp"

#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>

#include "nn/product.hpp"

namespace lpsim::nn {

QuantSpec parse_master(std::string_view format, std::string_view rounding) {
  QuantSpec q = parse_quant(format, rounding);
  if (q.format.kind == arith::Kind::Scaled)
    throw std::invalid_argument("\"" + std::string(format) +
                                "\" is a scaled format; master weights take an absolute format (a float or "
                                "fixed-point grid: bf16, fp16, e5m7, fx16.12)");
  return q;
}

void round_master(const QuantSpec& spec, const std::vector<Param<float>*>& params, std::uint64_t seed,
                  std::int64_t iteration) {
  for (std::size_t j = 0; j < params.size(); ++j) {
    Tensor<float>& w = params[j]->value;
    const arith::RandomKey key =
        draw_key({seed, kMasterStream + std::uint32_t(j)}, std::uint64_t(iteration), Draw::Master);
    quantize_tensor(spec, w.ptr(), w.ptr(), w.shape, 0, key);
  }
}

void optimizer_step(const OptimizerConfig& c, std::vector<Param<float>*>& params, double lr, std::int64_t step) {
  const bool adam = c.kind == "adam", nesterov = c.kind == "nesterov";
  if (!adam && !nesterov && c.kind != "sgd")
    throw std::invalid_argument("optimizer \"" + c.kind + "\" is unknown (sgd, nesterov, adam)");
  const float flr = float(lr), m = float(c.momentum);
  for (Param<float>* p : params) {
    const std::size_t slots = adam ? 2 : 1;
    if (p->state.size() != slots) p->state.assign(slots, Tensor<float>(p->value.shape));
    const float wd = p->decay ? float(c.weight_decay) : 0.f;
    float* w = p->value.data.data();
    float* g = p->grad.data.data();
    const std::int64_t n = p->value.numel();
    if (!adam) {
      float* v = p->state[0].data.data();
      for (std::int64_t i = 0; i < n; ++i) {
        const float gi = g[i] + wd * w[i];
        v[i] = m * v[i] + gi;
        w[i] -= flr * (nesterov ? gi + m * v[i] : v[i]);
        g[i] = 0.f;
      }
    } else {
      float* m1 = p->state[0].data.data();
      float* m2 = p->state[1].data.data();
      const double t = double(step + 1);
      const float c1 = float(1.0 / (1.0 - std::pow(c.beta1, t))), c2 = float(1.0 / (1.0 - std::pow(c.beta2, t)));
      const float b1 = float(c.beta1), b2 = float(c.beta2), eps = float(c.eps);
      for (std::int64_t i = 0; i < n; ++i) {
        const float gi = g[i] + wd * w[i];
        m1[i] = b1 * m1[i] + (1 - b1) * gi;
        m2[i] = b2 * m2[i] + (1 - b2) * gi * gi;
        w[i] -= flr * (m1[i] * c1) / (std::sqrt(m2[i] * c2) + eps);
        g[i] = 0.f;
      }
    }
  }
}

double learning_rate(const ScheduleConfig& s, std::int64_t it, std::int64_t total) {
  if (s.warmup_iters > 0 && it < s.warmup_iters) return s.lr * double(it + 1) / double(s.warmup_iters);
  const double progress = total > 0 ? double(it) / double(total) : 0.0;
  if (s.kind == "const") return s.lr;
  if (s.kind == "cosine") return 0.5 * s.lr * (1.0 + std::cos(std::numbers::pi * progress));
  if (s.kind == "step") {
    double lr = s.lr;
    for (double mstone : s.milestones)
      if (progress >= mstone) lr *= s.gamma;
    return lr;
  }
  throw std::invalid_argument("learning-rate schedule \"" + s.kind + "\" is unknown (const, step, cosine)");
}

}  // namespace lpsim::nn
