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

// MacConfig::overflow_inf: `out` is the IEEE rounding of x into r; when x
// rounds (exponent unbounded) beyond the largest finite value of a format
// with infinities, the result is +-inf whatever the mode. The test rounds
// x/2 the same way: halving is exact and commutes with the rounding in the
// top binades (no subnormals there), and it moves the largest finite value
// to max/2, so "beyond max/2" is "beyond max" for the unbounded rounding.
inline double overflow_to_inf(double x, double out, const Rounded& r, arith::RandomKey key, std::uint64_t index) {
  const arith::Format& f = r.format;
  if (!std::isfinite(out) || !std::isfinite(x) || f.kind != arith::Kind::Float || f.saturate || !f.has_inf() ||
      std::fabs(x) <= f.max_finite())
    return out;
  double half = 0;
  arith::golden_quantize(x * 0.5, f, r.rounding, key, index, half);  // a float format: never false
  return std::fabs(half) > f.max_finite() * 0.5 ? std::copysign(INFINITY, x) : out;
}

// x is exact, or rounded to odd at double precision (exact_round.hpp).
inline double round_into(double x, const Rounded& r, arith::RandomKey key, std::uint64_t index, MacCounts& c,
                         bool overflow_inf = false) {
  double out;
  if (!arith::golden_quantize(x, r.format, r.rounding, key, index, out))
    throw std::domain_error("NaN reached the fixed-point format \"" + r.format.spelling + "\" in a MAC");
  if (overflow_inf) out = overflow_to_inf(x, out, r, key, index);
  count_range(x, out, r.format, c);
  return out;
}

}  // namespace lpsim::sim
