// Training-cost accounting (docs/design.md "Training cost"): a matrix product
// costs MACs x bits of one operand x bits of the other (the BitOPs of CPT and
// FracTrain); unquantized operands count as 32 bits.
#pragma once

#include <cstdint>

#include "sim/mac_config.hpp"

namespace lpsim::sim {

inline int operand_bits(const std::optional<Rounded>& f) { return f ? f->format.bits() : 32; }

inline double bitops(std::int64_t macs, int bits_a, int bits_b) {
  return double(macs) * double(bits_a) * double(bits_b);
}

inline double bitops(const MacConfig& cfg, std::int64_t m, std::int64_t n, std::int64_t k) {
  return bitops(m * n * k, operand_bits(cfg.a), operand_bits(cfg.b));
}

}  // namespace lpsim::sim
