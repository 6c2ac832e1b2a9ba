// Quantization of scalars and contiguous arrays: the public entry points.
// Values stay in float/double holding exactly a number of the format.
#pragma once

#include <cstddef>
#include <cstdint>

#include "arith/format.hpp"
#include "arith/rounding.hpp"

namespace lpsim::arith {

// x rounded to `fmt` by `r`. Stochastic rounding draws the random bits of
// element `index` of `key`. Throws std::invalid_argument when the format's
// values are not all representable in the argument type (e.g. e11m10 in
// float) or the format is a scaled one; std::domain_error naming `index`
// when x is NaN and the format has no NaN code.
float quantize(float x, const Format& fmt, Rounding r = {}, RandomKey key = {}, std::uint64_t index = 0);
double quantize(double x, const Format& fmt, Rounding r = {}, RandomKey key = {}, std::uint64_t index = 0);

// out[i] = quantize(in[i], ..., index0 + i) for i < n; in == out is allowed.
// Vectorised and parallel (OpenMP); bit-identical to the golden model for
// any thread count. A NaN that the format cannot hold is reported with the
// first offending index (std::domain_error).
void quantize(const float* in, float* out, std::size_t n, const Format& fmt, Rounding r = {},
              RandomKey key = {}, std::uint64_t index0 = 0);
void quantize(const double* in, double* out, std::size_t n, const Format& fmt, Rounding r = {},
              RandomKey key = {}, std::uint64_t index0 = 0);

// Same contract through the golden model only (slow; for tests and checks).
void quantize_golden(const double* in, double* out, std::size_t n, const Format& fmt, Rounding r = {},
                     RandomKey key = {}, std::uint64_t index0 = 0);

}  // namespace lpsim::arith
