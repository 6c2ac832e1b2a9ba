// The dynamic-precision methods (docs/policies.md): one factory each, called
// by make_policy, which validate their knobs and throw std::invalid_argument
// naming the bad one; and the pieces tests check on their own.
#pragma once

#include <deque>
#include <memory>
#include <span>

#include "nn/policy.hpp"

namespace lpsim::nn::policies {

std::unique_ptr<PrecisionPolicy> make_sbm(const PolicyConfig&);
std::unique_ptr<PrecisionPolicy> make_cpt(const PolicyConfig&);
std::unique_ptr<PrecisionPolicy> make_pfq(const PolicyConfig&);
std::unique_ptr<PrecisionPolicy> make_dpc(const PolicyConfig&);  // dpc, dpc_adaptive, dpc_cpt
std::unique_ptr<PrecisionPolicy> make_ldp(const PolicyConfig&);
std::unique_ptr<PrecisionPolicy> make_factor(const PolicyConfig&);

// FracTrain's turning-point indicator (the authors' loss_diff_indicator):
// the latest `window` interval losses; a turning point when every earlier one
// differs from the newest by at most threshold x scale (relative change).
// After a turning point the window restarts empty and the threshold decays.
class PlateauDetector {
 public:
  PlateauDetector(int window, double threshold, double decay) : window_(window), threshold_(threshold), decay_(decay) {}
  // Adds one interval's loss; true when it completes a plateau.
  bool add(double loss, double scale);
  double threshold() const { return threshold_; }
  const std::deque<double>& losses() const { return losses_; }
  void restore(double threshold, std::deque<double> losses) { threshold_ = threshold, losses_ = std::move(losses); }

 private:
  int window_;
  double threshold_, decay_;
  std::deque<double> losses_;
};

// LDP's task gradient of one layer's precision parameter beta (bits
// b = round(beta * p), step s = range / (2^b - 1)): with straight-through
// rounding dQ/ds = (Q(w) - w) / s and ds/db = -s ln2 2^b / (2^b - 1), so
//   dL/dbeta = -p ln2 2^b / (2^b - 1) * sum_i dL/dQ_i (Q(w_i) - w_i),
// independent of the scale of each channel. `grad` is dL/dQ(w) (the weight
// gradient under the straight-through estimator), `quantized` Q(w).
double ldp_task_gradient(std::span<const float> grad, std::span<const float> weights, std::span<const float> quantized,
                         int bits, double p);

// DPC+CPT's bits of a layer whose DPC bits are `base` at iteration t (dpc.cpp).
int dpc_cpt_bits(std::int64_t t, double period, int base, int bmin, const PolicyConfig& c);

// LDP's balanced precision gradient of one layer: each term over its running
// RMS (mean squares ms_* updated in place with `momentum`, seeded by the first
// nonzero value); a zero term contributes 0 and leaves its scale.
double ldp_balanced(double task, double cost, double& ms_task, double& ms_cost, double momentum);

// Factor-aware allocation: the layer factor F_k = K_k / U_k (accumulation
// length over the outputs reading each weight) put through DPC's formula
// (capacity_bits): more accumulation and less reuse, fewer bits.
std::vector<int> factor_bits(const std::vector<double>& accumulation, const std::vector<double>& usage, int bmin,
                             int bmax, double delta);

}  // namespace lpsim::nn::policies
