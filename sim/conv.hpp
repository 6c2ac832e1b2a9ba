// 2-D convolution lowered to the engine's GEMM (im2col), so that a conv layer
// runs on the same emulated MAC and reports its true accumulation length
// K = (Cin/groups)·kh·kw and the reuse of kernel and input elements.
#pragma once

#include <cstdint>

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
void conv2d(const MacConfig& cfg, const ConvShape& s, const float* x, const float* weights, float* y,
            arith::RandomKey key = {}, GemmStats* stats = nullptr, const StatsRequest& req = {}, bool golden = false);

// The lowered input of group g: rows (ci, r, c) of the kernel window, columns (b, oh, ow).
void im2col(const ConvShape& s, const float* x, std::int64_t group, float* cols);

}  // namespace lpsim::sim
