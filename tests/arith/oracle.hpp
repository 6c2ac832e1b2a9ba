// An exact oracle for the arith layer, independent of arith/golden.cpp and
// arith/codec.cpp: every value is a Boost.Multiprecision rational, formats
// are described by their own small specs (not arith::Format), codes are
// decoded here from docs/formats.md, and rounding picks the neighbours of the exact
// input in the sorted list of the format's values and decides between them
// with exact rational comparisons.
//
// Only arith::Mode is shared with the code under test (as a label).
#pragma once

#include <boost/multiprecision/cpp_int.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "arith/rounding.hpp"

namespace lpsim::oracle {

using Z = boost::multiprecision::cpp_int;
using Q = boost::multiprecision::cpp_rational;
using arith::Mode;

// ---- exact conversions ----------------------------------------------------
Q exact(double x);                            // x finite
Q pow2(int e);                                // 2^e
std::optional<double> to_double(const Q& q);  // the double equal to q, if there is one
double ceil_double(const Q& q);               // the smallest double >= q (+inf beyond them)

// ---- format specs (built by the tests, not parsed) ------------------------
enum class Sp { IEEE, FN, FNUZ };

struct FloatSpec {
  int E = 8, M = 23;
  Sp sp = Sp::IEEE;
  bool nosub = false, sat = false, nonan = false;
  std::optional<int> explicit_bias;  // :bias=B
  int bias() const;              // docs/formats.md: 2^(E-1)-1, one larger for fnuz, unless :bias=B
  std::string spelling() const;  // canonical spelling (options in the parser's fixed order)
  // Whether the grammar admits it: :nonan only with fn; an IEEE format needs
  // E >= 2 (with E = 1 it would have no normal number); e1m0fn would hold
  // only zero and NaN.
  bool legal() const;
};

struct FixedSpec {
  int W = 8, F = 0;
  bool is_signed = true, wrap = false;
  std::string spelling() const;  // fx<W>.<F> / ufx<W>.<F> [:wrap]
  Z n_min() const, n_max() const;
};

// ---- expected results ------------------------------------------------------
struct Outcome {
  enum class Kind { Value, NaN, Error } kind = Kind::Value;
  double value = 0;  // Kind::Value: exactly the result, with the sign of zero
  static Outcome val(double v) { return {Kind::Value, v}; }
  static Outcome nan() { return {Kind::NaN, 0}; }
  static Outcome error() { return {Kind::Error, 0}; }
  std::string str() const;
};

// ---- decoding ---------------------------------------------------------------
struct Decoded {
  enum class Kind { Finite, Inf, NaN } kind = Kind::Finite;
  bool negative = false;
  Q mag;  // Finite: |value|
};
Decoded decode(const FloatSpec& s, std::uint64_t code);
Decoded decode(const FixedSpec& s, std::uint64_t code);

// ---- minifloat rounding -----------------------------------------------------
class FloatOracle {
 public:
  explicit FloatOracle(const FloatSpec& s);

  // One magnitude of the rounding grid. Besides the format's values (role
  // Value) the grid holds the step above the largest finite value (role
  // Overflow: "exponent unbounded above") and, with :nosub, the largest value
  // below the smallest normal that the format would have with the exponent
  // unbounded below (role FlushToZero).
  struct Point {
    enum class Role { Value, FlushToZero, Overflow } role = Role::Value;
    double mag = 0;  // q, or the smallest double above q when q is not a double (+inf beyond them)
    bool exact = true;  // mag == q
    Q q;
    std::uint64_t code = 0;  // magnitude code (for :nosub's extra point, that of min_normal minus one)
  };

  struct Analysis {
    enum class Kind { Fixed, OnGrid, Between, Overflow } kind = Kind::Fixed;
    Outcome fixed;          // Kind::Fixed (NaN, infinities, zeros): independent of the mode
    bool negative = false;
    std::size_t lo = 0, hi = 0;  // grid indices: lo == hi on the grid, hi == lo + 1 between
    int cmp = 0;            // Between: sign of |x| - (grid[lo] + grid[hi]) / 2
    Q x;                    // Between: |x| exactly
  };

  Analysis analyze(double x) const;
  Outcome outcome(const Analysis& a, Mode m) const;  // deterministic modes
  Outcome outcome(double x, Mode m) const { return outcome(analyze(x), m); }

  // Stochastic rounding: for Between, the outcomes of the lower and upper
  // magnitude and the exact probability of the upper one. For other kinds
  // both outcomes are the deterministic result and the fraction is 0.
  struct Candidates {
    Outcome down, up;
    Q frac;
  };
  Candidates candidates(const Analysis& a) const;

  const std::vector<Point>& grid() const { return grid_; }
  const FloatSpec& spec() const { return s_; }
  double max_finite() const { return max_; }
  double min_normal() const { return min_normal_; }
  double min_subnormal() const { return min_sub_; }  // smallest positive value
  bool has_inf() const { return has_inf_; }
  bool has_nan() const { return has_nan_; }
  bool has_negative_zero() const { return has_negzero_; }

 private:
  Outcome overflow(Mode m, bool negative) const;
  Outcome point(std::size_t i, Mode m, bool negative) const;
  Outcome signed_value(double mag, bool negative) const;

  FloatSpec s_;
  std::vector<Point> grid_;
  std::vector<double> mags_;  // grid_[i].mag, for the binary search
  bool all_exact_ = true;     // every mag is its q: the search on doubles decides alone
  std::vector<Q> twice_mid_;  // grid_[i].q + grid_[i + 1].q
  double max_ = 0, min_normal_ = 0, min_sub_ = 0;
  bool has_inf_ = false, has_nan_ = false, has_negzero_ = false;
};

// ---- fixed-point rounding ---------------------------------------------------
class FixedOracle {
 public:
  explicit FixedOracle(const FixedSpec& s);

  struct Analysis {
    enum class Kind { Fixed, Num } kind = Kind::Fixed;
    Outcome fixed;
    bool negative = false;
    Z n;         // floor(|x| * 2^F)
    bool exact = true;
    int cmp = 0;  // sign of the discarded fraction - 1/2
    Q frac;       // the discarded fraction, in [0, 1)
  };
  Analysis analyze(double x) const;
  Outcome outcome(const Analysis& a, Mode m) const;
  Outcome outcome(double x, Mode m) const { return outcome(analyze(x), m); }
  // The signed result of magnitude n (saturated or wrapped).
  Outcome from_magnitude(const Z& n, bool negative) const;

  struct Candidates {
    Outcome down, up;
    Q frac;
  };
  Candidates candidates(const Analysis& a) const;

  const FixedSpec& spec() const { return s_; }
  double max_finite() const;
  double lowest() const;

 private:
  FixedSpec s_;
  Z n_min_, n_max_;
};

// Stochastic decision from docs/formats.md / golden.hpp: with U uniform on [0, 1)
// whose binary expansion is the 64-bit words random_word(seed, stream, index,
// 0), (.., 1), ..., round up iff U < frac (sr_bits == 0), or iff the top k bits
// of word 0 are below floor(frac * 2^k) (sr<k>).
bool sr_up(const Q& frac, int sr_bits, std::uint64_t seed, std::uint32_t stream, std::uint64_t index);

// The deterministic modes, and all modes' spellings for messages.
inline constexpr Mode kDeterministic[] = {Mode::RNE, Mode::RNA, Mode::RZ, Mode::RU, Mode::RD, Mode::RO};
const char* mode_name(Mode m);

// Hex and %a of an input, for failure messages.
std::string describe(float x);
std::string describe(double x);

}  // namespace lpsim::oracle
