// Number formats: what a format is and what it can hold. No I/O here;
// the spelling grammar lives in parse.cpp (docs/formats.md).
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace lpsim::arith {

enum class Kind : std::uint8_t {
  Float,   // minifloat e<E>m<M> with its variants
  Fixed,   // two's complement or unsigned fixed point
  Scaled,  // <elem>/<rule>/<granularity>: applied by the training quantizers
};

// Which codes of the top exponent are special.
enum class Specials : std::uint8_t {
  IEEE,  // all-ones exponent: infinities (mantissa 0) and NaNs
  FN,    // finite: only the all-ones code is NaN (OCP FP8 E4M3)
  FNUZ,  // finite, unsigned zero: NaN is the negative-zero code, bias + 1
};

// MinMax: asymmetric with an integer zero point (0 exact); Offset: asymmetric
// offset by the minimum itself (0 not exact, the CPT/FracTrain code).
enum class ScaleRule : std::uint8_t { MinMax, AbsMax, Pow2, MX, Offset };

struct Format;

// A scaled format: elements of `elem` multiplied by a scale found by `rule`
// over groups of `granularity`. Only described here; the quantizers that
// compute scales belong to the training layer.
struct ScaledSpec {
  std::shared_ptr<const Format> elem;
  ScaleRule rule = ScaleRule::AbsMax;
  enum class Group : std::uint8_t { Tensor, Channel, Block } group = Group::Tensor;
  int block = 0;  // block size for Group::Block
};

struct Format {
  Kind kind = Kind::Float;
  std::string spelling;  // canonical spelling, as the parser would read it back

  // Float
  int exp_bits = 8, man_bits = 23, bias = 127;
  Specials specials = Specials::IEEE;
  bool nonan = false;       // with FN: the all-ones code is a number too
  bool subnormals = true;   // false with :nosub
  bool saturate = false;    // :sat (float) — overflow gives the largest finite value

  // Fixed: value = n * 2^-frac_bits, n in W-bit two's complement or unsigned.
  int width = 0, frac_bits = 0;
  bool is_signed = true;
  bool wrap = false;  // :wrap, else saturate

  ScaledSpec scaled;  // Kind::Scaled only

  // ---- queries (Float and Fixed) ----
  int bits() const;                 // storage bits of one element
  std::uint64_t num_codes() const;  // 2^bits()
  bool has_inf() const;
  bool has_nan() const;
  bool has_negative_zero() const;
  int emin() const;  // exponent of the smallest normal (Float)
  int emax() const;  // exponent of the largest finite value (Float)
  double max_finite() const;
  double min_normal() const;     // Fixed: the resolution 2^-F
  double min_subnormal() const;  // smallest positive value (= min_normal without subnormals)
  double epsilon() const;        // Float: 2^-M (gap above 1); Fixed: 2^-F
  double lowest() const;         // most negative finite value

  // True when every finite value of the format is exactly a float / double.
  bool fits_in_float() const;
  bool fits_in_double() const;

  bool operator==(const Format& o) const { return spelling == o.spelling; }
};

// Parse a spelling of docs/formats.md. Throws FormatError quoting the string.
//
// Valid minifloats e<E>m<M>: every value of a format is held in a double, so
// 1 <= E <= 11 and 0 <= M <= 52 (at most 1 + 11 + 52 = 64 bits), and every
// finite value must be exactly a double: emax <= 1023 (largest finite value
// below 2^1024) and emin - M >= -1074 (the smallest quantum at least double's
// 2^-1074). Inside that range every spelling is accepted, e.g. e8m31fn,
// e5m33fn and e11m52 (= fp64, bit for bit); outside it the error names the
// spelling and the range: e12m3, e5m53, and formats with double's field
// widths whose range exceeds a double's, such as e11m52fn (its top binade
// reaches 2^1024) or e11m52fnuz (bias 1024: its smallest value is 2^-1075),
// or a :bias=B too far from the default.
// Fixed point: 1 <= W <= 64 and -1024 <= F <= 1074; the arithmetic entry
// points (quantize, encode, decode) further need the values to fit in a
// double (at most 53 magnitude bits), which they check.
Format parse_format(std::string_view spelling);

struct FormatError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// Named aliases (fp32, bf16, fp8e4m3, ...): all in one table in parse.cpp.
struct Alias {
  const char* name;
  const char* meaning;
};
const Alias* aliases(std::size_t& count);

}  // namespace lpsim::arith
