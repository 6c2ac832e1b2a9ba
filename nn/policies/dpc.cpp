// DPC, static layer-wise precision by capacity (Shen, Lai et al., Frontiers
// of Computer Science 2024): each layer k set gets, for W and A,
//   B_k = ceil((Bmax + Bmin)/2 - delta/2 (Bmax - Bmin) log_R(N_k / median N)),
//   R = max(N_max / median, median / N_min), clamped to [Bmin, Bmax]
// (dpc_spread = "sided": R = N_max / median above the median, median / N_min below)
// (capacity_bits), N_k its parameter count (weights and bias), the median
// over the layers set (without those keep_fp32 names).
// E stays at bmax_bwd. Bounds: Bmax = bmax_fwd; Bmin, with cos_bounds, the
// fewest bits for which every layer's initial weights keep a cosine
// similarity >= cos_threshold with their quantized copy (else bmin_fwd).
//
// dpc_adaptive: per layer, the L2 norm of the weight gradient is recorded at
// every iteration; at each epoch end its coefficient of variation over the
// epoch (std / mean) below adpc_stable_cv (steady gradients) lowers the
// layer's bits by 1, above adpc_noisy_cv (noisy gradients) raises them by 1,
// within [Bmin, Bmax]. The CV is scale free, so one pair of thresholds serves
// every layer and learning rate; the defaults were chosen by us.
//
// dpc_cpt: CPT's cosine cycle (cpt_cycles over the run) on each layer's B_k.
// "down" (default; the paper's reading, whose temporal saving comes on top
// of DPC's): b_k(t) = cyclic_bits(t, T, L_k, B_k), L_k = max(2, ceil(dpc_cpt_low
// x B_k)): each cycle climbs from half the layer's bits back to them, so the
// bits never exceed DPC's and average ~3/4 of them. "centered" (an lpsim
// variant): clamp(cyclic_bits(t, T, B_k - A, B_k + A), Bmin, Bmax) with
// A = dpc_cpt_amplitude, averaging B_k (no saving over DPC on average).
#include <algorithm>
#include <cmath>
#include <memory>

#include "nn/policies/common.hpp"
#include "nn/policies/policies.hpp"
#include "nn/train.hpp"

namespace lpsim::nn::policies {

int dpc_cpt_bits(std::int64_t t, double period, int base, int bmin, const PolicyConfig& c) {
  if (c.dpc_cpt_mode == "down")
    return cyclic_bits(t, period, std::max(2, int(std::ceil(c.dpc_cpt_low * base - 1e-9))), base);
  const int a = c.dpc_cpt_amplitude;
  return std::clamp(cyclic_bits(t, period, base - a, base + a), bmin, c.bmax_fwd);
}

namespace {

constexpr double kTag = 4;

class Dpc : public LayerwisePolicy {
 public:
  explicit Dpc(const PolicyConfig& c) : LayerwisePolicy(c) {
    require_capacity_knobs(c);
    require(c.dpc_spread == "max" || c.dpc_spread == "sided", c.kind,
            "dpc_spread \"" + c.dpc_spread + "\" is not max or sided");
    adaptive_ = c.kind == "dpc_adaptive";
    cyclic_ = c.kind == "dpc_cpt";
    if (adaptive_)
      require(c.adpc_stable_cv >= 0 && c.adpc_stable_cv < c.adpc_noisy_cv, c.kind,
              "need 0 <= adpc_stable_cv < adpc_noisy_cv");
    if (cyclic_) {
      require(c.cpt_cycles >= 1, c.kind, "cpt_cycles must be at least 1");
      require(c.dpc_cpt_mode == "down" || c.dpc_cpt_mode == "centered", c.kind,
              "dpc_cpt_mode \"" + c.dpc_cpt_mode + "\" is not down or centered");
      require(c.dpc_cpt_low > 0 && c.dpc_cpt_low <= 1, c.kind, "dpc_cpt_low must be in (0, 1]");
      require(c.dpc_cpt_amplitude >= 0, c.kind, "dpc_cpt_amplitude must not be negative");
    }
  }

  void begin(Model& m, const PolicyContext& ctx) override {
    LayerwisePolicy::begin(m, ctx);
    std::vector<double> sizes;
    for (const Target& t : targets_) sizes.push_back(double(parameter_count(t.layer)));
    bmin_ = capacity_bmin(targets_, formats_, cfg_);
    base_ = capacity_bits(sizes, bmin_, cfg_.bmax_fwd, cfg_.delta, cfg_.dpc_spread == "sided");
    norm_sum_.assign(targets_.size(), 0);
    norm_sq_.assign(targets_.size(), 0);
    norm_n_ = 0;
  }

  void before_step(Model&, std::int64_t t) override {
    const double period = cyclic_period(ctx_.total_iterations, cfg_.cpt_cycles);
    for (std::size_t k = 0; k < bits_.size(); ++k) {
      int b = base_[k];
      if (cyclic_) b = dpc_cpt_bits(t, period, b, bmin_, cfg_);
      bits_[k] = {b, b, cfg_.bmax_bwd, 32};
    }
    apply();
  }

  void after_backward(Model&, std::int64_t) override {
    if (!adaptive_) return;
    for (std::size_t k = 0; k < targets_.size(); ++k) {
      double sq = 0;
      for (float g : weight_of(targets_[k].layer)->grad.data) sq += double(g) * g;
      norm_sum_[k] += std::sqrt(sq);
      norm_sq_[k] += sq;
    }
    ++norm_n_;
  }

  void end_epoch(Model&, const EpochRecord&) override {
    if (!adaptive_ || norm_n_ < 2) return;
    for (std::size_t k = 0; k < base_.size(); ++k) {
      const double mean = norm_sum_[k] / norm_n_;
      const double var = std::max(0.0, norm_sq_[k] / norm_n_ - mean * mean);
      const double cv = mean > 0 ? std::sqrt(var) / mean : 0;
      if (cv < cfg_.adpc_stable_cv) base_[k] = std::max(bmin_, base_[k] - 1);
      else if (cv > cfg_.adpc_noisy_cv) base_[k] = std::min(cfg_.bmax_fwd, base_[k] + 1);
      norm_sum_[k] = norm_sq_[k] = 0;
    }
    norm_n_ = 0;
  }

  std::vector<double> state() const override {
    std::vector<double> s = {kTag, double(bmin_), double(norm_n_)};
    for (std::size_t k = 0; k < base_.size(); ++k) s.insert(s.end(), {double(base_[k]), norm_sum_[k], norm_sq_[k]});
    return s;
  }
  void set_state(const std::vector<double>& s) override {
    StateReader r(s, kTag, 3 + 3 * base_.size(), cfg_.kind);
    bmin_ = r.next_int();
    norm_n_ = r.next_int();
    for (std::size_t k = 0; k < base_.size(); ++k) {
      base_[k] = r.next_int();
      norm_sum_[k] = r.next();
      norm_sq_[k] = r.next();
    }
  }

 private:
  bool adaptive_ = false, cyclic_ = false;
  int bmin_ = 2;
  std::vector<int> base_;  // B_k (adapted by dpc_adaptive)
  std::vector<double> norm_sum_, norm_sq_;
  int norm_n_ = 0;
};

}  // namespace

std::unique_ptr<PrecisionPolicy> make_dpc(const PolicyConfig& c) { return std::make_unique<Dpc>(c); }

}  // namespace lpsim::nn::policies
