#include "sim/conv.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

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

void im2col(const ConvShape& s, const float* x, std::int64_t g, float* cols) {
  const std::int64_t cg = s.cin / s.groups, oh = s.out_h(), ow = s.out_w();
  const std::int64_t ncol = s.batch * oh * ow;
#pragma omp parallel for collapse(2) schedule(static) if (cg * s.kh * s.kw * ncol > (1 << 16))
  for (std::int64_t ci = 0; ci < cg; ++ci)
    for (std::int64_t r = 0; r < s.kh; ++r)
      for (std::int64_t c = 0; c < s.kw; ++c) {
        float* row = cols + ((ci * s.kh + r) * s.kw + c) * ncol;
        for (std::int64_t b = 0; b < s.batch; ++b) {
          const float* plane = x + (b * s.cin + g * cg + ci) * s.h * s.w;
          for (std::int64_t y = 0; y < oh; ++y) {
            const std::int64_t iy = y * s.stride_h - s.pad_h + r;
            for (std::int64_t xo = 0; xo < ow; ++xo) {
              const std::int64_t ix = xo * s.stride_w - s.pad_w + c;
              const bool in = iy >= 0 && iy < s.h && ix >= 0 && ix < s.w;
              row[(b * oh + y) * ow + xo] = in ? plane[iy * s.w + ix] : 0.f;
            }
          }
        }
      }
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
  if (!x || !weights || !y) throw std::invalid_argument("conv2d: null input, weights or output");
  const std::int64_t cg = s.cin / s.groups, og = s.cout / s.groups;
  const std::int64_t k = cg * s.kh * s.kw, ncol = s.batch * s.out_h() * s.out_w(), plane = s.out_h() * s.out_w();
  // Scratch kept between calls: fresh multi-megabyte buffers cost page faults every layer.
  thread_local std::vector<float> cols, out;
  if (cols.size() < std::size_t(k * ncol)) cols.resize(std::size_t(k * ncol));
  if (out.size() < std::size_t(og * ncol)) out.resize(std::size_t(og * ncol));
  GemmStats total;
  for (std::int64_t g = 0; g < s.groups; ++g) {
    im2col(s, x, g, cols.data());
    const GemmArgs args{og, ncol, k, weights + g * og * k, k, false, cols.data(), ncol, false, out.data(), ncol};
    GemmStats gs;
    const arith::RandomKey gk{key.seed, key.stream + std::uint32_t(g)};
    (golden ? gemm_golden : gemm)(cfg, args, gk, stats ? &gs : nullptr, req);
    if (stats) {
      total.counts += gs.counts;
      if (gs.has_error) {  // combine per-group errors (max of maxima, mean of means, worst SQNR)
        total.max_rel_error = std::max(total.max_rel_error, gs.max_rel_error);
        total.mean_rel_error += gs.mean_rel_error / double(s.groups);
        total.sqnr_db = g == 0 ? gs.sqnr_db : std::min(total.sqnr_db, gs.sqnr_db);
        total.has_error = true;
      }
    }
    // Scatter og x (b, oh, ow) into y (b, cout, oh, ow).
    for (std::int64_t o = 0; o < og; ++o)
      for (std::int64_t b = 0; b < s.batch; ++b)
        std::copy_n(out.data() + o * ncol + b * plane, plane, y + (b * s.cout + g * og + o) * plane);
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
