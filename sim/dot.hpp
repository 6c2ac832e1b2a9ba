// The golden model of one output: a dot product that follows the MacConfig
// literally, one rounding per operation (exact_round.hpp). gemm_golden calls
// it for every output; the fast paths of gemm.cpp are tested against it.
#pragma once

#include <cstdint>
#include <optional>

#include "arith/rounding.hpp"
#include "sim/mac_config.hpp"
#include "sim/stats.hpp"

namespace lpsim::sim {

// Where one output sits, for the random indices of gemm.hpp.
struct OutputSlot {
  std::uint64_t index = 0;    // o = i*n + j
  std::uint64_t outputs = 1;  // m*n
};

// Block scales of one output's dot product (MacConfig::scale): term l of a
// has the scale a[l / block], of b the scale b[(l / block) * sb].
struct TermScales {
  const double* a = nullptr;
  const double* b = nullptr;
  std::int64_t sb = 1;
};

// The exponent a scale value contributes to the alignment (ue8m0: log2 s;
// ue4m3: floor(log2 s), not below -6), and whether s is a value of the kind.
int scale_exponent(double s, ScaleKind kind);
bool is_scale_value(double s, ScaleKind kind);

// a[l] for l < k (contiguous), b[l*sb]. Operands already rounded to their formats.
// Returns the result in the config's result format.
// addend (D = A.B + C; nullptr: none) is C as given, not rounded first (a
// tensor core takes its fp32 C straight into the adder): the accumulator's
// initial value for seq and fused orders; with promotion (chunk<N>, fused
// with promote=) the outer accumulator's initial value; for pairwise one
// more addition, C + the tree's sum, rounded into acc. A choice, documented
// in sim/README.md.
double dot_golden(const MacConfig& cfg, const double* a, const double* b, std::int64_t sb, std::int64_t k,
                  arith::RandomKey key, OutputSlot slot, MacCounts& counts, const double* addend = nullptr,
                  const TermScales* scales = nullptr);

// One fused step of order=fused<N>: c + sum of the `terms` products
// a[l]*b[l*sb], aligned to the largest exponent, each truncated toward zero
// to align_bits fraction bits below it, added exactly, rounded once into the
// accumulator (round index s). Products are first rounded to the product
// format when there is one (its rounding indices start at `prod_index`).
// Shared by the golden model and the fast path: it is per output anyway.
// With block scales, the step's first term is term `first` of the dot product.
double fused_step(const MacConfig& cfg, double c, const double* a, const double* b, std::int64_t sb, int terms,
                  arith::RandomKey key, OutputSlot slot, std::uint64_t acc_step, std::uint64_t prod_step,
                  MacCounts& counts, const TermScales* scales = nullptr, std::int64_t first = 0);

// The exponent a fused step aligns an operand value x of that operand's format
// by: floor(log2 |x|), but not below the format's smallest normal exponent
// (fp32 when the operand has no format). x != 0.
int fused_align_exponent(double x, const std::optional<Rounded>& operand_format);

}  // namespace lpsim::sim
