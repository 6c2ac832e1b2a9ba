// Fast array quantization, bit-identical to golden_quantize (golden.cpp).
//
// Idea: the input's bit pattern gives its integer significand `sig` and the
// exponent of its last bit; the format gives the quantum 2^qe of the result.
// Rounding is then integer work on sig (shift, look at the discarded bits,
// add one), and the result n * 2^qe is rebuilt exactly as an int-to-float
// conversion times a power of two. Every step is branch-free, so GCC
// vectorises the loop (AVX2 / AVX-512 via target_clones, SSE2 otherwise).
// Elements the fast path does not cover (NaN/inf inputs, fixed-point wrap
// overflow, an exact-SR tie in the first 64 random bits, exotic formats)
// are flagged and recomputed by the golden model: rare, and exact.
#include "arith/quantize.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "arith/golden.hpp"
#include "arith/isa.hpp"
#include "arith/quantize_kernel.hpp"

namespace lpsim::arith {

namespace {

using namespace detail;

// One block through the vector lanes where the CPU has AVX2, else the scalar
// kernel; the clone matching the CPU is picked at load time.
[[gnu::target_clones("avx512f", "avx2", "default")]] void block_f32(const Params<float>& p, Mode m,
                                                                     const float* in, float* out,
                                                                     std::uint8_t* flag, std::size_t n,
                                                                     std::uint64_t idx) {
  const bool avx2 = arith::use_avx2();  // arith/isa.hpp: the one dispatch switch
  if (avx2 && block_f32_avx2(p, m, in, out, flag, n, idx)) return;
  if (p.fixed) dispatch_mode<float, true>(p, m, in, out, flag, n, idx);
  else dispatch_mode<float, false>(p, m, in, out, flag, n, idx);
}

[[gnu::target_clones("avx512f", "avx2", "default")]] void block_f64(const Params<double>& p, Mode m,
                                                                     const double* in, double* out,
                                                                     std::uint8_t* flag, std::size_t n,
                                                                     std::uint64_t idx) {
  const bool avx2 = arith::use_avx2();  // arith/isa.hpp: the one dispatch switch
  if (avx2 && block_f64_avx2(p, m, in, out, flag, n, idx)) return;
  if (p.fixed) dispatch_mode<double, true>(p, m, in, out, flag, n, idx);
  else dispatch_mode<double, false>(p, m, in, out, flag, n, idx);
}

template <class T>
void check_format(const Format& f) {
  if (f.kind == Kind::Scaled)
    throw std::invalid_argument("quantize: \"" + f.spelling +
                                "\" is a scaled format; its scales are computed by the training quantizers");
  const bool ok = std::is_same_v<T, float> ? f.fits_in_float() : f.fits_in_double();
  if (!ok)
    throw std::invalid_argument(std::string("quantize: format \"") + f.spelling + "\" has values that a " +
                                (std::is_same_v<T, float> ? "float" : "double") +
                                " cannot hold exactly; use " +
                                (std::is_same_v<T, float> ? "double input" : "a narrower format"));
}

[[noreturn]] void nan_error(const Format& f, std::uint64_t index) {
  throw std::domain_error("quantize: NaN at index " + std::to_string(index) + " cannot be represented in \"" +
                          f.spelling + "\" (the format has no NaN code)");
}

template <class T>
void quantize_array(const T* in, T* out, std::size_t n, const Format& f, Rounding r, RandomKey key,
                    std::uint64_t index0) {
  check_format<T>(f);
  if (n == 0) return;
  const Params<T> p = make_params<T>(f, r, key);
  const bool covered = kernel_covers<T>(f);
  const std::size_t blocks = (n + kBlock - 1) / kBlock;
  std::uint64_t first_bad = std::numeric_limits<std::uint64_t>::max();
  if (covered && isa() >= Isa::AVX512) {  // arith/isa.hpp: the one dispatch switch; whole array, no blocks
    bool taken;
    if constexpr (std::is_same_v<T, float>) taken = array_f32_avx512(p, f, r, in, out, n, index0, first_bad);
    else taken = array_f64_avx512(p, f, r, in, out, n, index0, first_bad);
    if (taken) {
      if (first_bad != std::numeric_limits<std::uint64_t>::max()) nan_error(f, first_bad);
      return;
    }
  }

#pragma omp parallel for schedule(static) reduction(min : first_bad) if (n >= kParallelFrom)
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::size_t lo = b * kBlock, len = std::min(kBlock, n - lo);
    // Fix: the kernel used to write straight into `out`, and the golden
    // fallback below then read in[lo + i] -- with in == out (allowed) that was
    // the kernel's output, not the input, so in-place quantization of wrapping
    // fixed point, NaN/infinity or exact-SR ties went wrong (and the kernel's
    // __restrict promise was broken). The block is now computed into `res`
    // and copied out once the fallbacks, reading the untouched input, are done.
    alignas(64) T res[kBlock];
    std::uint8_t flag[kBlock];
    if (covered) {
      if constexpr (std::is_same_v<T, float>) block_f32(p, r.mode, in + lo, res, flag, len, index0 + lo);
      else block_f64(p, r.mode, in + lo, res, flag, len, index0 + lo);
    } else {
      std::fill(flag, flag + len, std::uint8_t(1));
    }
    for (std::size_t i = 0; i < len; ++i) {
      if (i % 8 == 0 && i + 8 <= len) {  // eight flags at once: most blocks have none
        std::uint64_t any;
        std::memcpy(&any, flag + i, 8);
        if (!any) {
          i += 7;
          continue;
        }
      }
      if (!flag[i]) continue;
      double v;
      if (golden_quantize(double(in[lo + i]), f, r, key, index0 + lo + i, v)) {
        res[i] = T(v);
      } else {
        res[i] = in[lo + i];
        first_bad = std::min<std::uint64_t>(first_bad, lo + i);
      }
    }
    std::copy(res, res + len, out + lo);
  }
  if (first_bad != std::numeric_limits<std::uint64_t>::max()) nan_error(f, first_bad);
}

template <class T>
T quantize_scalar(T x, const Format& f, Rounding r, RandomKey key, std::uint64_t index) {
  check_format<T>(f);
  double v;
  // Fix: named index 0 whatever the element; the element's own index (the
  // one its random bits are keyed by) is what identifies it to the caller.
  if (!golden_quantize(double(x), f, r, key, index, v)) nan_error(f, index);
  return T(v);
}

}  // namespace

float quantize(float x, const Format& f, Rounding r, RandomKey key, std::uint64_t index) {
  return quantize_scalar(x, f, r, key, index);
}
double quantize(double x, const Format& f, Rounding r, RandomKey key, std::uint64_t index) {
  return quantize_scalar(x, f, r, key, index);
}
void quantize(const float* in, float* out, std::size_t n, const Format& f, Rounding r, RandomKey key,
              std::uint64_t index0) {
  quantize_array(in, out, n, f, r, key, index0);
}
void quantize(const double* in, double* out, std::size_t n, const Format& f, Rounding r, RandomKey key,
              std::uint64_t index0) {
  quantize_array(in, out, n, f, r, key, index0);
}

void quantize_golden(const double* in, double* out, std::size_t n, const Format& f, Rounding r, RandomKey key,
                     std::uint64_t index0) {
  check_format<double>(f);
  for (std::size_t i = 0; i < n; ++i) {
    double v;
    if (!golden_quantize(in[i], f, r, key, index0 + i, v)) nan_error(f, i);
    out[i] = v;
  }
}

}  // namespace lpsim::arith
