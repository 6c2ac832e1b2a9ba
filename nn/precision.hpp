// What one layer computes in: the four quantization points of low-precision
// training (SBM, Banner et al. 2018; CPT, Fu et al. 2021) and the MAC
// configuration of each of its three matrix products. Applies to the float
// layers; the double layers are the exact fp64 reference and ignore it.
#pragma once

#include <optional>

#include "arith/rounding.hpp"
#include "nn/quantizer.hpp"
#include "sim/mac_config.hpp"

namespace lpsim::nn {

struct LayerPrecision {
  // Empty: that tensor is used as it is (fp32).
  std::optional<QuantSpec> w;  // weights, before the forward product
  std::optional<QuantSpec> a;  // the layer's input activation, before the forward product
  std::optional<QuantSpec> e;  // the incoming error dY, before both backward products
  std::optional<QuantSpec> g;  // the weight gradient, after its product
  // Gradient bifurcation (SBM, Banner et al. 2018): when set, the error that
  // enters the weight-gradient product (and the bias gradient) is dY
  // quantized by this (e.g. 16 bits) instead of by e, which then serves dX only.
  std::optional<QuantSpec> e_dw;
  // Running activation ranges (nn/product.hpp RunningRange): A's per-tensor
  // scaled quantizer uses the batch's range in training and the running
  // range in evaluation, as the SBM and CPT authors' QuantMeasure.
  bool a_running_range = false;
  // The weight of the old range in each fold: 0.1 in the SBM code's
  // QuantMeasure, 0.9 in the CPT and FracTrain code's.
  float a_range_momentum = 0.1f;
  // Widths that BitOPs count for W, A, E instead of the formats' (0: the
  // format's): a policy that allocates more bits than a float layer can hold
  // (25-31) quantizes at 24 and counts what it allocated (nn/policies).
  int w_bits = 0, a_bits = 0, e_bits = 0;
  sim::MacConfig fwd = sim::parse_mac("fp32");         // Y = W . X
  sim::MacConfig bwd_data = sim::parse_mac("fp32");    // dX = W^T . dY
  sim::MacConfig bwd_weight = sim::parse_mac("fp32");  // dW = dY . X^T
  // Base of every random draw of the layer (stochastic rounding in the
  // quantizers and in the MACs); give each layer its own (e.g. stream = depth).
  arith::RandomKey key;
};

}  // namespace lpsim::nn
