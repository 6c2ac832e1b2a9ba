#include "nn/product.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "nn/init.hpp"
#include "sim/gemm.hpp"

namespace lpsim::nn {

void matmul(const sim::MacConfig& cfg, const MatMul<float>& p, arith::RandomKey key, sim::GemmStats* stats,
            const sim::StatsRequest& req) {
  const sim::GemmArgs g{p.m, p.n, p.k, p.a, p.lda, p.trans_a, p.b, p.ldb, p.trans_b, p.c, p.ldc};
  sim::gemm(cfg, g, key, stats, req);
}

void matmul(const sim::MacConfig&, const MatMul<double>& p, arith::RandomKey, sim::GemmStats* stats,
            const sim::StatsRequest& req) {
  for (std::int64_t i = 0; i < p.m; ++i)
    for (std::int64_t j = 0; j < p.n; ++j) {
      double s = 0;
      for (std::int64_t l = 0; l < p.k; ++l)
        s += (p.trans_a ? p.a[l * p.lda + i] : p.a[i * p.lda + l]) * (p.trans_b ? p.b[j * p.ldb + l] : p.b[l * p.ldb + j]);
      p.c[i * p.ldc + j] = s;
    }
  if (stats) {
    *stats = sim::GemmStats{};
    stats->m = p.m, stats->n = p.n, stats->k = p.k;
    stats->usage_a = stats->usage_a_max = double(p.n);
    stats->usage_b = stats->usage_b_max = double(p.m);
    stats->depth = req.depth;
    stats->tag = req.tag;
  }
}

arith::RandomKey draw_key(arith::RandomKey layer, std::uint64_t iteration, Draw d) {
  const std::uint64_t step = mix64(iteration * 8 + std::uint64_t(d));
  return {mix64(layer.seed ^ mix64(std::uint64_t(layer.stream) ^ step)), 0};
}

template <class T>
Tensor<T> quantized(const std::optional<QuantSpec>& spec, const Tensor<T>& t, const Shape& view, int channel_axis,
                    arith::RandomKey key, ScaledCodes* codes, const std::optional<TensorRange>& range) {
  if (numel(view) != t.numel())
    throw std::invalid_argument("quantized: view " + shape_str(view) + " of a tensor of shape " + shape_str(t.shape));
  Tensor<T> out;
  copy_into(out, t);
  if constexpr (std::is_same_v<T, float>) {
    if (spec) quantize_tensor(*spec, t.ptr(), out.ptr(), view, channel_axis, key, codes, range ? &*range : nullptr);
    else if (codes) codes->code.assign(t.ptr(), t.ptr() + t.numel()), codes->scale.assign(1, 1.0);
  } else {
    if (codes || range) throw std::logic_error("quantized: integer codes or a range for the fp64 reference");
    (void)spec, (void)view, (void)channel_axis, (void)key;
  }
  return out;
}
template Tensor<float> quantized(const std::optional<QuantSpec>&, const Tensor<float>&, const Shape&, int,
                                 arith::RandomKey, ScaledCodes*, const std::optional<TensorRange>&);
template Tensor<double> quantized(const std::optional<QuantSpec>&, const Tensor<double>&, const Shape&, int,
                                  arith::RandomKey, ScaledCodes*, const std::optional<TensorRange>&);

std::optional<TensorRange> activation_range(RunningRange& r, const LayerPrecision& p, const Tensor<float>& x,
                                            bool training) {
  if (!p.a_running_range || !p.a || p.a->format.kind != arith::Kind::Scaled) return std::nullopt;
  float& zero_point = r.state[0];
  float& range = r.state[1];
  if (!training) return TensorRange{double(zero_point), double(zero_point) + double(range)};
  float mn = INFINITY, mx = -INFINITY;
#pragma omp parallel for reduction(min : mn) reduction(max : mx) schedule(static) if (x.numel() > (1 << 15))
  for (std::int64_t i = 0; i < x.numel(); ++i) mn = std::min(mn, x[i]), mx = std::max(mx, x[i]);
  if (!(std::isfinite(mn) && std::isfinite(mx))) return std::nullopt;  // the quantizer names the bad element
  const float keep = p.a_range_momentum, take = 1.0f - p.a_range_momentum;
  zero_point = zero_point * keep + mn * take;
  range = range * keep + (mx - mn) * take;
  return std::nullopt;
}

template <class T>
ForwardCodes forward_operands(const LayerPrecision& p, RunningRange& range, const Tensor<T>& x, const Tensor<T>& w,
                              const Shape& w_view, std::uint64_t iteration, bool training, Tensor<T>& x_out,
                              Tensor<T>& w_out) {
  ForwardCodes c;
  std::optional<TensorRange> a_range;
  if constexpr (std::is_same_v<T, float>) {
    c.on = forward_in_codes(p.fwd, p.w, p.a);
    a_range = activation_range(range, p, x, training);
  } else {
    (void)range, (void)training;
  }
  if (p.a || c.on) x_out = quantized(p.a, x, x.shape, 1, draw_key(p.key, iteration, Draw::A), c.on ? &c.x : nullptr, a_range);
  else copy_into(x_out, x);  // kept for backward
  w_out = quantized(p.w, w, w_view, 0, draw_key(p.key, iteration, Draw::W), c.on ? &c.w : nullptr);
  return c;
}
template ForwardCodes forward_operands(const LayerPrecision&, RunningRange&, const Tensor<float>&, const Tensor<float>&,
                                       const Shape&, std::uint64_t, bool, Tensor<float>&, Tensor<float>&);
template ForwardCodes forward_operands(const LayerPrecision&, RunningRange&, const Tensor<double>&,
                                       const Tensor<double>&, const Shape&, std::uint64_t, bool, Tensor<double>&,
                                       Tensor<double>&);

bool computes_in_fixed_point(const sim::MacConfig& cfg) {
  auto fixed = [](const std::optional<sim::Rounded>& r) { return r && r->format.kind == arith::Kind::Fixed; };
  return fixed(cfg.a) || fixed(cfg.b) || cfg.acc.format.kind == arith::Kind::Fixed;
}

bool forward_in_codes(const sim::MacConfig& fwd, const std::optional<QuantSpec>& w, const std::optional<QuantSpec>& a) {
  auto scaled = [](const std::optional<QuantSpec>& q) { return q && q->format.kind == arith::Kind::Scaled; };
  return computes_in_fixed_point(fwd) && (scaled(w) || scaled(a));
}

std::string code_product_problem(const sim::MacConfig& fwd, const std::optional<QuantSpec>& w,
                                 const std::optional<QuantSpec>& a) {
  using Group = arith::ScaledSpec::Group;
  struct Side {
    const char* name;
    const std::optional<QuantSpec>& q;
    const std::optional<sim::Rounded>& mac;
    bool channel_ok;  // W's channel is the output row; A's is part of the reduction
  };
  for (const Side& s : {Side{"W", w, fwd.a, true}, Side{"A", a, fwd.b, false}}) {
    if (!s.q) continue;  // fp32 values: the MAC's operand format (if any) rounds them, scale 1
    const arith::Format& f = s.q->format;
    const auto range = code_range(f);
    if (!range) return std::string(s.name) + "'s format " + f.spelling + " has no integer codes";
    const bool along_k = f.kind == arith::Kind::Scaled &&
                         (f.scaled.group == Group::Block || (f.scaled.group == Group::Channel && !s.channel_ok));
    if (along_k)
      return std::string(s.name) + "'s format " + f.spelling +
             " has scales that change along the reduction (use per-tensor scales" +
             (s.channel_ok ? " or per-channel" : "") + ")";
    if (s.mac && (s.mac->format.kind != arith::Kind::Fixed || s.mac->format.lowest() > range->first ||
                  s.mac->format.max_finite() < range->second))
      return std::string(s.name) + "'s codes of " + f.spelling + " span [" + std::to_string(long(range->first)) + ", " +
             std::to_string(long(range->second)) + "], outside the MAC's operand format " + s.mac->format.spelling;
  }
  return {};
}

void rescale_codes(float* y, std::int64_t outer, std::int64_t rows, std::int64_t inner, const ScaledCodes& w,
                   const ScaledCodes& a) {
  if (a.scale.size() != 1 || (w.scale.size() != 1 && std::int64_t(w.scale.size()) != rows))
    throw std::logic_error("rescale_codes: " + std::to_string(w.scale.size()) + " weight and " +
                           std::to_string(a.scale.size()) + " activation scales for " + std::to_string(rows) + " rows");
#pragma omp parallel for collapse(2) schedule(static) if (outer * rows * inner > (1 << 15))
  for (std::int64_t b = 0; b < outer; ++b)
    for (std::int64_t o = 0; o < rows; ++o) {
      const double s = w.scale[w.scale.size() == 1 ? 0 : std::size_t(o)] * a.scale[0];
      float* row = y + (b * rows + o) * inner;
      for (std::int64_t q = 0; q < inner; ++q) row[q] = float(double(row[q]) * s);
    }
}

sim::StatsRequest product_request(const sim::StatsRequest& base, const std::string& name, int depth,
                                  const char* kind) {
  sim::StatsRequest r = base;
  r.depth = depth;
  r.tag = name + "/" + kind;
  return r;
}

void add_group_stats(sim::GemmStats& total, const sim::GemmStats& group, std::int64_t g, std::int64_t groups) {
  if (g == 0) {
    total = group;
    total.mean_rel_error = group.mean_rel_error / double(groups);
    return;
  }
  total.counts += group.counts;
  if (group.has_error) {
    total.max_rel_error = std::max(total.max_rel_error, group.max_rel_error);
    total.mean_rel_error += group.mean_rel_error / double(groups);
    total.sqnr_db = total.has_error ? std::min(total.sqnr_db, group.sqnr_db) : group.sqnr_db;
    total.has_error = true;
  }
}

}  // namespace lpsim::nn
