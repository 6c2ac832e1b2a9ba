// The exact sum of a few doubles, rounded to odd at double precision once:
// a fixed-point (Kulisch) accumulator over the range of double, for fused
// steps with align=exact (one rounding of the exact sum of the products and
// C, as the Khattak-Mikaitis model of AMD's MI100 defines it). Rounding the
// result to odd keeps it exact for any later rounding into a format of at
// most 51 bits (exact_round.hpp says why).
#pragma once

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>

namespace lpsim::sim {

class ExactSum {
 public:
  // x finite. Doubles are m * 2^e with |m| < 2^53 and e >= -1074.
  void add(double x) {
    if (x == 0) return;
    int e = std::ilogb(x) - 52;
    if (e < -1074) e = -1074;
    const auto m = std::uint64_t(std::fabs(std::ldexp(x, -e)));  // exact: |x| / 2^e is an integer below 2^53
    const int p = e - kLow;
    const int limb = p / 64, off = p % 64;
    const unsigned __int128 v = static_cast<unsigned __int128>(m) << off;
    const std::uint64_t lo = std::uint64_t(v), hi = std::uint64_t(v >> 64);
    if (x > 0) {
      add_at(limb, lo);
      add_at(limb + 1, hi);
    } else {
      sub_at(limb, lo);
      sub_at(limb + 1, hi);
    }
  }

  // The sum rounded to odd at 53 bits (0 for an exact zero: +0).
  double round_to_odd() const {
    std::array<std::uint64_t, kLimbs> w = w_;
    const bool neg = w[kLimbs - 1] >> 63;
    if (neg) {  // two's complement negation
      std::uint64_t carry = 1;
      for (auto& x : w) {
        x = ~x + carry;
        carry = carry && x == 0;
      }
    }
    int h = kLimbs - 1;
    while (h >= 0 && w[std::size_t(h)] == 0) --h;
    if (h < 0) return 0.0;
    const int msb = 64 * h + 63 - std::countl_zero(w[std::size_t(h)]);
    const int lsb = msb - 52;  // the lowest of the 53 bits kept
    std::uint64_t top = 0;
    bool sticky = false;
    if (lsb <= 0) {
      top = bits(w, 0, msb + 1);
    } else {
      top = bits(w, lsb, 53);
      for (int q = 0; q < lsb / 64 && !sticky; ++q) sticky = w[std::size_t(q)] != 0;
      if (lsb % 64) sticky = sticky || (w[std::size_t(lsb / 64)] & ((std::uint64_t(1) << (lsb % 64)) - 1)) != 0;
    }
    if (sticky) top |= 1;  // round to odd
    const double mag = std::ldexp(double(top), (lsb > 0 ? lsb : 0) + kLow);  // exact: top < 2^53, a normal result
    return neg ? -mag : mag;
  }

 private:
  static constexpr int kLimbs = 36;    // 2304 bits
  static constexpr int kLow = -1088;   // weight of bit 0; the top bit (sign) weighs 2^1215

  // n <= 64 bits of w from bit position `from`.
  static std::uint64_t bits(const std::array<std::uint64_t, kLimbs>& w, int from, int n) {
    const int limb = from / 64, off = from % 64;
    unsigned __int128 v = w[std::size_t(limb)];
    if (limb + 1 < kLimbs) v |= static_cast<unsigned __int128>(w[std::size_t(limb + 1)]) << 64;
    const std::uint64_t x = std::uint64_t(v >> off);
    return n >= 64 ? x : x & ((std::uint64_t(1) << n) - 1);
  }
  void add_at(int limb, std::uint64_t v) {
    for (int q = limb; v && q < kLimbs; ++q) {
      const std::uint64_t before = w_[std::size_t(q)];
      w_[std::size_t(q)] = before + v;
      v = w_[std::size_t(q)] < before ? 1 : 0;
    }
  }
  void sub_at(int limb, std::uint64_t v) {
    for (int q = limb; v && q < kLimbs; ++q) {
      const std::uint64_t before = w_[std::size_t(q)];
      w_[std::size_t(q)] = before - v;
      v = before < v ? 1 : 0;
    }
  }

  std::array<std::uint64_t, kLimbs> w_{};
};

}  // namespace lpsim::sim
