// The MAC model of one dot product (docs/formats.md "MAC configurations"):
// operands -> products -> accumulation in a given order -> output.
// One textual spelling, parsed strictly, e.g.
//   "in=fp16,acc=e5m10,order=chunk128,outer=fp32,out=bf16"
// or a named preset ("fp16.fp32", "int8.int32", "h800.fp8", "volta.fp16", ...).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "arith/format.hpp"
#include "arith/rounding.hpp"

namespace lpsim::sim {

// Block scales of the operands (OCP MX / NVIDIA block-scaled MMA): one scale per `block` consecutive
// k of each row of op(A) and each column of op(B), given as values beside the operands.
enum class ScaleKind : std::uint8_t {
  None,
  UE8M0,  // 2^e, e in -127..127 (NaN: code 0xff); MX
  UE4M3,  // unsigned e4m3: 0..448 (NaN: 0x7f); NVFP4
};

enum class Order : std::uint8_t {
  Seq,       // one accumulator, rounded after every addition
  Pairwise,  // binary adder tree over the K products, each addition rounded
  Fused,     // fused<N>: N products and the accumulator aligned, truncated, added exactly, rounded once
};

// A format with the rounding used when a value is rounded into it.
struct Rounded {
  arith::Format format;
  arith::Rounding rounding;
};

// IEEE binary32 with round-to-nearest-even: the hardware's own float arithmetic.
inline bool is_fp32_rne(const Rounded& r) {
  const auto& f = r.format;
  return f.kind == arith::Kind::Float && f.exp_bits == 8 && f.man_bits == 23 && f.bias == 127 &&
         f.specials == arith::Specials::IEEE && f.subnormals && !f.saturate && r.rounding.mode == arith::Mode::RNE;
}

struct MacConfig {
  std::optional<Rounded> a, b;     // operand formats; empty: operands used as given (fp32 values)
  std::optional<Rounded> product;  // empty: products exact
  Rounded acc;                     // accumulator
  Order order = Order::Seq;
  int fused_n = 0;                 // Fused: products per fused addition
  int align_bits = 0;              // Fused: fraction bits kept below the largest exponent when aligning
  bool align_exact = false;        // Fused, align=exact: nothing truncated, the step's exact sum rounded once
  int c_late = 0;                  // Fused, c_late=<F'> > 0 (AMD CDNA3): the products are aligned among
                                   // themselves; their sum is floored to F' fraction bits below
                                   // E' = max(their exponent, C's), C floored to align bits below E'
  int split = 0;                   // with c_late, split=<g>: the step's terms dealt round-robin to g sums,
                                   // each aligned to its own largest exponent, floored to align bits
                                   // below the largest of them and added (AMD CDNA3 fp8: g = 2)
  int c_drop = 0;                  // with c_late, c_drop=<d>: a C more than d below E' is left out
  ScaleKind scale = ScaleKind::None;  // Fused, scale=ue8m0|ue4m3 with block=<n>: block-scaled operands; a
  int block = 0;                   // product's alignment exponent adds its two scales' exponents
  int subsum = 0;                  // with scale, subsum=<s>: each s consecutive products summed exactly first,
                                   // the sum times its scales one term whose exponent is the scales' alone
                                   // (NVIDIA kind::mxf4 / mxf4nvf4, MMA-Sim nv_fused_dot_add_with_block_scale)
  int promote = 0;                 // > 0: every `promote` terms the accumulator is added into `outer` and reset
                                   // (seq: order=chunk<N>; fused and pairwise: promote=<N>)
  int interleave = 0;              // Fused with promote, > 0: groups of `interleave` consecutive terms of a
                                   // promotion chunk dealt round-robin to its promote/fused_n steps
                                   // (register halves of fp8 mma.sync; docs/gpu-presets.md)
  std::optional<Rounded> outer;    // the outer accumulator (promote > 0)
  std::optional<Rounded> out;      // output format; empty: the result stays in its accumulator's format

  // Edge semantics where tensor cores depart from IEEE 754 (docs/gpu-presets.md "Edge semantics").
  bool overflow_inf = false;               // overflow=inf: a rounding whose result (exponent unbounded) exceeds
                                           // the largest finite value gives +-inf in every mode (IEEE 754: the
                                           // largest finite value under RZ, RD for x > 0, RU for x < 0)
  std::optional<std::uint32_t> nan_bits;   // nan=0x7fffffff: every NaN result delivered with these float bits
  std::optional<int> zero_exp;             // zero_exp=-126 (fused): a zero operand, or a zero C/accumulator,
                                           // enters a step's alignment with this exponent (else it is left out)
  bool zero_plus = false;                  // zero_sign=pos (fused): a step whose result is zero gives +0
  bool prod_inf = false;                   // prod_overflow=inf (fused): a product beyond the accumulator's range
                                           // (>= 2^(emax+1)) makes the step +-inf, NaN with both signs (AMD)
  bool ieee_edges() const { return !overflow_inf && !nan_bits && !zero_exp && !zero_plus && !prod_inf; }

  // Canonical spelling: parse(spelling()) == *this.
  std::string spelling() const;
  // The format results take (out, else outer, else acc).
  const Rounded& result() const;
  bool operator==(const MacConfig& o) const { return spelling() == o.spelling(); }
};

// Parses "key=value,..." or a preset name; a preset may be followed by
// overrides ("fp16.fp32,out=bf16"; "h800.fp8,b=fp8e5m2" changes one operand
// of the preset's in=). Throws std::invalid_argument quoting the
// string and naming the bad key or value.
MacConfig parse_mac(std::string_view spelling);

struct MacPreset {
  const char* name;
  const char* spelling;
  const char* instruction;  // the instruction (and device) the preset models
  const char* validated;    // against what, with what result (docs/gpu-presets.md)
  const char* source;       // public source of the behaviour and of each number
};
const std::vector<MacPreset>& mac_presets();

}  // namespace lpsim::sim
