// LDP, learnable layer-wise dynamic precision (Yu et al. 2022): each layer k
// set has a precision parameter beta_k (start 1) and, for W and A,
//   b_k = clamp(round(beta_k * P), bmin_fwd, bmax_fwd), P = bmax_fwd,
// the quantizer step being range / (2^b_k - 1) (the min-max rule). E stays
// at bmax_bwd. beta is learned by SGD (step ldp_lr) on
//   L = L_task + L_cost, L_cost = ldp_lambda * max(0, B - T) / T,
// B = sum_k MACs_k b_k^2 (forward BitOPs of the layers set, W and A both at
// b_k), T = ldp_target x B at bmax_fwd for every layer.
// The estimator, computed in after_backward from the weight gradient
// (= dL/dQ(W) under the straight-through estimator):
//   dL_task/dbeta_k = ldp_task_gradient(grad W_k, W_k, Q(W_k), b_k, P)
//     (straight-through rounding of b and of the codes: only the step size
//     depends on beta; the activation path is not seen by the hook and is
//     left out);
//   dL_cost/dbeta_k = ldp_lambda / T * 2 MACs_k b_k P when B > T, else 0
//     (straight-through: d b_k / d beta_k = P).
// Balancing (ldp_balance, default; the method's slides balance the two
// gradients per layer, without a formula -- this rule is our choice): each
// term is divided by its own running RMS per layer (momentum
// ldp_balance_momentum, from the first step's value), so that
//   beta_k -= ldp_lr (g_task / rms_task + g_cost / rms_cost)
// and the cost term, which by its scale would outweigh the task's ~100x,
// pulls with the task's weight: over the budget every layer is pushed down
// alike and the task term decides which layers keep their bits. Off: the raw
// sum g_task + g_cost.
// beta is kept within [(bmin_fwd - 0.5) / P, (bmax_fwd + 0.5) / P], where the
// clamp of b would otherwise let it drift without effect. The new bits apply
// from the next iteration. MACs_k come from the layer's forward statistics.
#include <algorithm>
#include <cmath>
#include <memory>
#include <numbers>
#include <optional>

#include "nn/policies/common.hpp"
#include "nn/policies/policies.hpp"

namespace lpsim::nn::policies {

double ldp_task_gradient(std::span<const float> grad, std::span<const float> weights, std::span<const float> quantized,
                         int bits, double p) {
  double s = 0;
  for (std::size_t i = 0; i < grad.size(); ++i) s += double(grad[i]) * (double(quantized[i]) - double(weights[i]));
  const double levels = std::ldexp(1.0, bits);
  return -p * std::numbers::ln2 * levels / (levels - 1) * s;
}

double ldp_balanced(double task, double cost, double& ms_task, double& ms_cost, double momentum) {
  const auto fold = [momentum](double& ms, double g) {
    if (g == 0) return 0.0;  // an inactive term (cost under budget) neither counts nor moves its scale
    ms = ms == 0 ? g * g : momentum * ms + (1 - momentum) * g * g;
    return g / std::sqrt(ms);
  };
  return fold(ms_task, task) + fold(ms_cost, cost);
}

namespace {

constexpr double kTag = 5;

class Ldp : public LayerwisePolicy {
 public:
  explicit Ldp(const PolicyConfig& c) : LayerwisePolicy(c) {
    require_bits(c.bmin_fwd, c.kind, "bmin_fwd");
    require_bits(c.bmax_fwd, c.kind, "bmax_fwd");
    require_bits(c.bmax_bwd, c.kind, "bmax_bwd");
    require(c.bmin_fwd <= c.bmax_fwd, c.kind, "bmin_fwd > bmax_fwd");
    require(c.ldp_lr > 0 && std::isfinite(c.ldp_lr), c.kind, "ldp_lr must be positive");
    require(c.ldp_lambda >= 0 && std::isfinite(c.ldp_lambda), c.kind, "ldp_lambda must not be negative");
    require(c.ldp_target > 0 && c.ldp_target <= 1, c.kind, "ldp_target must be in (0, 1]");
    require(c.ldp_balance_momentum >= 0 && c.ldp_balance_momentum < 1, c.kind,
            "ldp_balance_momentum must be in [0, 1)");
  }

  void begin(Model& m, const PolicyContext& ctx) override {
    LayerwisePolicy::begin(m, ctx);
    beta_.assign(targets_.size(), 1.0);
    ms_task_.assign(targets_.size(), 0.0);
    ms_cost_.assign(targets_.size(), 0.0);
  }

  std::optional<double> layer_param(int depth) const override {
    for (std::size_t k = 0; k < targets_.size(); ++k)
      if (targets_[k].depth == depth) return beta_[k];
    return std::nullopt;
  }

  void before_step(Model&, std::int64_t) override {
    for (std::size_t k = 0; k < bits_.size(); ++k) {
      const int b = bits_for(beta_[k]);
      bits_[k] = {b, b, cfg_.bmax_bwd, 32};
    }
    apply();
  }

  void after_backward(Model&, std::int64_t) override {
    const double p = cfg_.bmax_fwd;
    std::vector<double> macs(targets_.size());
    double cost = 0, full = 0;
    for (std::size_t k = 0; k < targets_.size(); ++k) {
      const auto& f = targets_[k].layer->stats()->fwd;
      macs[k] = double(f.m) * double(f.n) * double(f.k);
      cost += macs[k] * bits_[k].w * bits_[k].w;
      full += macs[k] * p * p;
    }
    const double target = cfg_.ldp_target * full;
    for (std::size_t k = 0; k < targets_.size(); ++k) {
      const Param<float>* w = weight_of(targets_[k].layer);
      const std::int64_t rows = w->value.dim(0);
      std::vector<float> q(w->value.data.size());
      const Shape view = {rows, w->value.numel() / rows};
      quantize_tensor(formats_.w(bits_[k].w), w->value.ptr(), q.data(), view, 0, {});
      const double task = ldp_task_gradient(w->grad.data, w->value.data, q, bits_[k].w, p);
      const double cost_g = cost > target && target > 0 ? cfg_.ldp_lambda / target * 2 * macs[k] * bits_[k].w * p : 0.0;
      double g = task + cost_g;
      if (cfg_.ldp_balance) g = ldp_balanced(task, cost_g, ms_task_[k], ms_cost_[k], cfg_.ldp_balance_momentum);
      beta_[k] = std::clamp(beta_[k] - cfg_.ldp_lr * g, (cfg_.bmin_fwd - 0.5) / p, (cfg_.bmax_fwd + 0.5) / p);
    }
  }

  std::vector<double> state() const override {
    std::vector<double> s = {kTag};
    for (std::size_t k = 0; k < beta_.size(); ++k) s.insert(s.end(), {beta_[k], ms_task_[k], ms_cost_[k]});
    return s;
  }
  void set_state(const std::vector<double>& s) override {
    StateReader r(s, kTag, 1 + 3 * beta_.size(), cfg_.kind);
    for (std::size_t k = 0; k < beta_.size(); ++k) beta_[k] = r.next(), ms_task_[k] = r.next(), ms_cost_[k] = r.next();
  }

 private:
  int bits_for(double beta) const {
    return std::clamp(int(std::nearbyint(beta * cfg_.bmax_fwd)), cfg_.bmin_fwd, cfg_.bmax_fwd);
  }
  std::vector<double> beta_;
  std::vector<double> ms_task_, ms_cost_;  // running mean squares of the two gradients (0: none yet)
};

}  // namespace

std::unique_ptr<PrecisionPolicy> make_ldp(const PolicyConfig& c) { return std::make_unique<Ldp>(c); }

}  // namespace lpsim::nn::policies
