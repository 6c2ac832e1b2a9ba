// Static SBM (Banner et al., NeurIPS 2018, "Scalable methods for 8-bit
// training of neural networks"): W, A and E quantized min-max linearly to
// sbm_bits for the whole run; W and A round to nearest (deterministic), E
// stochastically. nn/quantizer.cpp's minmax rule widens the range to contain
// 0 and uses an integer zero point, so 0 is exact (padding, ReLU zeros).
// Gradient bifurcation (the paper's 8-bit error for dX next to a 16-bit one
// for dW) sets LayerPrecision::e_dw, which Conv2d/Linear use for the
// weight-gradient product. The paper quantizes per layer (tensor): the
// default w_scale here is minmax/tensor.
#include <memory>

#include "nn/policies/common.hpp"
#include "nn/policies/policies.hpp"

namespace lpsim::nn::policies {

namespace {

class Sbm : public LayerwisePolicy {
 public:
  explicit Sbm(const PolicyConfig& c) : LayerwisePolicy(c) {
    require_bits(c.sbm_bits, c.kind, "sbm_bits");
    if (c.sbm_bifurcation) require_bits(c.sbm_dw_bits, c.kind, "sbm_dw_bits");
  }
  void begin(Model& m, const PolicyContext& ctx) override {
    LayerwisePolicy::begin(m, ctx);
    bits_.assign(targets_.size(), LayerBits{cfg_.sbm_bits, cfg_.sbm_bits, cfg_.sbm_bits, 32});
    apply();
    for (const Target& t : targets_)
      if (cfg_.sbm_bifurcation) t.precision->e_dw = formats_.e(cfg_.sbm_dw_bits);
  }
  // Static: the formats set in begin stay.
  void before_step(Model&, std::int64_t) override {}
};

}  // namespace

std::unique_ptr<PrecisionPolicy> make_sbm(const PolicyConfig& c) { return std::make_unique<Sbm>(c); }

}  // namespace lpsim::nn::policies
