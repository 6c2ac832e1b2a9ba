// Values <-> bit patterns, so test vectors can be exchanged with hardware.
#pragma once

#include <cstdint>

#include "arith/format.hpp"

namespace lpsim::arith {

// Bit pattern (in the low bits()) of v, which must be a value of the format
// (NaN encodes to the format's canonical NaN). Throws std::invalid_argument
// naming the value and format when v is not representable.
std::uint64_t encode(double v, const Format& fmt);

// Value of a bit pattern. Throws std::invalid_argument when the code has bits
// beyond bits(). Under :nosub, subnormal codes decode to zero of their sign
// (+0 for fnuz, which has no -0).
double decode(std::uint64_t code, const Format& fmt);

}  // namespace lpsim::arith
