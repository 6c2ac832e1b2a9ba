// 2-D convolution lowered to the engine's GEMM (im2col), so that a conv layer
// runs on the same emulated MAC and reports its true accumulation length
// K = (Cin/groups)·kh·kw and the reuse of kernel and input elements.
#pragma once

#include <cstdint>
#include <functional>

#include "arith/rounding.hpp"
#include "sim/mac_config.hpp"
#include "sim/stats.hpp"

namespace lpsim::sim {

struct ConvShape {
  std::int64_t batch = 1, cin = 1, h = 1, w = 1;  // input, NCHW
  std::int64_t cout = 1, kh = 1, kw = 1;          // weights: cout x (cin/groups) x kh x kw
  std::int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, groups = 1;
  std::int64_t out_h() const { return (h + 2 * pad_h - kh) / stride_h + 1; }
  std::int64_t out_w() const { return (w + 2 * pad_w - kw) / stride_w + 1; }
  // Throws std::invalid_argument naming the inconsistent field.
  void check() const;
};

// y (batch x cout x out_h x out_w) = conv(x, weights). Group g is one GEMM:
// W_g (cout/groups x K) . im2col(x_g) (K x batch·out_h·out_w), with random
// stream key.stream + g. Stats: k = K, usage_a = batch·out_h·out_w (each
// weight), usage_b = outputs reading each input element (mean and max, zero
// padding excluded); counts summed over groups.
// When the configuration draws no random bits (orientation_free), the engine
// computes the same dot products as the transposed product im2col(x_g)^T .
// W_g^T with the operand formats exchanged, which the blocked kernels run
// several times faster for few output channels; the result is bit-identical.
// The fma-fp32 model on an ungrouped convolution skips the lowering
// altogether (conv_direct.hpp), again with the same bits.
void conv2d(const MacConfig& cfg, const ConvShape& s, const float* x, const float* weights, float* y,
            arith::RandomKey key = {}, GemmStats* stats = nullptr, const StatsRequest& req = {}, bool golden = false);

// The lowered input of group g: rows (ci, r, c) of the kernel window, columns (b, oh, ow).
// OpenMP-parallel; every entry is a copy, so any thread count gives the same bits.
void im2col(const ConvShape& s, const float* x, std::int64_t group, float* cols);

// The adjoint of im2col: every entry of `cols` (laid out as im2col's) added
// into its input element of group g's channels of dx (batch x cin x h x w).
// Each element receives its terms in (r, c, oy, ox) order whatever the
// thread count (threads own whole (b, ci) planes).
void col2im_add(const ConvShape& s, const float* cols, std::int64_t group, float* dx);

// True when no rounding of `cfg` is stochastic: every output of a product is
// then a function of its own row and column alone, so a product may be
// computed transposed (op(B)^T . op(A)^T with formats a and b exchanged)
// without changing a bit. Stochastic rounding keys depend on the position
// of elements and outputs, so those products keep their documented layout.
bool orientation_free(const MacConfig& cfg);

// f(g) for g in [0, groups): in parallel over groups when there are many
// small ones (depthwise convolutions; `work` = MACs per group), else in
// order. f must only write group g's outputs; an exception is rethrown.
void for_each_group(std::int64_t groups, std::int64_t work, const std::function<void(std::int64_t)>& f);

// cfg with the operand formats a and b exchanged (for the transposed product).
MacConfig transposed(const MacConfig& cfg);

}  // namespace lpsim::sim
