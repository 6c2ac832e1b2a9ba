// Reference convolutions of the float-layer tests: the conv cases, a float
// layer with its fp64 twin, direct fma-chain convolutions (forward and
// backward) and bitwise comparison. Header-only, shared by test_layers_float
// and test_scaled_products.
#pragma once

#include <cmath>
#include <string>

#include "nn/quantizer.hpp"
#include "nn_test_util.hpp"

namespace nn_test {

using namespace lpsim::nn;


struct ConvCase {
  std::int64_t cin, cout, k, stride, pad, groups;
  Shape x;
};
const ConvCase kConvCases[] = {
    {3, 4, 3, 1, 1, 1, {2, 3, 6, 5}},
    {4, 6, 3, 2, 1, 2, {2, 4, 7, 7}},
    {4, 4, 3, 2, 1, 4, {3, 4, 6, 6}},  // depthwise
    {3, 5, 1, 1, 0, 1, {2, 3, 4, 4}},
};

// The float layer and its fp64 twin with the same parameters.
struct ConvPair {
  Conv2d<float> f;
  Conv2d<double> d;
  explicit ConvPair(const ConvCase& c, std::uint64_t seed)
      : f(c.cin, c.cout, c.k, c.stride, c.pad, c.groups), d(c.cin, c.cout, c.k, c.stride, c.pad, c.groups) {
    d.reset_parameters(seed);
    f.weight.value = cast<float>(d.weight.value);
    f.bias.value = cast<float>(d.bias.value);
    d.weight.value = cast<double>(f.weight.value);  // both hold the float-rounded values
    d.bias.value = cast<double>(f.bias.value);
  }
};

// Each output a float fma chain over the window in (ci, r, c) order, zero
// padding included as terms, then + bias: what the fp32 MAC computes.
inline Tensor<float> direct_conv(const Conv2d<float>& L, const Tensor<float>& x) {
  const std::int64_t n = x.dim(0), h = x.dim(2), w = x.dim(3), k = L.kernel, s = L.stride, p = L.padding;
  const std::int64_t oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1;
  const std::int64_t cg = L.in_channels / L.groups, og = L.out_channels / L.groups;
  Tensor<float> y({n, L.out_channels, oh, ow});
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t o = 0; o < L.out_channels; ++o)
      for (std::int64_t oy = 0; oy < oh; ++oy)
        for (std::int64_t ox = 0; ox < ow; ++ox) {
          float acc = 0;
          for (std::int64_t ci = 0; ci < cg; ++ci)
            for (std::int64_t r = 0; r < k; ++r)
              for (std::int64_t c = 0; c < k; ++c) {
                const std::int64_t iy = oy * s - p + r, ix = ox * s - p + c;
                const bool in = iy >= 0 && iy < h && ix >= 0 && ix < w;
                const float xv = in ? x[((b * L.in_channels + (o / og) * cg + ci) * h + iy) * w + ix] : 0.f;
                acc = std::fma(L.weight.value[((o * cg + ci) * k + r) * k + c], xv, acc);
              }
          y[((b * L.out_channels + o) * oh + oy) * ow + ox] = acc + L.bias.value[o];
        }
  return y;
}

// The weight and input gradients as the fp32 MAC defines them: dW[o][ci,r,c]
// a float fma chain over (b, oy, ox) of dY times the (zero-padded) input;
// dX a float fma chain over the group's output channels for each tap, the
// taps then added into dX in (r, c) order (col2im, outside the engine).
inline void direct_conv_backward(const Conv2d<float>& L, const Tensor<float>& x, const Tensor<float>& dy, Tensor<float>& dw,
                          Tensor<float>& dx) {
  const std::int64_t n = x.dim(0), h = x.dim(2), w = x.dim(3), k = L.kernel, s = L.stride, p = L.padding;
  const std::int64_t oh = dy.dim(2), ow = dy.dim(3), cg = L.in_channels / L.groups, og = L.out_channels / L.groups;
  dw = Tensor<float>(L.weight.value.shape);
  dx = Tensor<float>(x.shape);
  for (std::int64_t o = 0; o < L.out_channels; ++o)
    for (std::int64_t ci = 0; ci < cg; ++ci)
      for (std::int64_t r = 0; r < k; ++r)
        for (std::int64_t c = 0; c < k; ++c) {
          float acc = 0;
          for (std::int64_t b = 0; b < n; ++b)
            for (std::int64_t oy = 0; oy < oh; ++oy)
              for (std::int64_t ox = 0; ox < ow; ++ox) {
                const std::int64_t iy = oy * s - p + r, ix = ox * s - p + c;
                const bool in = iy >= 0 && iy < h && ix >= 0 && ix < w;
                const float xv = in ? x[((b * L.in_channels + (o / og) * cg + ci) * h + iy) * w + ix] : 0.f;
                acc = std::fma(dy[((b * L.out_channels + o) * oh + oy) * ow + ox], xv, acc);
              }
          dw[((o * cg + ci) * k + r) * k + c] = acc;
        }
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t ch = 0; ch < L.in_channels; ++ch) {
      const std::int64_t g = ch / cg, ci = ch % cg;
      for (std::int64_t r = 0; r < k; ++r)
        for (std::int64_t c = 0; c < k; ++c)
          for (std::int64_t oy = 0; oy < oh; ++oy)
            for (std::int64_t ox = 0; ox < ow; ++ox) {
              const std::int64_t iy = oy * s - p + r, ix = ox * s - p + c;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              float acc = 0;
              for (std::int64_t o = g * og; o < (g + 1) * og; ++o)
                acc = std::fma(L.weight.value[((o * cg + ci) * k + r) * k + c],
                               dy[((b * L.out_channels + o) * oh + oy) * ow + ox], acc);
              dx[((b * L.in_channels + ch) * h + iy) * w + ix] += acc;
            }
    }
}

inline bool bitwise_equal(const Tensor<float>& a, const Tensor<float>& b) { return a.shape == b.shape && a.data == b.data; }

inline Tensor<float> quantize_copy(const char* spec, const Tensor<float>& t, Shape view, int axis) {
  Tensor<float> out = t;
  quantize_tensor(parse_quant(spec), t.ptr(), out.ptr(), view, axis, {});
  return out;
}

}  // namespace nn_test
