// The plumbing shared by the layers with matrix products (Conv2d, Linear):
// one product through the engine (float) or the fp64 reference (double),
// the quantization points, and the random keys of each step.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "nn/layer.hpp"
#include "nn/precision.hpp"
#include "nn/quantizer.hpp"
#include "nn/tensor.hpp"
#include "sim/mac_config.hpp"
#include "sim/stats.hpp"

namespace lpsim::nn {

// C = op(A) . op(B), laid out as sim::GemmArgs (row-major, trans flags).
template <class T>
struct MatMul {
  std::int64_t m = 0, n = 0, k = 0;
  const T* a = nullptr;
  std::int64_t lda = 0;
  bool trans_a = false;
  const T* b = nullptr;
  std::int64_t ldb = 0;
  bool trans_b = false;
  T* c = nullptr;
  std::int64_t ldc = 0;
};

// float: sim::gemm with `cfg` (every bit as the emulated MAC gives it).
// double: exact products summed in fp64 in k order, the reference of the
// gradient checks; `cfg` and `key` are ignored and the stats carry only the
// shape, usage, tag and depth.
void matmul(const sim::MacConfig& cfg, const MatMul<float>& p, arith::RandomKey key, sim::GemmStats* stats,
            const sim::StatsRequest& req);
void matmul(const sim::MacConfig& cfg, const MatMul<double>& p, arith::RandomKey key, sim::GemmStats* stats,
            const sim::StatsRequest& req);

// Every random draw of a layer in one step: the quantizers and the three products.
enum class Draw : std::uint32_t { W, A, E, G, Fwd, BwdData, BwdWeight, Master };

// A key of its own for (layer key, iteration, draw): the layer's seed and
// stream are hashed together with the step, so that stochastic rounding
// differs between steps and layers, and stream numbers stay free for the
// groups of a convolution (group g uses stream g).
arith::RandomKey draw_key(arith::RandomKey layer, std::uint64_t iteration, Draw d);

// `t` quantized by `spec` viewed with shape `view` (same element count;
// e.g. conv weights as cout x K so that blocks run along the reduction).
// Empty spec, or T = double (the fp64 reference is never quantized): a copy.
// With `codes` (float only), also its integer codes (nn/quantizer.hpp); an
// empty spec gives the values themselves, scale 1.
template <class T>
Tensor<T> quantized(const std::optional<QuantSpec>& spec, const Tensor<T>& t, const Shape& view, int channel_axis,
                    arith::RandomKey key, ScaledCodes* codes = nullptr, const std::optional<TensorRange>& range = {});

// Integer-code products. Hardware that runs scaled formats in fixed point
// (int8 GEMM units; the accumulator-width study of A2Q, Colbert et al. ICCV
// 2023) keeps a scale per tensor or per output channel, multiplies the
// integer codes into its integer accumulator, and applies the scales to the
// accumulated result. The forward product Y = W . X does the same when its
// MAC computes in fixed point (a fixed-point operand or accumulator) and W
// or A is scaled: the codes enter the engine (so its overflow, wrap and
// saturation act on the codes, as in hardware) and output row o is rescaled
// by s_W[o] * s_A. The rescale is one multiplication in double rounded to
// float: it is the dequantization after the MAC, not part of the emulated
// accumulator. Scales must be constant along the reduction: W per tensor or
// per output channel, A per tensor (checked by code_product_problem).
bool computes_in_fixed_point(const sim::MacConfig& cfg);
bool forward_in_codes(const sim::MacConfig& fwd, const std::optional<QuantSpec>& w, const std::optional<QuantSpec>& a);

// Why W and A cannot enter `fwd` as codes (empty when they can): a scale
// that varies along the reduction, a format without integer codes, or codes
// that do not fit the MAC's operand format.
std::string code_product_problem(const sim::MacConfig& fwd, const std::optional<QuantSpec>& w,
                                 const std::optional<QuantSpec>& a);

// y[(b * rows + o) * inner + q] *= w.scale[o or 0] * a.scale[0], over
// `outer` blocks of rows x inner (conv: batch x cout x plane; linear: 1 x out x n).
void rescale_codes(float* y, std::int64_t outer, std::int64_t rows, std::int64_t inner, const ScaledCodes& w,
                   const ScaledCodes& a);

// The running activation range of Banner et al.'s QuantMeasure (the code of
// SBM, NeurIPS 2018, which CPT's and FracTrain's code reuse): in training the
// quantizer uses the batch's own min/max and folds them in,
//   zero_point <- 0.1 zero_point + 0.9 min,  range <- 0.1 range + 0.9 (max - min),
// in float32 as their buffers (their `momentum` 0.1 weighs the old value);
// evaluation quantizes with [zero_point, zero_point + range]. Both start at
// 0 (their buffers' initial value); a layer never trained leaves A as is in
// evaluation (a zero range). `state` = {zero_point, range}, saved in
// checkpoints and results as "<layer>.a_range".
struct RunningRange {
  Tensor<float> state{Shape{2}};
};
// Training: folds x's range into r and returns nothing (the batch's own range
// applies). Evaluation: the range to quantize with. Off (no running range or
// no A quantizer): nothing.
std::optional<TensorRange> activation_range(RunningRange& r, const LayerPrecision& p, const Tensor<float>& x,
                                            bool training);

// The operands of a forward product Y = W . X: X and W quantized into
// x_out and w_out (the values, which backward uses; A with its running
// range), and their integer codes when the MAC runs on codes
// (forward_in_codes). `w_view`: W's shape as the product sees it (conv:
// cout x K).
struct ForwardCodes {
  bool on = false;
  ScaledCodes x, w;
  // What the engine reads: the codes when on, else the values.
  template <class T>
  const T* input(const ScaledCodes& c, const Tensor<T>& values) const {
    if constexpr (std::is_same_v<T, float>)
      if (on) return c.code.data();
    return values.ptr();
  }
};
template <class T>
ForwardCodes forward_operands(const LayerPrecision& p, RunningRange& range, const Tensor<T>& x, const Tensor<T>& w,
                              const Shape& w_view, std::uint64_t iteration, bool training, Tensor<T>& x_out,
                              Tensor<T>& w_out);

// The request of one product: the layer's counting/error choice, its name and depth.
sim::StatsRequest product_request(const sim::StatsRequest& base, const std::string& name, int depth,
                                  const char* kind);

// Folds group g's product into the layer's record of that product: group 0
// sets shape, usage, tag and depth; counts are summed and errors combined as
// sim::conv2d does (worst maximum, mean of the means, worst SQNR).
void add_group_stats(sim::GemmStats& total, const sim::GemmStats& group, std::int64_t g, std::int64_t groups);

}  // namespace lpsim::nn
