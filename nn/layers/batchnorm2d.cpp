#include "nn/layers/batchnorm2d.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>

namespace lpsim::nn {

NormKind parse_norm(const std::string& s) {
  if (s == "batch") return NormKind::Batch;
  if (s == "range") return NormKind::Range;
  throw std::invalid_argument("unknown normalisation \"" + s + "\" (batch, range)");
}

namespace {

// Per-channel sums over (b, q) of f(x) for up to four channels side by side,
// each still one fp64 chain in (b, q) order: the same bits as one channel at a
// time, but four independent chains keep the adder busy where one waits for
// its own latency (BatchNorm's sums were a tenth of a ResNet training step).
// f(j, u, v) is the term of channel ch0 + j for the elements u of x and v of z
// at one position (z is x when a sum needs one tensor).
template <class T, class F>
void channel_sums(const T* x, const T* z, std::int64_t n, std::int64_t c, std::int64_t plane, std::int64_t ch0,
                  std::int64_t g, F f, double* out) {
  // A group of fewer than four repeats its last channel; the copies are discarded.
  const std::int64_t o1 = std::min<std::int64_t>(1, g - 1) * plane, o2 = std::min<std::int64_t>(2, g - 1) * plane,
                     o3 = std::min<std::int64_t>(3, g - 1) * plane;
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (std::int64_t b = 0; b < n; ++b) {
    const T* p = x + (b * c + ch0) * plane;
    const T* r = z + (b * c + ch0) * plane;
    for (std::int64_t q = 0; q < plane; ++q) {
      s0 += f(0, p[q], r[q]), s1 += f(1, p[o1 + q], r[o1 + q]);
      s2 += f(2, p[o2 + q], r[o2 + q]), s3 += f(3, p[o3 + q], r[o3 + q]);
    }
  }
  const double all[4] = {s0, s1, s2, s3};
  for (std::int64_t j = 0; j < g; ++j) out[j] = all[j];
}

}  // namespace

template <class T>
BatchNorm2d<T>::BatchNorm2d(std::int64_t c, double momentum_, double eps_, NormKind kind_, int range_chunks_)
    : channels(c), momentum(momentum_), eps(eps_), kind(kind_), range_chunks(range_chunks_), running_mean({c}, T(0)),
      running_var({c}, T(1)) {
  if (c < 1 || !(eps_ > 0) || !(momentum_ >= 0 && momentum_ <= 1) || range_chunks_ < 1)
    throw std::invalid_argument("BatchNorm2d(channels=" + std::to_string(c) + ", momentum=" + std::to_string(momentum_) +
                                ", eps=" + std::to_string(eps_) + ", range_chunks=" + std::to_string(range_chunks_) +
                                "): need channels >= 1, 0 <= momentum <= 1, eps > 0, range_chunks >= 1");
  gamma.value = Tensor<T>({c}, T(1));
  gamma.grad = Tensor<T>({c});
  beta.value = Tensor<T>({c});
  beta.grad = Tensor<T>({c});
  gamma.decay = beta.decay = false;
}

template <class T>
std::vector<Param<T>*> BatchNorm2d<T>::params() {
  gamma.name = this->name + ".weight";
  beta.name = this->name + ".bias";
  return {&gamma, &beta};
}

template <class T>
Tensor<T> BatchNorm2d<T>::forward(const Tensor<T>& x, bool training) {
  check_shape(this->name, "input", x.shape, {-1, channels, -1, -1});
  const std::int64_t n = x.dim(0), c = channels, plane = x.dim(2) * x.dim(3), count = n * plane;
  if (training && count < 2)
    throw std::invalid_argument(this->name + ": training needs more than one value per channel, input " +
                                shape_str(x.shape));
  const bool range = kind == NormKind::Range;
  const std::int64_t chunks = range_chunks;
  if (range && training && count < 2 * chunks)
    throw std::invalid_argument(this->name + ": Range BatchNorm needs at least 2 values per chunk (" +
                                std::to_string(chunks) + " chunks), input " + shape_str(x.shape));
  training_ = training;
  x_hat_.shape = x.shape;
  x_hat_.data.resize(x.data.size());  // every element written below
  inv_std_.assign(std::size_t(c), 0);
  if (range && training) {
    arg_max_.assign(std::size_t(c * chunks), 0);
    arg_min_.assign(std::size_t(c * chunks), 0);
    range_grad_.assign(std::size_t(c), 0);
  }
  // Range BN's C(n) of the authors' code, n the chunk size.
  const double scale_fix = range && training
                               ? 0.5 * 0.35 * (1 + std::sqrt(std::numbers::pi * std::log(4.0))) /
                                     std::sqrt(2 * std::log(double(count / chunks)))
                               : 0;
  auto y = Tensor<T>::uninitialized(x.shape);  // every element written below
  // Batch statistics: the sum, then the sum of squared deviations from the
  // mean, four channels at a time (channel_sums).
  std::vector<double> batch_sum(static_cast<std::size_t>(c)), batch_sq(static_cast<std::size_t>(c));
  if (training && !range) {
    const T* xd = x.ptr();
#pragma omp parallel for schedule(static) if (x.numel() > (1 << 15))
    for (std::int64_t ch0 = 0; ch0 < c; ch0 += 4) {
      const std::int64_t g = std::min<std::int64_t>(4, c - ch0);
      double* sum = batch_sum.data() + ch0;
      channel_sums(xd, xd, n, c, plane, ch0, g, [](int, T v, T) { return double(v); }, sum);
      double mean[4] = {0, 0, 0, 0};
      for (std::int64_t j = 0; j < g; ++j) mean[j] = sum[j] / double(count);
      channel_sums(
          xd, xd, n, c, plane, ch0, g,
          [&mean](int j, T v, T) {
            const double d = v - mean[j];
            return d * d;
          },
          batch_sq.data() + ch0);
    }
  }
  // Channels are independent and each one's sums run in a fixed order: any thread count gives the same bits.
#pragma omp parallel for schedule(static) if (x.numel() > (1 << 15))
  for (std::int64_t ch = 0; ch < c; ++ch) {
    double mean, var, inv;
    if (range && training) {
      double sum = 0, sum_max = 0, sum_min = 0;
      for (std::int64_t j = 0; j < chunks; ++j) {
        // element e of the channel (b, q) = (e / plane, e % plane); chunk j is [j count / chunks, (j+1) count / chunks)
        const std::int64_t e0 = j * count / chunks, e1 = (j + 1) * count / chunks;
        std::int64_t imax = -1, imin = -1;
        double vmax = -INFINITY, vmin = INFINITY;
        for (std::int64_t e = e0; e < e1; ++e) {
          const std::int64_t i = ((e / plane) * c + ch) * plane + e % plane;
          const double v = x[i];
          sum += v;
          if (v > vmax) vmax = v, imax = i;
          if (v < vmin) vmin = v, imin = i;
        }
        arg_max_[std::size_t(ch * chunks + j)] = imax;
        arg_min_[std::size_t(ch * chunks + j)] = imin;
        sum_max += vmax, sum_min += vmin;
      }
      mean = sum / double(count);
      const double s = (sum_max - sum_min) / double(chunks) * scale_fix;
      range_grad_[std::size_t(ch)] = scale_fix / double(chunks);  // ds / dx at a chunk's maximum (minus at its minimum)
      running_mean[ch] = T(momentum * running_mean[ch] + (1 - momentum) * mean);
      running_var[ch] = T(momentum * running_var[ch] + (1 - momentum) * s);
      inv = 1 / (s + eps);
    } else if (range) {
      mean = running_mean[ch];
      inv = 1 / (double(running_var[ch]) + eps);
    } else if (training) {
      const double sq = batch_sq[std::size_t(ch)];
      mean = batch_sum[std::size_t(ch)] / double(count);
      var = sq / double(count);
      running_mean[ch] = T((1 - momentum) * running_mean[ch] + momentum * mean);
      running_var[ch] = T((1 - momentum) * running_var[ch] + momentum * sq / double(count - 1));
      inv = 1 / std::sqrt(var + eps);
    } else {
      mean = running_mean[ch];
      var = running_var[ch];
      inv = 1 / std::sqrt(var + eps);
    }
    inv_std_[std::size_t(ch)] = inv;
    const T gm = gamma.value[ch], bt = beta.value[ch];  // locals and raw pointers: a vectorised loop
    for (std::int64_t b = 0; b < n; ++b) {
      const std::int64_t at = (b * c + ch) * plane;
      const T* xp = x.ptr() + at;
      T* hp = x_hat_.ptr() + at;
      T* yp = y.ptr() + at;
      for (std::int64_t q = 0; q < plane; ++q) {
        const T h = T((xp[q] - mean) * inv);
        hp[q] = h;
        yp[q] = gm * h + bt;
      }
    }
  }
  return y;
}

template <class T>
Tensor<T> BatchNorm2d<T>::backward(const Tensor<T>& dy) {
  if (x_hat_.numel() == 0) throw std::logic_error(this->name + ": backward before forward");
  check_shape(this->name, "output gradient", dy.shape, x_hat_.shape);
  const std::int64_t n = dy.dim(0), c = channels, plane = dy.dim(2) * dy.dim(3);
  const double count = double(n * plane);
  auto dx = Tensor<T>::uninitialized(dy.shape);  // every element written below
  // Per channel, the sums of dy and of dy x_hat, four channels at a time (channel_sums).
  std::vector<double> sums_dy(static_cast<std::size_t>(c)), sums_dy_xhat(static_cast<std::size_t>(c));
  const T* dyd = dy.ptr();
  const T* hd = x_hat_.ptr();
#pragma omp parallel for schedule(static) if (dy.numel() > (1 << 15))
  for (std::int64_t ch0 = 0; ch0 < c; ch0 += 4) {
    const std::int64_t g = std::min<std::int64_t>(4, c - ch0);
    channel_sums(dyd, dyd, n, c, plane, ch0, g, [](int, T v, T) { return double(v); }, sums_dy.data() + ch0);
    channel_sums(dyd, hd, n, c, plane, ch0, g, [](int, T v, T h) { return double(v) * h; }, sums_dy_xhat.data() + ch0);
  }
#pragma omp parallel for schedule(static) if (dy.numel() > (1 << 15))
  for (std::int64_t ch = 0; ch < c; ++ch) {
    const double sum_dy = sums_dy[std::size_t(ch)], sum_dy_xhat = sums_dy_xhat[std::size_t(ch)];
    gamma.grad[ch] += T(sum_dy_xhat);
    beta.grad[ch] += T(sum_dy);
    const double g_inv = double(gamma.value[ch]) * inv_std_[std::size_t(ch)];
    if (kind == NormKind::Range && training_) {
      // y = gamma (x - m) inv + beta with inv = 1/(s + eps): through m, the
      // (g - mean g) term; through s, -gamma inv sum(g x_hat) ds/dx, with
      // ds/dx = +-C/chunks at each chunk's maximum/minimum.
      for (std::int64_t b = 0; b < n; ++b)
        for (std::int64_t q = 0; q < plane; ++q) {
          const std::int64_t i = (b * c + ch) * plane + q;
          dx[i] = T(g_inv * (dy[i] - sum_dy / count));
        }
      const double through_s = g_inv * sum_dy_xhat * range_grad_[std::size_t(ch)];
      for (std::int64_t j = 0; j < range_chunks; ++j) {
        const auto k = std::size_t(ch * range_chunks + j);
        dx[arg_max_[k]] = T(double(dx[arg_max_[k]]) - through_s);
        dx[arg_min_[k]] = T(double(dx[arg_min_[k]]) + through_s);
      }
      continue;
    }
    // Train: the batch statistics depend on x too, which removes the
    // gradient's mean and its projection on x_hat. Eval: an affine map.
    const double mean_dy = sum_dy / count;
    for (std::int64_t b = 0; b < n; ++b) {
      const std::int64_t at = (b * c + ch) * plane;
      const T* gp = dyd + at;
      const T* hp = hd + at;
      T* dp = dx.ptr() + at;
      if (training_)
        for (std::int64_t q = 0; q < plane; ++q) dp[q] = T(g_inv * (gp[q] - mean_dy - hp[q] * sum_dy_xhat / count));
      else
        for (std::int64_t q = 0; q < plane; ++q) dp[q] = T(g_inv * gp[q]);
    }
  }
  return dx;
}

template class BatchNorm2d<float>;
template class BatchNorm2d<double>;

}  // namespace lpsim::nn
