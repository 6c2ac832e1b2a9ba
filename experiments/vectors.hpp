// Golden test vectors for RTL (docs/vectors.md): N dot products of K operand
// pairs (and an optional addend) with the result the golden model
// (sim/dot.hpp) gives for a MAC configuration, every value as the bit pattern
// of its format, and per-vector flags of the accumulation's events. Shared by
// `lpsim vectors` (cmd_vectors.cpp writes the files) and lpsim.vectors()
// (python/bind_vectors.cpp), so that both give the same vectors for the same
// arguments. Every random draw is a Philox word of (seed, stream, index):
// independent of the count, of the thread count and of the platform.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "arith/format.hpp"

namespace lpsim::cli {

// The arguments; names and defaults as the CLI's options (--mac, --k, ...).
struct VectorSpec {
  std::string mac = "fp32";
  std::string dist = "mixed";    // codes, finite, normal, subnormals, near-overflow, cancellation, ties, corners, mixed
  std::string addend = "none";   // none, zero, codes, normal, all (every code; only with exhaustive)
  std::int64_t k = 16, count = 1000;
  std::uint64_t seed = 1;
  double scale = 1.0;            // standard deviation of the normal draws
  bool exhaustive = false;       // every operand pair (with addend "all": every triple), K = 1
  bool specials = false;         // inject infinities and NaNs into the drawn operands and normal addends
};

// Bits of the flags byte (TestFloat-style; docs/vectors.md).
enum : std::uint8_t {
  kFlagInexact = 1,
  kFlagUnderflow = 2,
  kFlagOverflow = 4,
  kFlagInvalid = 16,
  kFlagSaturation = 32,
  kFlagSwamped = 64,
  kFlagNaN = 128,
};

// Where a NaN result comes from (column "nan"): the first that applies.
enum : std::uint8_t {
  kNaNNone = 0,      // the result is not NaN
  kNaNOperand = 1,   // an operand or the addend is NaN
  kNaNInfZero = 2,   // a product of an infinity and a zero
  kNaNInfInf = 3,    // infinite terms (products, addend) of both signs
  kNaNOverflow = 4,  // none of these: an overflow gave NaN, or an infinity from an overflow met one of the other sign
};

struct Vectors {
  arith::Format fa, fb, fc;  // operand formats (fp32 where the MAC has none) and the result format
  std::int64_t k = 0, n = 0;
  std::vector<std::uint64_t> a, b, c;  // n x k, n x k, n codes (c = ~0: NaN in a format without NaN)
  std::vector<std::uint64_t> addend;   // n codes of fc with an addend; else empty
  // Per vector, from the golden model's MacCounts of that dot product and an exact sum.
  std::vector<std::uint64_t> overflow, saturation, swamped;
  std::vector<std::uint8_t> inexact, nan, flags;
  std::string header;  // one line: MAC, formats, K, count, seed, distribution, addend
};

// Throws std::invalid_argument naming the bad argument (an unknown
// distribution, a too-large exhaustive request, ...).
Vectors make_vectors(const VectorSpec& spec);

// The documented normal draw (docs/vectors.md): Box-Muller on the two 32-bit
// halves of Philox word 0 of (seed, stream, index), with fixed
// double-precision formulas for the logarithm and the cosine (only IEEE +,
// -, *, / and sqrt, so every platform gives the same bits).
double normal_draw(std::uint64_t seed, std::uint32_t stream, std::uint64_t index);
double fixed_log(double x);     // ln x for x in (0, 1]
double fixed_cos2pi(double u);  // cos(2 pi u) for u in [0, 1)

}  // namespace lpsim::cli
