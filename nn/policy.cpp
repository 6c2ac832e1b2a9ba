#include "nn/policy.hpp"

#include <stdexcept>

#include "nn/policies/common.hpp"
#include "nn/policies/policies.hpp"

namespace lpsim::nn {

std::vector<LayerBits> layer_bits(Model& m) {
  std::vector<LayerBits> out;
  for (auto* l : m.product_layers())
    if (const LayerPrecision* p = policies::precision_of(l)) out.push_back(policies::counted_bits(*p));
  return out;
}

std::unique_ptr<PrecisionPolicy> make_policy(const PolicyConfig& c) {
  if (c.kind == "static") return std::make_unique<StaticPolicy>();
  if (c.kind == "sbm") return policies::make_sbm(c);
  if (c.kind == "cpt") return policies::make_cpt(c);
  if (c.kind == "pfq") return policies::make_pfq(c);
  if (c.kind == "dpc" || c.kind == "dpc_adaptive" || c.kind == "dpc_cpt") return policies::make_dpc(c);
  if (c.kind == "ldp") return policies::make_ldp(c);
  if (c.kind == "factor") return policies::make_factor(c);
  throw std::invalid_argument("unknown precision policy \"" + c.kind +
                              "\" (static, sbm, cpt, pfq, dpc, dpc_adaptive, dpc_cpt, ldp, factor)");
}

}  // namespace lpsim::nn
