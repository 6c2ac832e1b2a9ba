// Rounding one exact value into an engine format, with the event counts.
#pragma once

#include <cmath>
#include <stdexcept>

#include "arith/golden.hpp"
#include "sim/mac_config.hpp"
#include "sim/stats.hpp"

namespace lpsim::sim {

// Out-of-range: the exact value lies beyond [lowest, max_finite].
inline bool out_of_range(double x, const arith::Format& f) {
  return f.kind == arith::Kind::Fixed ? (x > f.max_finite() || x < f.lowest()) : std::fabs(x) > f.max_finite();
}

inline void count_range(double x, double out, const arith::Format& f, MacCounts& c) {
  if (!std::isfinite(x) || !out_of_range(x, f)) return;
  const bool clamped = std::isfinite(out) && !(f.kind == arith::Kind::Fixed && f.wrap);
  (clamped ? c.saturations : c.overflows) += 1;
}

// x is exact, or rounded to odd at double precision (exact_round.hpp).
inline double round_into(double x, const Rounded& r, arith::RandomKey key, std::uint64_t index, MacCounts& c) {
  double out;
  if (!arith::golden_quantize(x, r.format, r.rounding, key, index, out))
    throw std::domain_error("NaN reached the fixed-point format \"" + r.format.spelling + "\" in a MAC");
  count_range(x, out, r.format, c);
  return out;
}

}  // namespace lpsim::sim
