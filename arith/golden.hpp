// The golden model of rounding: slow, scalar, written to be read. Every fast
// path (quantize.cpp) is tested bit for bit against it, and it is tested
// against an exact Boost.Multiprecision oracle (tests/arith).
#pragma once

#include <cstdint>

#include "arith/format.hpp"
#include "arith/rounding.hpp"

namespace lpsim::arith {

// x rounded to `fmt` by `r` (docs/formats.md "Rounding"). Exact for every
// double x: the input is decomposed into integers and rounded once.
// Returns false (and leaves `out` alone) only when x is NaN and the format
// has no NaN code.
bool golden_quantize(double x, const Format& fmt, Rounding r, RandomKey key, std::uint64_t index,
                     double& out);

// The value a result beyond the largest finite value takes (docs/formats.md): the
// modes that round toward the overflow (nearest, stochastic, and the directed
// mode pointing away from zero) give infinity, NaN where the format has no
// infinity, the largest finite value where it has neither or with :sat; the
// other modes give the largest finite value.
double overflow_value(const Format& fmt, Mode mode, bool negative);

// Parity of the magnitude code of the value n * 2^qe of a Float format, where
// n is the integer significand at quantum 2^qe. Magnitude codes are
// consecutive integers, so of two neighbours one is even: that one wins a
// tie under RNE, the other is taken by RO. For M >= 1 this is the mantissa
// LSB; for M = 0 it is the LSB of the biased exponent.
inline bool code_is_odd(const Format& f, std::uint64_t n, int qe) {
  if (f.man_bits > 0 || n == 0) return n & 1;
  return ((qe - f.emin() + 1) & 1) != 0;  // biased exponent field of 2^qe (n == 1)
}

// Stochastic rounding decision: is U < rem / 2^s, with U uniform on [0, 1)
// drawn as 64-bit words from (key, index)? sr_bits == 0 compares exactly,
// word by word; sr_bits = k compares k random bits with the fraction
// truncated to k bits.
bool sr_rounds_up(std::uint64_t rem, int s, int sr_bits, RandomKey key, std::uint64_t index);

}  // namespace lpsim::arith
