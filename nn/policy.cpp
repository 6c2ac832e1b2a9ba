#include "nn/policy.hpp"

#include <stdexcept>

namespace lpsim::nn {

std::unique_ptr<PrecisionPolicy> make_policy(const PolicyConfig& c) {
  if (c.kind == "static") return std::make_unique<StaticPolicy>();
  throw std::invalid_argument("unknown precision policy \"" + c.kind + "\" (static)");
}

}  // namespace lpsim::nn
