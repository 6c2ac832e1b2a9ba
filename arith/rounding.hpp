// Rounding modes and the counter-based random bits of stochastic rounding.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace lpsim::arith {

enum class Mode : std::uint8_t {
  RNE,  // nearest, ties to the even code
  RNA,  // nearest, ties away from zero
  RZ,   // toward zero
  RU,   // toward +infinity
  RD,   // toward -infinity
  RO,   // round to odd: inexact results take the neighbour with an odd code
  SR,   // stochastic: P(away from zero) = exact distance fraction (sr_bits == 0)
        // or that fraction truncated to sr_bits bits (sr<k>)
};

struct Rounding {
  Mode mode = Mode::RNE;
  int sr_bits = 0;  // SR only: 0 = exact, else k in [1, 64]
  std::string spelling() const;
  bool operator==(const Rounding&) const = default;
};

// "rne", "rna", "rz", "ru", "rd", "ro", "sr", "sr<k>". Throws std::invalid_argument quoting s.
Rounding parse_rounding(std::string_view s);

// Where stochastic rounding draws its bits: element `index` of stream `stream`
// under `seed`. The bits depend on nothing else (not threads, not tiling).
struct RandomKey {
  std::uint64_t seed = 0;
  std::uint32_t stream = 0;
};

}  // namespace lpsim::arith
