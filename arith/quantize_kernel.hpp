// The scalar rounding kernel of the array quantizer (quantize.cpp) and the
// entry points of its AVX2 lanes (quantize_avx2.cpp): private to arith.
// The kernel is bit-identical to golden_quantize; see quantize.cpp for the idea.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "arith/format.hpp"
#include "arith/golden.hpp"
#include "arith/philox.hpp"
#include "arith/quantize.hpp"

namespace lpsim::arith::detail {

template <class T>
struct Bits;
template <>
struct Bits<float> {
  using U = std::uint32_t;
  using I = std::int32_t;
  static constexpr int NB = 32, MB = 23, BIAS = 127;
};
template <>
struct Bits<double> {
  using U = std::uint64_t;
  using I = std::int64_t;
  static constexpr int NB = 64, MB = 52, BIAS = 1023;
};

constexpr std::size_t kBlock = 1024;  // elements per task of quantize_array
constexpr std::size_t kParallelFrom = 1 << 15;  // arrays shorter than this run on one thread

// Everything the kernel needs, hoisted out of the loop.
template <class T>
struct Params {
  using U = typename Bits<T>::U;
  using I = typename Bits<T>::I;
  bool fixed = false;
  int sr_bits = 0;
  RandomKey key;
  // float formats
  I man = 0, emin = 0, emin_eff = 0;  // emin_eff: emin, or emin - 1 with :nosub (see golden)
  bool man_zero = false, nosub = false, no_negzero = false;
  bool sub_input_golden = false;      // format reaches below T's normal range: subnormal inputs go golden
  T max_finite = 0, min_normal = 0;
  T ovf_pos = 0, ovf_neg = 0;         // overflow value for + and - (depends on mode)
  // fixed formats
  I qe_fixed = 0;
  T scale = 0;                        // 2^-F
  U limit_bits = 0;                   // |x| bits >= this: outside the range 2^(W-F)
  U maxmag_pos = 0, maxmag_neg = 0;   // largest magnitude n for + and -
  T clamp_pos = 0, clamp_neg = 0;     // saturated values for + and -
  bool wrap = false;
  bool fixed_avx2 = false;            // float_fixed_avx2 takes it: W <= 24, F >= 0
};

template <class T>
T from_bits(typename Bits<T>::U u) { return std::bit_cast<T>(u); }

// Exact n (< 2^52 for double, < 2^31 for float) as T, without the int64
// conversion AVX2 lacks: 2^52 + n has n as its mantissa.
template <class T>
inline T exact_from_uint(typename Bits<T>::U n) {
  if constexpr (std::is_same_v<T, float>) {
    return float(std::int32_t(n));
  } else {
    return std::bit_cast<double>(n | 0x4330000000000000ull) - 0x1p52;
  }
}

// 2^e as T for e in T's range (normal or subnormal); caller guarantees range.
template <class T>
inline T pow2(typename Bits<T>::I e) {
  using B = Bits<T>;
  using U = typename B::U;
  using I = typename B::I;
  const I biased = e + B::BIAS;
  const U normal = U(biased) << B::MB;
  const I sh = std::clamp<I>(biased + B::MB - 1, 0, B::MB - 1);
  const U sub = U(1) << sh;
  return from_bits<T>(biased >= 1 ? normal : sub);
}

// SR's random words come from `rnd` (rnd[i] = random_word(seed, stream,
// index0 + i, 0), drawn eight at a time by philox8) when given.
template <class T, Mode MODE, bool FIXED>
[[gnu::always_inline]] inline void kernel(const Params<T>& params, const T* __restrict in, T* __restrict out,
                                          std::uint8_t* __restrict flag, std::size_t n, std::uint64_t index0,
                                          const std::uint64_t* __restrict rnd = nullptr) {
  const Params<T> p = params;  // a local copy: stores to out/flag cannot alias it, so it stays in registers
  using B = Bits<T>;
  using U = typename B::U;
  using I = typename B::I;
  constexpr U ABS = ~U(0) >> 1, MANT = (U(1) << B::MB) - 1, IMPLICIT = U(1) << B::MB;
  constexpr I EMAXF = (I(1) << (B::NB - 2 - B::MB + 1)) - 1;  // all-ones exponent field

  for (std::size_t i = 0; i < n; ++i) {
    const U u = std::bit_cast<U>(in[i]);
    const U neg = u >> (B::NB - 1);
    const U a = u & ABS;
    const I E = I(a >> B::MB);
    const bool sub = E == 0;
    const U sig = (a & MANT) | (sub ? U(0) : IMPLICIT);
    const I ulpexp = (sub ? I(1) : E) - B::BIAS - B::MB;
    bool golden = E == EMAXF;

    I qe;
    if constexpr (FIXED) {
      qe = p.qe_fixed;
    } else {
      qe = std::max<I>(E - B::BIAS, p.emin_eff) - p.man;
      golden |= sub & p.sub_input_golden;
      golden |= qe < 1 - B::BIAS - B::MB;  // 2^qe below T's range (only exotic :nosub formats)
    }
    const I s = qe - ulpexp;
    const I sc = std::clamp<I>(s, 0, B::MB + 2);
    const U n_lo = sig >> sc;
    const U rem = sig & ((U(1) << sc) - 1);
    const U half = (U(1) << sc) >> 1;
    const I shl = std::clamp<I>(-s, 0, B::NB - 1);
    const U nq = s < 0 ? U(sig << shl) : n_lo;  // s < 0 only for fixed point (exact)

    bool odd;
    if constexpr (FIXED) odd = nq & 1;
    else odd = p.man_zero ? ((nq != 0) & bool((qe - p.emin + 1) & 1)) : bool(nq & 1);

    bool up;
    // Bitwise & and | (not && and ||) keep the loop free of branches.
    const bool inexact = rem != 0;
    if constexpr (MODE == Mode::RNE) up = (rem > half) | ((rem == half) & inexact & odd);
    else if constexpr (MODE == Mode::RNA) up = (rem >= half) & inexact;
    else if constexpr (MODE == Mode::RZ) up = false;
    else if constexpr (MODE == Mode::RU) up = inexact & !neg;
    else if constexpr (MODE == Mode::RD) up = inexact & bool(neg);
    else if constexpr (MODE == Mode::RO) up = inexact & !odd;
    else {
      // floor(fraction * 2^64): exact for s <= 64; for s > 64 the bits below
      // are lost, so a tie on the first 64 random bits is settled by golden.
      const std::uint64_t r64 = rnd ? rnd[i] : random_word(p.key.seed, p.key.stream, index0 + i, 0);
      const std::uint64_t rem64 = rem;
      const int sl = int(std::clamp<I>(64 - s, 0, 63));
      const int sr = int(std::clamp<I>(s - 64, 0, 63));
      std::uint64_t f64 = s <= 64 ? rem64 << sl : rem64 >> sr;
      f64 = (s - 64 >= 64) ? 0 : f64;
      f64 = s <= 0 ? 0 : f64;
      if (p.sr_bits == 0) {
        up = r64 < f64;
        golden |= (r64 == f64) & (s > 64) & inexact;
      } else {
        const int d = 64 - p.sr_bits;
        up = (r64 >> d) < (f64 >> d);
      }
    }
    const U nn = nq + U(up);

    T val;
    if constexpr (FIXED) {
      const bool in_range = a < p.limit_bits;
      const bool over = !in_range | (nn > (neg ? p.maxmag_neg : p.maxmag_pos));
      const T mag = exact_from_uint<T>(nn) * p.scale;
      const T signed_val = neg ? -mag : mag;
      golden |= over & p.wrap;
      val = over ? (neg ? p.clamp_neg : p.clamp_pos) : signed_val;
      val = val + T(0);  // fixed point has no -0
    } else {
      const T mag = exact_from_uint<T>(nn) * pow2<T>(qe);
      const T flushed = (p.nosub & (mag < p.min_normal)) ? T(0) : mag;
      const T signed_val = neg ? -flushed : flushed;
      val = mag > p.max_finite ? (neg ? p.ovf_neg : p.ovf_pos) : signed_val;
      const T no_negzero = val + T(0);  // computed unconditionally: a conditional FP add would block vectorisation
      val = p.no_negzero ? no_negzero : val;
    }
    out[i] = val;
    flag[i] = golden;
  }
}

template <class T>
Params<T> make_params(const Format& f, Rounding r, RandomKey key) {
  using B = Bits<T>;
  using U = typename B::U;
  Params<T> p;
  p.fixed = f.kind == Kind::Fixed;
  p.sr_bits = r.sr_bits;
  p.key = key;
  if (p.fixed) {
    p.qe_fixed = -f.frac_bits;
    p.scale = T(std::ldexp(1.0, -f.frac_bits));
    const double limit = std::ldexp(1.0, f.width - f.frac_bits);  // |x| >= limit: beyond every n < 2^W
    p.limit_bits = limit > double(std::numeric_limits<T>::max()) ? (U(B::BIAS * 2 + 1) << B::MB)
                                                                  : std::bit_cast<U>(T(limit));
    const U top = U(1) << (f.is_signed ? f.width - 1 : f.width);
    p.maxmag_pos = top - 1;
    p.maxmag_neg = f.is_signed ? top : 0;
    p.clamp_pos = T(f.max_finite());
    p.clamp_neg = T(f.lowest()) + T(0);
    p.wrap = f.wrap;
    p.fixed_avx2 = std::is_same_v<T, float> && f.width <= 24 && f.frac_bits >= 0;
    return p;
  }
  p.man = f.man_bits;
  p.emin = f.emin();
  p.emin_eff = f.subnormals ? f.emin() : f.emin() - 1;
  p.man_zero = f.man_bits == 0;
  p.nosub = !f.subnormals;
  p.no_negzero = !f.has_negative_zero();
  p.sub_input_golden = p.emin_eff < 1 - B::BIAS;
  p.max_finite = T(f.max_finite());
  p.min_normal = T(f.min_normal());
  p.ovf_pos = T(overflow_value(f, r.mode, false));
  p.ovf_neg = T(overflow_value(f, r.mode, true));
  return p;
}

// Whether the kernel covers this format for T at all (else: golden throughout).
template <class T>
bool kernel_covers(const Format& f) {
  // exact_from_uint needs n < 2^52 for double; for float, fitting already bounds n by 2^24.
  if constexpr (std::is_same_v<T, float>) return true;
  return f.kind == Kind::Fixed ? f.width <= 51 : f.man_bits <= 50;
}

template <class T, bool FIXED>
[[gnu::always_inline]] inline void dispatch_mode(const Params<T>& p, Mode m, const T* in, T* out,
                                                 std::uint8_t* flag, std::size_t n, std::uint64_t idx,
                                                 const std::uint64_t* rnd = nullptr) {
  switch (m) {
    case Mode::RNE: return kernel<T, Mode::RNE, FIXED>(p, in, out, flag, n, idx);
    case Mode::RNA: return kernel<T, Mode::RNA, FIXED>(p, in, out, flag, n, idx);
    case Mode::RZ: return kernel<T, Mode::RZ, FIXED>(p, in, out, flag, n, idx);
    case Mode::RU: return kernel<T, Mode::RU, FIXED>(p, in, out, flag, n, idx);
    case Mode::RD: return kernel<T, Mode::RD, FIXED>(p, in, out, flag, n, idx);
    case Mode::RO: return kernel<T, Mode::RO, FIXED>(p, in, out, flag, n, idx);
    case Mode::SR: return kernel<T, Mode::SR, FIXED>(p, in, out, flag, n, idx, rnd);
  }
}

// AVX2 lanes (quantize_avx2.cpp); call only where the CPU has AVX2. Each
// returns false, writing nothing, for a block it does not take.
bool block_f32_avx2(const Params<float>& p, Mode m, const float* in, float* out, std::uint8_t* flag, std::size_t n,
                    std::uint64_t idx);
bool block_f64_avx2(const Params<double>& p, Mode m, const double* in, double* out, std::uint8_t* flag,
                    std::size_t n, std::uint64_t idx);

// AVX-512 lanes (quantize_avx512.cpp); call only where isa() >= AVX512. Each
// quantizes the whole array (threads included) straight into out, in == out
// allowed, setting first_bad to the position of the first NaN the format
// cannot hold (or ~0); returns false, writing nothing, for a case it does not take.
bool array_f32_avx512(const Params<float>& p, const Format& f, Rounding r, const float* in, float* out,
                      std::size_t n, std::uint64_t index0, std::uint64_t& first_bad);
bool array_f64_avx512(const Params<double>& p, const Format& f, Rounding r, const double* in, double* out,
                      std::size_t n, std::uint64_t index0, std::uint64_t& first_bad);

}  // namespace lpsim::arith::detail
