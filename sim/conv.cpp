#include "sim/conv.hpp"

#include <omp.h>

#include <algorithm>
#include <exception>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "sim/conv_direct.hpp"
#include "sim/operands.hpp"
#include "sim/gemm.hpp"

namespace lpsim::sim {

void ConvShape::check() const {
  auto bad = [](const std::string& why) { throw std::invalid_argument("conv2d: " + why); };
  if (batch < 1 || cin < 1 || h < 1 || w < 1 || cout < 1 || kh < 1 || kw < 1) bad("sizes must be positive");
  if (stride_h < 1 || stride_w < 1 || pad_h < 0 || pad_w < 0) bad("strides must be positive, padding not negative");
  if (groups < 1 || cin % groups || cout % groups)
    bad("groups=" + std::to_string(groups) + " must divide cin=" + std::to_string(cin) + " and cout=" +
        std::to_string(cout));
  if (h + 2 * pad_h < kh || w + 2 * pad_w < kw)
    bad("kernel " + std::to_string(kh) + "x" + std::to_string(kw) + " larger than the padded input " +
        std::to_string(h + 2 * pad_h) + "x" + std::to_string(w + 2 * pad_w));
}

namespace {

// The output positions o in [0, out) whose input position o*stride - pad + off
// lies in [0, size): [lo, hi), empty when lo >= hi.
void inside(std::int64_t out, std::int64_t stride, std::int64_t pad, std::int64_t off, std::int64_t size,
            std::int64_t& lo, std::int64_t& hi) {
  const std::int64_t first = pad - off, end = size + pad - off;  // o*stride in [first, end)
  lo = first > 0 ? (first + stride - 1) / stride : 0;
  hi = end > 0 ? (end + stride - 1) / stride : 0;
  lo = std::min(lo, out);
  hi = std::max(lo, std::min(hi, out));
}

}  // namespace

void im2col(const ConvShape& s, const float* x, std::int64_t g, float* cols) {
  const std::int64_t cg = s.cin / s.groups, oh = s.out_h(), ow = s.out_w(), plane = oh * ow;
  const std::int64_t ncol = s.batch * plane, rows = cg * s.kh * s.kw;
  // One task per (row, image): the interior of each output row is a (strided)
  // copy, the rows and columns falling into the padding are zeros.
#pragma omp parallel for schedule(static) if (rows * ncol > (1 << 15))
  for (std::int64_t t = 0; t < rows * s.batch; ++t) {
    const std::int64_t row = t / s.batch, b = t % s.batch;
    const std::int64_t ci = row / (s.kh * s.kw), r = row / s.kw % s.kh, c = row % s.kw;
    const float* in = x + (b * s.cin + g * cg + ci) * s.h * s.w;
    float* out = cols + row * ncol + b * plane;
    std::int64_t ylo, yhi, xlo, xhi;
    inside(oh, s.stride_h, s.pad_h, r, s.h, ylo, yhi);
    inside(ow, s.stride_w, s.pad_w, c, s.w, xlo, xhi);
    std::fill(out, out + ylo * ow, 0.f);
    for (std::int64_t y = ylo; y < yhi; ++y) {
      float* o = out + y * ow;
      const float* src = in + (y * s.stride_h - s.pad_h + r) * s.w;
      const std::int64_t shift = c - s.pad_w;  // input column of output column xo: xo*stride + shift
      std::fill(o, o + xlo, 0.f);
      if (s.stride_w == 1) std::copy(src + xlo + shift, src + xhi + shift, o + xlo);
      else
        for (std::int64_t xo = xlo; xo < xhi; ++xo) o[xo] = src[xo * s.stride_w + shift];
      std::fill(o + xhi, o + ow, 0.f);
    }
    std::fill(out + yhi * ow, out + plane, 0.f);
  }
}

void col2im_add(const ConvShape& s, const float* cols, std::int64_t g, float* dx) {
  const std::int64_t cg = s.cin / s.groups, oh = s.out_h(), ow = s.out_w(), plane = oh * ow;
  const std::int64_t ncol = s.batch * plane;
#pragma omp parallel for schedule(static) if (cg * s.kh * s.kw * ncol > (1 << 15))
  for (std::int64_t t = 0; t < s.batch * cg; ++t) {
    const std::int64_t b = t / cg, ci = t % cg;
    float* out = dx + (b * s.cin + g * cg + ci) * s.h * s.w;
    for (std::int64_t r = 0; r < s.kh; ++r)
      for (std::int64_t c = 0; c < s.kw; ++c) {
        const float* row = cols + ((ci * s.kh + r) * s.kw + c) * ncol + b * plane;
        std::int64_t ylo, yhi, xlo, xhi;
        inside(oh, s.stride_h, s.pad_h, r, s.h, ylo, yhi);
        inside(ow, s.stride_w, s.pad_w, c, s.w, xlo, xhi);
        const std::int64_t shift = c - s.pad_w;
        for (std::int64_t y = ylo; y < yhi; ++y) {
          float* d = out + (y * s.stride_h - s.pad_h + r) * s.w;
          const float* src = row + y * ow;
          for (std::int64_t xo = xlo; xo < xhi; ++xo) d[xo * s.stride_w + shift] += src[xo];
        }
      }
  }
}

void for_each_group(std::int64_t groups, std::int64_t work, const std::function<void(std::int64_t)>& f) {
  // Many small groups (depthwise): one thread per group, each product serial
  // inside (nested regions run on one thread). Few groups: the products
  // themselves are parallel. Either way group g's result is the same.
  if (groups < 4 || omp_in_parallel() || groups * work < (1 << 16)) {
    for (std::int64_t g = 0; g < groups; ++g) f(g);
    return;
  }
  std::exception_ptr error;
#pragma omp parallel for schedule(dynamic)
  for (std::int64_t g = 0; g < groups; ++g) {
    try {
      f(g);
    } catch (...) {
#pragma omp critical(lpsim_conv_group_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

bool orientation_free(const MacConfig& cfg) {
  auto det = [](const std::optional<Rounded>& r) { return !r || r->rounding.mode != arith::Mode::SR; };
  return det(cfg.a) && det(cfg.b) && det(cfg.product) && cfg.acc.rounding.mode != arith::Mode::SR &&
         det(cfg.outer) && det(cfg.out);
}

MacConfig transposed(const MacConfig& cfg) {
  MacConfig t = cfg;
  std::swap(t.a, t.b);
  return t;
}

namespace {

// Outputs reading each input element: (windows covering it) x (cout per group).
void input_usage(const ConvShape& s, double& mean, double& max) {
  std::vector<std::int64_t> cover(std::size_t(s.h * s.w), 0);
  for (std::int64_t y = 0; y < s.out_h(); ++y)
    for (std::int64_t xo = 0; xo < s.out_w(); ++xo)
      for (std::int64_t r = 0; r < s.kh; ++r)
        for (std::int64_t c = 0; c < s.kw; ++c) {
          const std::int64_t iy = y * s.stride_h - s.pad_h + r, ix = xo * s.stride_w - s.pad_w + c;
          if (iy >= 0 && iy < s.h && ix >= 0 && ix < s.w) ++cover[std::size_t(iy * s.w + ix)];
        }
  const double per = double(s.cout / s.groups);
  double sum = 0, mx = 0;
  for (auto v : cover) sum += double(v), mx = std::max(mx, double(v));
  mean = per * sum / double(cover.size());
  max = per * mx;
}

}  // namespace

void conv2d(const MacConfig& cfg, const ConvShape& s, const float* x, const float* weights, float* y,
            arith::RandomKey key, GemmStats* stats, const StatsRequest& req, bool golden) {
  s.check();
  keep_freed_memory();
  if (!x || !weights || !y) throw std::invalid_argument("conv2d: null input, weights or output");
  const std::int64_t cg = s.cin / s.groups, og = s.cout / s.groups;
  const std::int64_t k = cg * s.kh * s.kw, ncol = s.batch * s.out_h() * s.out_w(), plane = s.out_h() * s.out_w();
  // Few output channels make W_g . cols a thin product that the blocked
  // kernels run slowly; its transpose computes the same dot products (see conv.hpp).
  const bool flip = !golden && orientation_free(cfg);
  const MacConfig tcfg = flip ? transposed(cfg) : cfg;
  std::vector<GemmStats> per_group(stats ? std::size_t(s.groups) : 0);
  auto one_group = [&](std::int64_t g) {
    // Scratch kept between calls: fresh multi-megabyte buffers cost page faults every layer.
    thread_local std::vector<float> cols, out;
    if (cols.size() < std::size_t(k * ncol)) cols.resize(std::size_t(k * ncol));
    if (out.size() < std::size_t(og * ncol)) out.resize(std::size_t(og * ncol));
    im2col(s, x, g, cols.data());
    const float* wg = weights + g * og * k;
    const GemmArgs args = flip ? GemmArgs{ncol, og, k, cols.data(), ncol, true, wg, k, true, out.data(), og}
                               : GemmArgs{og, ncol, k, wg, k, false, cols.data(), ncol, false, out.data(), ncol};
    const arith::RandomKey gk{key.seed, key.stream + std::uint32_t(g)};
    (golden ? gemm_golden : gemm)(tcfg, args, gk, stats ? &per_group[std::size_t(g)] : nullptr, req);
    // Scatter og x (b, oh, ow) (or its transpose) into y (b, cout, oh, ow).
    if (flip && og > 1) {
      const float* res = out.data();  // `out` is thread_local: other threads must see this thread's buffer
#pragma omp parallel for schedule(static) if (og * ncol > (1 << 15))
      for (std::int64_t b = 0; b < s.batch; ++b)
        for (std::int64_t o = 0; o < og; ++o) {
          float* dst = y + (b * s.cout + g * og + o) * plane;
          const float* src = res + b * plane * og + o;
          for (std::int64_t p = 0; p < plane; ++p) dst[p] = src[p * og];
        }
    } else {
      for (std::int64_t o = 0; o < og; ++o)
        for (std::int64_t b = 0; b < s.batch; ++b)
          std::copy_n(out.data() + o * ncol + b * plane, plane, y + (b * s.cout + g * og + o) * plane);
    }
  };
  // The fma-fp32 model on an ungrouped convolution: the same bits without lowering (conv_direct.hpp).
  if (!golden && conv_direct_applies(cfg, s, stats, req)) conv2d_direct(cfg, s, x, weights, y);
  else for_each_group(s.groups, og * ncol * k, one_group);
  GemmStats total;
  for (std::int64_t g = 0; g < std::int64_t(per_group.size()); ++g) {  // in group order: the same sums for any threads
    const GemmStats& gs = per_group[std::size_t(g)];
    total.counts += gs.counts;
    if (gs.has_error) {  // combine per-group errors (max of maxima, mean of means, worst SQNR)
      total.max_rel_error = std::max(total.max_rel_error, gs.max_rel_error);
      total.mean_rel_error += gs.mean_rel_error / double(s.groups);
      total.sqnr_db = g == 0 ? gs.sqnr_db : std::min(total.sqnr_db, gs.sqnr_db);
      total.has_error = true;
    }
  }
  if (stats) {
    const auto counts = total.counts;
    const bool has_error = total.has_error;
    const double mx = total.max_rel_error, mean = total.mean_rel_error, sq = total.sqnr_db;
    *stats = GemmStats{};
    stats->m = s.cout, stats->n = ncol, stats->k = k;
    stats->usage_a = stats->usage_a_max = double(ncol);
    input_usage(s, stats->usage_b, stats->usage_b_max);
    stats->depth = req.depth;
    stats->tag = req.tag;
    stats->counts = counts;
    stats->has_error = has_error;
    stats->max_rel_error = mx, stats->mean_rel_error = mean, stats->sqnr_db = sq;
  }
}

}  // namespace lpsim::sim
