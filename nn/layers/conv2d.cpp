#include "nn/layers/conv2d.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "nn/init.hpp"
#include "nn/product.hpp"
#include "sim/conv_direct.hpp"

namespace lpsim::nn {

namespace {

// Rows (ci, r, c) of group g's kernel window, columns (b, oy, ox): sim::im2col for any T.
template <class T>
void im2col(const sim::ConvShape& s, const T* x, std::int64_t g, T* cols) {
  const std::int64_t cg = s.cin / s.groups, oh = s.out_h(), ow = s.out_w(), ncol = s.batch * oh * ow;
  for (std::int64_t ci = 0; ci < cg; ++ci)
    for (std::int64_t r = 0; r < s.kh; ++r)
      for (std::int64_t c = 0; c < s.kw; ++c) {
        T* row = cols + ((ci * s.kh + r) * s.kw + c) * ncol;
        for (std::int64_t b = 0; b < s.batch; ++b) {
          const T* plane = x + (b * s.cin + g * cg + ci) * s.h * s.w;
          for (std::int64_t oy = 0; oy < oh; ++oy)
            for (std::int64_t ox = 0; ox < ow; ++ox) {
              const std::int64_t iy = oy * s.stride_h - s.pad_h + r, ix = ox * s.stride_w - s.pad_w + c;
              const bool inside = iy >= 0 && iy < s.h && ix >= 0 && ix < s.w;
              row[(b * oh + oy) * ow + ox] = inside ? plane[iy * s.w + ix] : T(0);
            }
        }
      }
}

// The adjoint of im2col: every column entry added back into its input element
// (sim::col2im_add for float adds in the same order, in parallel).
template <class T>
void col2im_add(const sim::ConvShape& s, const T* cols, std::int64_t g, T* dx) {
  const std::int64_t cg = s.cin / s.groups, oh = s.out_h(), ow = s.out_w(), ncol = s.batch * oh * ow;
  for (std::int64_t ci = 0; ci < cg; ++ci)
    for (std::int64_t r = 0; r < s.kh; ++r)
      for (std::int64_t c = 0; c < s.kw; ++c) {
        const T* row = cols + ((ci * s.kh + r) * s.kw + c) * ncol;
        for (std::int64_t b = 0; b < s.batch; ++b) {
          T* plane = dx + (b * s.cin + g * cg + ci) * s.h * s.w;
          for (std::int64_t oy = 0; oy < oh; ++oy)
            for (std::int64_t ox = 0; ox < ow; ++ox) {
              const std::int64_t iy = oy * s.stride_h - s.pad_h + r, ix = ox * s.stride_w - s.pad_w + c;
              if (iy >= 0 && iy < s.h && ix >= 0 && ix < s.w) plane[iy * s.w + ix] += row[(b * oh + oy) * ow + ox];
            }
        }
      }
}

// Group g's channels of an NCHW output as a matrix (out/groups) x (b, oy, ox), and back.
template <class T>
void gather_group(const sim::ConvShape& s, const T* y, std::int64_t g, T* d) {
  const std::int64_t og = s.cout / s.groups, plane = s.out_h() * s.out_w(), ncol = s.batch * plane;
#pragma omp parallel for collapse(2) schedule(static) if (og * ncol > (1 << 15))
  for (std::int64_t o = 0; o < og; ++o)
    for (std::int64_t b = 0; b < s.batch; ++b)
      std::copy_n(y + (b * s.cout + g * og + o) * plane, plane, d + o * ncol + b * plane);
}

template <class T>
void scatter_group(const sim::ConvShape& s, const T* d, std::int64_t g, T* y) {
  const std::int64_t og = s.cout / s.groups, plane = s.out_h() * s.out_w(), ncol = s.batch * plane;
  for (std::int64_t o = 0; o < og; ++o)
    for (std::int64_t b = 0; b < s.batch; ++b)
      for (std::int64_t p = 0; p < plane; ++p) y[(b * s.cout + g * og + o) * plane + p] = d[o * ncol + b * plane + p];
}

arith::RandomKey group_key(arith::RandomKey step, std::int64_t g) { return {step.seed, std::uint32_t(g)}; }

}  // namespace

template <class T>
Conv2d<T>::Conv2d(std::int64_t in, std::int64_t out, std::int64_t k, std::int64_t stride_, std::int64_t padding_,
                  std::int64_t groups_, bool with_bias)
    : in_channels(in), out_channels(out), kernel(k), stride(stride_), padding(padding_), groups(groups_) {
  if (in < 1 || out < 1 || k < 1 || stride_ < 1 || padding_ < 0 || groups_ < 1 || in % groups_ || out % groups_)
    throw std::invalid_argument("Conv2d(in=" + std::to_string(in) + ", out=" + std::to_string(out) + ", kernel=" +
                                std::to_string(k) + ", stride=" + std::to_string(stride_) + ", padding=" +
                                std::to_string(padding_) + ", groups=" + std::to_string(groups_) +
                                "): sizes and stride must be positive, padding not negative, groups dividing in and out");
  weight.value = Tensor<T>({out, in / groups_, k, k});
  weight.grad = Tensor<T>(weight.value.shape);
  if (with_bias) {
    bias.value = Tensor<T>({out});
    bias.grad = Tensor<T>({out});
    bias.decay = false;
  }
}

template <class T>
void Conv2d<T>::reset_parameters(std::uint64_t seed) {
  const double bound = 1.0 / std::sqrt(double(in_channels / groups * kernel * kernel));
  fill_uniform(weight.value, bound, seed);
  fill_uniform(bias.value, bound, mix64(seed));
}

template <class T>
std::vector<Param<T>*> Conv2d<T>::params() {
  weight.name = this->name + ".weight";
  bias.name = this->name + ".bias";
  if (bias.value.numel()) return {&weight, &bias};
  return {&weight};
}

template <class T>
sim::ConvShape Conv2d<T>::shape_of(const Tensor<T>& x) const {
  check_shape(this->name, "input", x.shape, {-1, in_channels, -1, -1});
  sim::ConvShape s{x.dim(0), in_channels, x.dim(2), x.dim(3), out_channels, kernel, kernel,
                   stride,   stride,      padding,   padding,   groups};
  try {
    s.check();
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(this->name + ": input " + shape_str(x.shape) + ": " + e.what());
  }
  return s;
}

template <class T>
Tensor<T> Conv2d<T>::forward(const Tensor<T>& x, bool training) {
  const sim::ConvShape s = shape_of(x);
  const std::int64_t k = s.cin / s.groups * s.kh * s.kw, og = s.cout / s.groups, plane = s.out_h() * s.out_w();
  const auto& p = precision;
  // With integer codes (nn/product.hpp) the engine multiplies the codes and
  // the result is rescaled; x_ and w_ keep the values for backward.
  const ForwardCodes codes = forward_operands(p, a_range, x, weight.value, {s.cout, k}, iteration, training, x_, w_);
  shape_ = s;
  stats_.name = this->name;
  stats_.depth = this->depth;
  auto y = Tensor<T>::uninitialized({s.batch, s.cout, s.out_h(), s.out_w()});  // every element written below
  const auto req = product_request(stats_request, this->name, this->depth, "fwd");
  const auto key = draw_key(p.key, iteration, Draw::Fwd);
  if constexpr (std::is_same_v<T, float>) {
    sim::conv2d(p.fwd, s, codes.input(codes.x, x_), codes.input(codes.w, w_), y.ptr(), key, &stats_.fwd, req);
    if (codes.on) rescale_codes(y.ptr(), s.batch, s.cout, plane, codes.w, codes.x);
  } else {
    std::vector<T> cols(std::size_t(k * s.batch * plane)), out(std::size_t(og * s.batch * plane));
    for (std::int64_t g = 0; g < s.groups; ++g) {
      im2col(s, x_.ptr(), g, cols.data());
      sim::GemmStats gs;
      matmul(p.fwd, MatMul<T>{og, s.batch * plane, k, w_.ptr() + g * og * k, k, false, cols.data(), s.batch * plane,
                              false, out.data(), s.batch * plane},
             group_key(key, g), &gs, req);
      add_group_stats(stats_.fwd, gs, g, s.groups);
      scatter_group(s, out.data(), g, y.ptr());
    }
    stats_.fwd.m = s.cout;
  }
  ++stats_.fwd_calls;
  if (bias.value.numel())
    for (std::int64_t b = 0; b < s.batch; ++b)
      for (std::int64_t o = 0; o < s.cout; ++o)
        for (std::int64_t q = 0; q < plane; ++q) y[(b * s.cout + o) * plane + q] += bias.value[o];
  return y;
}

template <class T>
Tensor<T> Conv2d<T>::backward(const Tensor<T>& dy) {
  const sim::ConvShape& s = shape_;
  if (x_.numel() == 0) throw std::logic_error(this->name + ": backward before forward");
  check_shape(this->name, "output gradient", dy.shape, {s.batch, s.cout, s.out_h(), s.out_w()});
  const auto& p = precision;
  const std::int64_t k = s.cin / s.groups * s.kh * s.kw, og = s.cout / s.groups;
  const std::int64_t plane = s.out_h() * s.out_w(), ncol = s.batch * plane;
  const Tensor<T> e = quantized(p.e, dy, dy.shape, 1, draw_key(p.key, iteration, Draw::E));
  Tensor<T> e_dw;  // bifurcation: its own quantization of dY for dW (stream 1 of E's draw)
  if (p.e_dw) e_dw = quantized(p.e_dw, dy, dy.shape, 1, {draw_key(p.key, iteration, Draw::E).seed, 1});
  const Tensor<T>& ew = p.e_dw ? e_dw : e;

  if (bias.value.numel())
#pragma omp parallel for schedule(static) if (e.numel() > (1 << 15))
    for (std::int64_t o = 0; o < s.cout; ++o) {
      double sum = 0;  // a reduction outside the engine: kept in fp64
      for (std::int64_t b = 0; b < s.batch; ++b)
        for (std::int64_t q = 0; q < plane; ++q) sum += ew[(b * s.cout + o) * plane + q];
      bias.grad[o] += T(sum);
    }

  Tensor<T> dw(weight.value.shape), dx;
  if (compute_input_grad) dx = Tensor<T>::uninitialized(x_.shape);  // the direct kernel writes it, col2im adds to zeros
  const auto req_w = product_request(stats_request, this->name, this->depth, "bwd_weight");
  const auto req_d = product_request(stats_request, this->name, this->depth, "bwd_data");
  const auto key_w = draw_key(p.key, iteration, Draw::BwdWeight), key_d = draw_key(p.key, iteration, Draw::BwdData);
  // With few output channels per group the weight gradient runs several times
  // faster transposed, cols . d^T (K x og), with the same dot products and
  // bits when no rounding is stochastic (sim::orientation_free). The limit is
  // measured on the current kernels (ResNet stage 1, og = 16: 1.8x; og = 32: no gain).
  bool flip_w = false;
  if constexpr (std::is_same_v<T, float>) flip_w = og < 32 && sim::orientation_free(p.bwd_weight);
  const sim::MacConfig cfg_w = flip_w ? sim::transposed(p.bwd_weight) : p.bwd_weight;
  std::vector<sim::GemmStats> st_w(std::size_t(s.groups)), st_d(std::size_t(s.groups));
  // The fma-fp32 model on an ungrouped convolution: the same bits without
  // im2col/col2im (sim/conv_direct.hpp); the statistics of the lowered products.
  bool direct_w = false, direct_d = false;
  if constexpr (std::is_same_v<T, float>) {
    if (sim::conv_direct_applies(p.bwd_weight, s, &st_w[0], req_w)) {
      sim::conv2d_weight_grad_direct(p.bwd_weight, s, x_.ptr(), ew.ptr(), dw.ptr());
      st_w[0] = sim::lowered_stats(og, k, ncol, req_w);
      direct_w = true;
    }
    if (compute_input_grad && sim::conv_direct_applies(p.bwd_data, s, &st_d[0], req_d) &&
        sim::conv2d_data_grad_direct(p.bwd_data, s, w_.ptr(), e.ptr(), dx.ptr())) {
      st_d[0] = sim::lowered_stats(k, ncol, og, req_d);
      direct_d = true;
    }
  }
  const bool input_grad = compute_input_grad && !direct_d;
  if (input_grad) dx = Tensor<T>(x_.shape);
  auto one_group = [&](std::int64_t g) {
    // Scratch kept between steps and layers (multi-megabyte: fresh buffers
    // cost page faults); one set per thread, as groups may run in parallel.
    thread_local std::vector<T> d, cols, dcols, dwt, d_dw;
    d.resize(std::size_t(og * ncol));
    gather_group(s, e.ptr(), g, d.data());
    if (!direct_w) {
      cols.resize(std::size_t(k * ncol));
      if (p.e_dw) d_dw.resize(d.size()), gather_group(s, ew.ptr(), g, d_dw.data());
      const T* dw_err = p.e_dw ? d_dw.data() : d.data();
      if constexpr (std::is_same_v<T, float>) sim::im2col(s, x_.ptr(), g, cols.data());  // parallel, same layout
      else im2col(s, x_.ptr(), g, cols.data());
      T* dwg = dw.ptr() + g * og * k;
      sim::GemmStats& gw = st_w[std::size_t(g)];
      if (flip_w) {
        dwt.resize(std::size_t(k * og));
        matmul(cfg_w, MatMul<T>{k, og, ncol, cols.data(), ncol, false, dw_err, ncol, true, dwt.data(), og},
               group_key(key_w, g), &gw, req_w);
        for (std::int64_t o = 0; o < og; ++o)
          for (std::int64_t l = 0; l < k; ++l) dwg[o * k + l] = dwt[std::size_t(l * og + o)];
        std::swap(gw.m, gw.n), std::swap(gw.usage_a, gw.usage_b), std::swap(gw.usage_a_max, gw.usage_b_max);
      } else {
        matmul(cfg_w, MatMul<T>{og, k, ncol, dw_err, ncol, false, cols.data(), ncol, true, dwg, k}, group_key(key_w, g),
               &gw, req_w);
      }
    }
    if (!input_grad) return;
    dcols.resize(std::size_t(k * ncol));
    matmul(p.bwd_data, MatMul<T>{k, ncol, og, w_.ptr() + g * og * k, k, true, d.data(), ncol, false, dcols.data(), ncol},
           group_key(key_d, g), &st_d[std::size_t(g)], req_d);
    if constexpr (std::is_same_v<T, float>) sim::col2im_add(s, dcols.data(), g, dx.ptr());
    else col2im_add(s, dcols.data(), g, dx.ptr());
  };
  if (!direct_w || input_grad) sim::for_each_group(s.groups, og * k * ncol, one_group);
  for (std::int64_t g = 0; g < s.groups; ++g) {  // in group order: the same sums for any thread count
    add_group_stats(stats_.bwd_weight, st_w[std::size_t(g)], g, s.groups);
    if (compute_input_grad) add_group_stats(stats_.bwd_data, st_d[std::size_t(g)], g, s.groups);
  }
  stats_.bwd_weight.m = s.cout;
  ++stats_.bwd_weight_calls;
  if (compute_input_grad) {
    stats_.bwd_data.m = k * s.groups;
    ++stats_.bwd_data_calls;
  }

  const Tensor<T> gw = quantized(p.g, dw, {s.cout, k}, 0, draw_key(p.key, iteration, Draw::G));
  for (std::int64_t i = 0; i < gw.numel(); ++i) weight.grad[i] += gw[i];
  ++iteration;
  return dx;
}

template class Conv2d<float>;
template class Conv2d<double>;

}  // namespace lpsim::nn
