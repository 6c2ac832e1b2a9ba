// The golden GEMM: every output through dot_golden, one at a time.
#include "sim/dot.hpp"
#include "sim/gemm.hpp"
#include "sim/operands.hpp"

#include <vector>

namespace lpsim::sim {

void gemm_golden(const MacConfig& cfg, const GemmArgs& g, arith::RandomKey key, GemmStats* stats,
                 const StatsRequest& req) {
  check_args(g);
  const Operands ops = pack_operands(cfg, g, key, /*golden=*/true);
  const std::vector<double> a(ops.a.begin(), ops.a.end()), b(ops.b.begin(), ops.b.end());
  MacCounts counts;
  for (std::int64_t i = 0; i < g.m; ++i)
    for (std::int64_t j = 0; j < g.n; ++j) {
      const OutputSlot slot{std::uint64_t(i * g.n + j), std::uint64_t(g.m * g.n)};
      double c;
      const double* addend = ops.addend(i, j, c);
      const TermScales ts = ops.scales(i, j, cfg.block);
      g.c[i * g.ldc + j] = float(dot_golden(cfg, a.data() + i * g.k, b.data() + j, g.n, g.k, key, slot, counts,
                                            addend, ops.scales_or_null(ts)));
    }
  if (stats) {
    *stats = shape_stats(g, req);
    stats->counts = counts;
    if (req.error) error_stats(cfg, ops, g, *stats);
  }
}

}  // namespace lpsim::sim
