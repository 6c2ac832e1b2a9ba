// Training quantizers: one tensor to one format, absolute or scaled
// (DESIGN.md "One spelling for every format"). Values stay in float and hold
// exactly the dequantized number (scale x element), i.e. "fake quantization"
// as in SBM (Banner et al. 2018) and CPT (Fu et al. 2021).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "arith/format.hpp"
#include "arith/rounding.hpp"

namespace lpsim::nn {

struct QuantSpec {
  arith::Format format;
  arith::Rounding rounding;
};

// parse_quant("int8/minmax/tensor", "sr"), parse_quant("e4m3fn"),
// parse_quant("mxfp8e4m3"), ... Throws std::invalid_argument quoting the bad
// spelling (arith's parser), or saying which scale rule needs which element.
QuantSpec parse_quant(std::string_view format, std::string_view rounding = "rne");

// out = the quantized in (in == out allowed). `shape` is the tensor's shape
// (row-major); `channel_axis` says which axis is the channel for
// granularity `channel` (0 for weights, 1 for NCHW activations and errors);
// blocks run contiguously along the last axis. Stochastic rounding draws
// element i's bits from index i of `key`.
// Throws std::invalid_argument for a bad axis or shape, std::domain_error
// naming the first non-finite element of a scaled format's input.
void quantize_tensor(const QuantSpec& spec, const float* in, float* out, std::span<const std::int64_t> shape,
                     int channel_axis, arith::RandomKey key);

}  // namespace lpsim::nn
