#include "nn/layers/linear.hpp"

#include <cmath>
#include <stdexcept>

#include "nn/init.hpp"
#include "nn/product.hpp"

namespace lpsim::nn {

template <class T>
Linear<T>::Linear(std::int64_t in, std::int64_t out, bool with_bias) : in_features(in), out_features(out) {
  if (in < 1 || out < 1)
    throw std::invalid_argument("Linear(in=" + std::to_string(in) + ", out=" + std::to_string(out) +
                                "): sizes must be positive");
  weight.value = Tensor<T>({out, in});
  weight.grad = Tensor<T>({out, in});
  if (with_bias) {
    bias.value = Tensor<T>({out});
    bias.grad = Tensor<T>({out});
    bias.decay = false;
  }
}

template <class T>
void Linear<T>::reset_parameters(std::uint64_t seed) {
  const double bound = 1.0 / std::sqrt(double(in_features));
  fill_uniform(weight.value, bound, seed);
  fill_uniform(bias.value, bound, mix64(seed));
}

template <class T>
std::vector<Param<T>*> Linear<T>::params() {
  weight.name = this->name + ".weight";
  bias.name = this->name + ".bias";
  if (bias.value.numel()) return {&weight, &bias};
  return {&weight};
}

template <class T>
Tensor<T> Linear<T>::forward(const Tensor<T>& x, bool training) {
  check_shape(this->name, "input (flatten images first)", x.shape, {-1, in_features});
  const std::int64_t n = x.dim(0), in = in_features, out = out_features;
  const auto& p = precision;
  // With integer codes (nn/product.hpp) the engine multiplies the codes and
  // the result is rescaled; x_ and w_ keep the values for backward.
  const ForwardCodes codes =
      forward_operands(p, a_range, x, weight.value, weight.value.shape, iteration, training, x_, w_);
  stats_.name = this->name;
  stats_.depth = this->depth;
  Tensor<T> yt({out, n});
  const T* w_in = codes.input(codes.w, w_);
  const T* x_in = codes.input(codes.x, x_);
  matmul(p.fwd, MatMul<T>{out, n, in, w_in, in, false, x_in, in, true, yt.ptr(), n},
         draw_key(p.key, iteration, Draw::Fwd), &stats_.fwd,
         product_request(stats_request, this->name, this->depth, "fwd"));
  if constexpr (std::is_same_v<T, float>)
    if (codes.on) rescale_codes(yt.ptr(), 1, out, n, codes.w, codes.x);
  ++stats_.fwd_calls;
  Tensor<T> y({n, out});
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t o = 0; o < out; ++o) y[b * out + o] = yt[o * n + b] + (bias.value.numel() ? bias.value[o] : T(0));
  return y;
}

template <class T>
Tensor<T> Linear<T>::backward(const Tensor<T>& dy) {
  if (x_.numel() == 0) throw std::logic_error(this->name + ": backward before forward");
  const std::int64_t n = x_.dim(0), in = in_features, out = out_features;
  check_shape(this->name, "output gradient", dy.shape, {n, out});
  const auto& p = precision;
  const Tensor<T> e = quantized(p.e, dy, dy.shape, 1, draw_key(p.key, iteration, Draw::E));
  Tensor<T> e_dw;  // bifurcation: its own quantization of dY for dW (stream 1 of E's draw)
  if (p.e_dw) e_dw = quantized(p.e_dw, dy, dy.shape, 1, {draw_key(p.key, iteration, Draw::E).seed, 1});
  const Tensor<T>& ew = p.e_dw ? e_dw : e;

  if (bias.value.numel())
    for (std::int64_t o = 0; o < out; ++o) {
      double sum = 0;  // a reduction outside the engine: kept in fp64
      for (std::int64_t b = 0; b < n; ++b) sum += ew[b * out + o];
      bias.grad[o] += T(sum);
    }

  Tensor<T> dw({out, in});
  matmul(p.bwd_weight, MatMul<T>{out, in, n, ew.ptr(), out, true, x_.ptr(), in, false, dw.ptr(), in},
         draw_key(p.key, iteration, Draw::BwdWeight), &stats_.bwd_weight,
         product_request(stats_request, this->name, this->depth, "bwd_weight"));
  ++stats_.bwd_weight_calls;
  const Tensor<T> gw = quantized(p.g, dw, dw.shape, 0, draw_key(p.key, iteration, Draw::G));
  for (std::int64_t i = 0; i < gw.numel(); ++i) weight.grad[i] += gw[i];

  Tensor<T> dx;
  if (compute_input_grad) {
    Tensor<T> dxt({in, n});
    matmul(p.bwd_data, MatMul<T>{in, n, out, w_.ptr(), in, true, e.ptr(), out, true, dxt.ptr(), n},
           draw_key(p.key, iteration, Draw::BwdData), &stats_.bwd_data,
           product_request(stats_request, this->name, this->depth, "bwd_data"));
    ++stats_.bwd_data_calls;
    dx = Tensor<T>({n, in});
    for (std::int64_t b = 0; b < n; ++b)
      for (std::int64_t i = 0; i < in; ++i) dx[b * in + i] = dxt[i * n + b];
  }
  ++iteration;
  return dx;
}

template class Linear<float>;
template class Linear<double>;

}  // namespace lpsim::nn
