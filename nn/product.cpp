#include "nn/product.hpp"

#include <algorithm>
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
                    arith::RandomKey key) {
  if (numel(view) != t.numel())
    throw std::invalid_argument("quantized: view " + shape_str(view) + " of a tensor of shape " + shape_str(t.shape));
  Tensor<T> out = t;
  if constexpr (std::is_same_v<T, float>) {
    if (spec) quantize_tensor(*spec, t.ptr(), out.ptr(), view, channel_axis, key);
  } else {
    (void)spec, (void)view, (void)channel_axis, (void)key;
  }
  return out;
}
template Tensor<float> quantized(const std::optional<QuantSpec>&, const Tensor<float>&, const Shape&, int,
                                 arith::RandomKey);
template Tensor<double> quantized(const std::optional<QuantSpec>&, const Tensor<double>&, const Shape&, int,
                                  arith::RandomKey);

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
