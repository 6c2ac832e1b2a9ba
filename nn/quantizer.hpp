// Training quantizers: one tensor to one format, absolute or scaled
// (docs/formats.md). Values stay in float and hold
// exactly the dequantized number (scale x element), i.e. "fake quantization"
// as in SBM (Banner et al. 2018) and CPT (Fu et al. 2021).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

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

// The integer codes behind a scaled tensor, for MACs that compute on codes
// and rescale after the accumulator (nn/product.hpp "Integer-code products"):
// value[i] = float(code[i] * scale[group(i)]), codes exact integers in float.
// Groups follow the format's granularity (one scale per tensor or per
// channel). A tensor under an absolute format is its own codes, scale 1.
struct ScaledCodes {
  std::vector<float> code;
  std::vector<double> scale;
};

// The integer codes a format's tensor can take, [lowest, highest], when it
// has integer codes (minmax, absmax or pow2 with an integer element; an
// absolute fixed-point format with no fraction bits); empty otherwise.
// minmax codes are q + zero point: b-bit q with a zero point in
// [-(2^b - 1), 0] spans [-(2^b - 1), 2^b - 1], b + 1 bits signed.
std::optional<std::pair<double, double>> code_range(const arith::Format& f);

// out = the quantized in (in == out allowed). `shape` is the tensor's shape
// (row-major); `channel_axis` says which axis is the channel for
// granularity `channel` (0 for weights, 1 for NCHW activations and errors);
// blocks run contiguously along the last axis. Stochastic rounding draws
// element i's bits from index i of `key`.
// Throws std::invalid_argument for a bad axis or shape, std::domain_error
// naming the first non-finite element of a scaled format's input.
// With `codes`, also fills it (the format must have integer codes). With
// `range`, a per-tensor scaled format takes its scale from that [min, max]
// instead of the tensor's own (values outside are clamped): the running
// ranges of evaluation (nn/product.hpp RunningRange).
struct TensorRange {
  double min = 0, max = 0;
};
void quantize_tensor(const QuantSpec& spec, const float* in, float* out, std::span<const std::int64_t> shape,
                     int channel_axis, arith::RandomKey key, ScaledCodes* codes = nullptr,
                     const TensorRange* range = nullptr);

}  // namespace lpsim::nn
