// Factor-aware allocation (new; compare with DPC): each operand's bits come
// from the layer's accumulation length K and that operand's reuse U,
//   F_k = K_k / U_k, B_k = capacity_bits over F (DPC's formula and knobs),
// so that more accumulation and less reuse both mean fewer bits (the
// hypothesis this policy exists to test against DPC's capacity rule), for W
// with U = outputs reading each weight (batch x Hout x Wout for a
// convolution, batch for a linear layer) and for A with U = outputs reading
// each activation (about Cout x kh x kw / stride^2; out_features): the same
// usage rule gives the wider, deeper layers' activations more bits.
// K: Conv2d Cin/groups x kh x kw, Linear in_features. K and both U come from
// the layer's forward product statistics (GemmStats k, usage_a for W,
// usage_b for A), which exist after the first forward: iteration 0 runs at
// bmax_fwd and the allocation applies from iteration 1. The batch size
// scales every weight U alike, so it cancels in F_k / median F. Bounds as
// DPC (cos_bounds / bmin_fwd, bmax_fwd); E at bmax_bwd.
#include <algorithm>
#include <cmath>
#include <memory>

#include "nn/policies/common.hpp"
#include "nn/policies/policies.hpp"

namespace lpsim::nn::policies {

std::vector<int> factor_bits(const std::vector<double>& accumulation, const std::vector<double>& usage, int bmin,
                             int bmax, double delta) {
  if (accumulation.size() != usage.size()) throw std::invalid_argument("factor_bits: one usage per layer");
  std::vector<double> f(accumulation.size());
  for (std::size_t k = 0; k < f.size(); ++k) {
    if (!(accumulation[k] > 0 && usage[k] > 0))
      throw std::invalid_argument("factor_bits: accumulation lengths and usages must be positive");
    f[k] = accumulation[k] / usage[k];
  }
  return capacity_bits(f, bmin, bmax, delta);
}

namespace {

constexpr double kTag = 6;

class Factor : public LayerwisePolicy {
 public:
  explicit Factor(const PolicyConfig& c) : LayerwisePolicy(c) {
    require_capacity_knobs(c);
  }

  void begin(Model& m, const PolicyContext& ctx) override {
    LayerwisePolicy::begin(m, ctx);
    bmin_ = capacity_bmin(targets_, formats_, cfg_);
    allocated_ = false;
  }

  void after_backward(Model&, std::int64_t) override {
    if (allocated_ || targets_.empty()) return;
    std::vector<double> k, uw, ua;
    for (const Target& t : targets_) {
      const LayerStats* s = t.layer->stats();
      k.push_back(double(s->fwd.k));
      uw.push_back(s->fwd.usage_a);
      ua.push_back(s->fwd.usage_b);
    }
    const auto bw = factor_bits(k, uw, bmin_, cfg_.bmax_fwd, cfg_.delta);
    const auto ba = factor_bits(k, ua, bmin_, cfg_.bmax_fwd, cfg_.delta);
    for (std::size_t i = 0; i < bw.size(); ++i) bits_[i] = {bw[i], ba[i], cfg_.bmax_bwd, 32};
    allocated_ = true;  // applied by the next before_step
  }

  std::vector<double> state() const override {
    std::vector<double> s = {kTag, double(bmin_), double(allocated_)};
    for (const auto& b : bits_) s.insert(s.end(), {double(b.w), double(b.a), double(b.e)});
    return s;
  }
  void set_state(const std::vector<double>& s) override {
    StateReader r(s, kTag, 3 + 3 * bits_.size(), cfg_.kind);
    bmin_ = r.next_int();
    allocated_ = r.next() != 0;
    for (auto& b : bits_) {
      b.w = r.next_int();
      b.a = r.next_int();
      b.e = r.next_int();
    }
  }

 private:
  int bmin_ = 2;
  bool allocated_ = false;
};

}  // namespace

std::unique_ptr<PrecisionPolicy> make_factor(const PolicyConfig& c) { return std::make_unique<Factor>(c); }

}  // namespace lpsim::nn::policies
