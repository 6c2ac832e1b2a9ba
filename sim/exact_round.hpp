// One rounding of an exact sum or product, shared by the golden model and the
// fast GEMM so that both round exactly once (docs/design.md: "One rounding").
//
// Why it is exact: s = fl(a + b) and e = (a + b) - s are computed exactly
// (TwoSum). If e != 0 the exact sum lies strictly between two doubles; taking
// the one with an odd last bit (round to odd) keeps the information "not a
// double, and on which side". Rounding that double to any format with at
// least two bits fewer than a double gives the same result as rounding the
// exact sum, in every mode (Boldo & Melquiond, "When double rounding is odd",
// 2005). MacConfig checks the "two bits fewer" condition for every format
// the engine rounds into.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace lpsim::sim {

// The exact a + b rounded to odd at double precision. Finite a, b only.
inline double sum_round_to_odd(double a, double b) {
  const double s = a + b;
  const double bb = s - a;
  const double e = (a - (s - bb)) + (b - bb);  // exact error (TwoSum, Knuth)
  const std::uint64_t u = std::bit_cast<std::uint64_t>(s);
  // Inexact and even: step to the neighbour on the side of the exact value.
  // |s| grows when e has s's sign, so the bit pattern moves by +1, else -1.
  const bool fix = (e != 0) & !(u & 1);
  const bool away = std::signbit(e) == std::signbit(s);
  const std::uint64_t v = fix ? (away ? u + 1 : u - 1) : u;
  return std::bit_cast<double>(v);
}

}  // namespace lpsim::sim
