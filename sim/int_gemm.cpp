#include "sim/int_gemm.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "arith/isa.hpp"

namespace lpsim::sim {

namespace {

constexpr std::int64_t MR = 6, NR = 16;

// Wrapping int32 arithmetic through unsigned, so the portable path has no UB.
inline std::int32_t wrap_add(std::int32_t x, std::int64_t y) {
  return std::int32_t(std::uint32_t(x) + std::uint32_t(std::uint64_t(y)));
}

// a: kp x MR int32 (pairs of int16 along k), b: kp x NR int32 pairs; c: rows x cols (ld n).
[[gnu::target("avx2")]] void tile_avx2(std::int64_t kp, const std::int32_t* a, const std::int32_t* b, std::int32_t* c,
                                       std::int64_t n, std::int64_t rows, std::int64_t cols) {
  // Named accumulators: an array makes GCC store every update to the stack.
  __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256i c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (std::int64_t l = 0; l < kp; ++l) {
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + l * NR));
    const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + l * NR + 8));
    const std::int32_t* al = a + l * MR;
#define LPSIM_ROW(r, lo, hi)                                   \
  {                                                            \
    const __m256i x = _mm256_set1_epi32(al[r]);                \
    lo = _mm256_add_epi32(lo, _mm256_madd_epi16(x, b0));       \
    hi = _mm256_add_epi32(hi, _mm256_madd_epi16(x, b1));       \
  }
    LPSIM_ROW(0, c00, c01) LPSIM_ROW(1, c10, c11) LPSIM_ROW(2, c20, c21)
    LPSIM_ROW(3, c30, c31) LPSIM_ROW(4, c40, c41) LPSIM_ROW(5, c50, c51)
#undef LPSIM_ROW
  }
  alignas(32) std::int32_t buf[MR * NR];
  const __m256i all[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  for (std::int64_t r = 0; r < MR; ++r) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(buf + r * NR), all[r][0]);
    _mm256_store_si256(reinterpret_cast<__m256i*>(buf + r * NR + 8), all[r][1]);
  }
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < cols; ++j) c[r * n + j] = buf[r * NR + j];
}

void tile_portable(std::int64_t kp, const std::int32_t* a, const std::int32_t* b, std::int32_t* c, std::int64_t n,
                   std::int64_t rows, std::int64_t cols) {
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < cols; ++j) {
      std::int32_t s = 0;
      for (std::int64_t l = 0; l < kp; ++l) {
        const std::int32_t x = a[l * MR + r], y = b[l * NR + j];
        s = wrap_add(s, std::int64_t(std::int16_t(x)) * std::int16_t(y) +
                            std::int64_t(std::int16_t(x >> 16)) * std::int16_t(y >> 16));
      }
      c[r * n + j] = s;
    }
}

inline std::int32_t pair(std::int16_t lo, std::int16_t hi) {
  return std::int32_t(std::uint32_t(std::uint16_t(lo)) | (std::uint32_t(std::uint16_t(hi)) << 16));
}

// The lanes' range step: wrap modulo 2^W (sign-extending a signed register)
// or clamp to [lo, hi]. `over` is set where the exact sum left the range.
struct LaneRange {
  __m256i lo, hi, mask;
  __m128i shift;  // 32 - W, for the signed wrap
};

template <bool WRAP, bool SIGNED>
[[gnu::target("avx2")]] inline __m256i lane_range(const LaneRange& r, __m256i s, __m256i& over) {
  over = _mm256_or_si256(_mm256_cmpgt_epi32(s, r.hi), _mm256_cmpgt_epi32(r.lo, s));
  if constexpr (!WRAP) return _mm256_min_epi32(_mm256_max_epi32(s, r.lo), r.hi);
  else if constexpr (SIGNED) return _mm256_sra_epi32(_mm256_sll_epi32(s, r.shift), r.shift);
  else return _mm256_and_si256(s, r.mask);
}

// One addition into the lanes s, counting its events.
template <bool WRAP, bool SIGNED, bool COUNT>
[[gnu::target("avx2")]] inline void lane_step(const LaneRange& r, __m256i& s, __m256i prod, __m256i& n_over,
                                              __m256i& n_swamped) {
  __m256i over;
  const __m256i next = lane_range<WRAP, SIGNED>(r, _mm256_add_epi32(s, prod), over);
  if constexpr (COUNT) {
    // swamped: both addends nonzero and the result equal to one of them
    const __m256i zero = _mm256_setzero_si256();
    const __m256i either_zero = _mm256_or_si256(_mm256_cmpeq_epi32(s, zero), _mm256_cmpeq_epi32(prod, zero));
    const __m256i same = _mm256_or_si256(_mm256_cmpeq_epi32(next, s), _mm256_cmpeq_epi32(next, prod));
    n_swamped = _mm256_sub_epi32(n_swamped, _mm256_andnot_si256(either_zero, same));
    n_over = _mm256_sub_epi32(n_over, over);
  }
  s = next;
}

// Sixteen outputs (two vectors) at a time; the tail through masked loads.
template <bool WRAP, bool SIGNED, bool COUNT>
[[gnu::target("avx2")]] void int32_rows_avx2(const IntAccumulator& acc, const std::int32_t* a, const std::int32_t* b,
                                             std::int64_t n, std::int64_t k, std::int64_t j0, std::int64_t w,
                                             std::int32_t* out, MacCounts* counts) {
  const LaneRange r{_mm256_set1_epi32(std::int32_t(acc.lo)), _mm256_set1_epi32(std::int32_t(acc.hi)),
                    _mm256_set1_epi32(acc.width >= 32 ? -1 : std::int32_t((std::uint32_t(1) << acc.width) - 1)),
                    _mm_cvtsi32_si128(32 - acc.width)};
  const __m256i zero = _mm256_setzero_si256(), iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  __m256i n_over = zero, n_swamped = zero;
  for (std::int64_t c = 0; c < w; c += 16) {
    const std::int64_t left = w - c;
    const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(std::int32_t(std::min<std::int64_t>(left, 8))), iota);
    const auto left1 = std::int32_t(std::clamp<std::int64_t>(left - 8, 0, 8));
    const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(left1), iota);
    __m256i s0 = zero, s1 = zero;
    const std::int32_t* bc = b + j0 + c;
    for (std::int64_t l = 0; l < k; ++l) {
      const __m256i x = _mm256_set1_epi32(a[l]);
      const std::int32_t* bl = bc + l * n;
      // masked-off lanes read 0: product 0
      lane_step<WRAP, SIGNED, COUNT>(r, s0, _mm256_mullo_epi32(x, _mm256_maskload_epi32(bl, m0)), n_over, n_swamped);
      if (left > 8)
        lane_step<WRAP, SIGNED, COUNT>(r, s1, _mm256_mullo_epi32(x, _mm256_maskload_epi32(bl + 8, m1)), n_over,
                                       n_swamped);
    }
    _mm256_maskstore_epi32(out + c, m0, s0);
    if (left > 8) _mm256_maskstore_epi32(out + c + 8, m1, s1);
  }
  if constexpr (COUNT) {
    // Masked-off lanes add 0 to 0: never swamped, never out of range.
    alignas(32) std::int32_t o[8], sw[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(o), n_over);
    _mm256_store_si256(reinterpret_cast<__m256i*>(sw), n_swamped);
    std::uint64_t total_over = 0, total_sw = 0;
    for (int q = 0; q < 8; ++q) total_over += std::uint32_t(o[q]), total_sw += std::uint32_t(sw[q]);
    (WRAP ? counts->overflows : counts->saturations) += total_over;
    counts->swamped += total_sw;
    counts->additions += std::uint64_t(w * k);
  }
}

}  // namespace

std::optional<IntAccumulator> int32_lanes(const MacConfig& cfg, std::int64_t k) {
  const auto& f = cfg.acc.format;
  if (!cfg.a || !cfg.b || f.kind != arith::Kind::Fixed) return std::nullopt;
  const auto& fa = cfg.a->format;
  const auto& fb = cfg.b->format;
  if (fa.kind != arith::Kind::Fixed || fb.kind != arith::Kind::Fixed || f.frac_bits != fa.frac_bits + fb.frac_bits)
    return std::nullopt;
  const IntAccumulator acc{std::int64_t(std::ldexp(f.lowest(), f.frac_bits)),
                           std::int64_t(std::ldexp(f.max_finite(), f.frac_bits)), f.width, f.wrap, f.is_signed};
  const double amax = std::ldexp(std::max(-fa.lowest(), fa.max_finite()), fa.frac_bits);
  const double bmax = std::ldexp(std::max(-fb.lowest(), fb.max_finite()), fb.frac_bits);
  const double lim = std::ldexp(1.0, 30);
  // k bound: a lane's int32 event counter sees at most 32 * k events (w <= 256).
  const bool fits = amax * bmax <= lim && double(acc.hi) <= lim && double(acc.lo) >= -lim && acc.width >= 1 &&
                    acc.width <= 31 && k < (std::int64_t(1) << 25) && arith::use_avx2();
  return fits ? std::optional(acc) : std::nullopt;
}

void int32_rows(const IntAccumulator& acc, const std::int32_t* a, const std::int32_t* b, std::int64_t n, std::int64_t k,
                std::int64_t j0, std::int64_t w, std::int32_t* out, MacCounts* counts) {
  using Fn = void (*)(const IntAccumulator&, const std::int32_t*, const std::int32_t*, std::int64_t, std::int64_t,
                      std::int64_t, std::int64_t, std::int32_t*, MacCounts*);
  Fn fn;
  if (counts) fn = acc.wrap ? (acc.is_signed ? int32_rows_avx2<true, true, true> : int32_rows_avx2<true, false, true>)
                            : int32_rows_avx2<false, true, true>;
  else fn = acc.wrap ? (acc.is_signed ? int32_rows_avx2<true, true, false> : int32_rows_avx2<true, false, false>)
                     : int32_rows_avx2<false, true, false>;
  fn(acc, a, b, n, k, j0, w, out, counts);
}

void int16_gemm(std::int64_t m, std::int64_t n, std::int64_t k, const float* av, int frac_a, const float* bv, int frac_b,
                std::int32_t* c) {
  if (int_gemm_amx(m, n, k, av, frac_a, bv, frac_b, c) || int_gemm_vnni(m, n, k, av, frac_a, bv, frac_b, c)) return;
  // The codes as int16 (exact: a power-of-two scaling onto the grid).
  std::vector<std::int16_t> a16(std::size_t(m * k)), b16(std::size_t(k * n));
  const double sa = std::ldexp(1.0, frac_a), sb = std::ldexp(1.0, frac_b);
#pragma omp parallel for schedule(static)
  for (std::int64_t q = 0; q < m * k; ++q) a16[std::size_t(q)] = std::int16_t(double(av[q]) * sa);
#pragma omp parallel for schedule(static)
  for (std::int64_t q = 0; q < k * n; ++q) b16[std::size_t(q)] = std::int16_t(double(bv[q]) * sb);
  const std::int16_t *a = a16.data(), *b = b16.data();
  const bool avx2 = arith::use_avx2();  // arith/isa.hpp: the one dispatch switch
  const auto tile = avx2 ? tile_avx2 : tile_portable;
  const std::int64_t kp = (k + 1) / 2, npanels = (n + NR - 1) / NR, mpanels = (m + MR - 1) / MR;
  // B as panels of NR columns: kp x NR pairs (b[2l][j], b[2l+1][j]), zero-padded.
  std::vector<std::int32_t> bp(std::size_t(npanels * kp * NR), 0);
#pragma omp parallel for schedule(static)
  for (std::int64_t p = 0; p < npanels; ++p)
    for (std::int64_t l = 0; l < kp; ++l)
      for (std::int64_t j = p * NR; j < std::min(n, (p + 1) * NR); ++j) {
        const std::int16_t lo = b[2 * l * n + j], hi = 2 * l + 1 < k ? b[(2 * l + 1) * n + j] : std::int16_t(0);
        bp[std::size_t((p * kp + l) * NR + j - p * NR)] = pair(lo, hi);
      }
#pragma omp parallel
  {
    std::vector<std::int32_t> ap(std::size_t(kp * MR));
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t ip = 0; ip < mpanels; ++ip) {
      const std::int64_t i0 = ip * MR, rows = std::min(MR, m - i0);
      for (std::int64_t l = 0; l < kp; ++l)
        for (std::int64_t r = 0; r < MR; ++r) {
          const bool in = r < rows;
          const std::int16_t lo = in ? a[(i0 + r) * k + 2 * l] : std::int16_t(0);
          const std::int16_t hi = in && 2 * l + 1 < k ? a[(i0 + r) * k + 2 * l + 1] : std::int16_t(0);
          ap[std::size_t(l * MR + r)] = pair(lo, hi);
        }
      for (std::int64_t jp = 0; jp < npanels; ++jp)
        tile(kp, ap.data(), bp.data() + jp * kp * NR, c + i0 * n + jp * NR, n, rows, std::min(NR, n - jp * NR));
    }
  }
}

}  // namespace lpsim::sim
