// AVX512-VNNI kernels of int16_gemm (int_gemm.hpp): c = a . b modulo 2^32,
// the codes read from the operand values as they are packed.
//
// 8-bit codes: vpdpbusd, four u8 x s8 products per 32-bit lane. The codes
// are shifted onto those byte ranges: a' = a - alpha (s8), b' = b - beta
// (u8), and since a.b = a'.b' + beta.a' + alpha.b term by term,
//   sum_l a_l b_l = sum_l a'_l b'_l + beta * sum_l a'_l + alpha * sum_l b_l.
// vpdpbusd (not the saturating vpdpbusds) adds the four exact products to the
// lane modulo 2^32, and the two correction terms are added modulo 2^32 too,
// so c is the exact sum modulo 2^32: the same congruence class as the scalar
// sum, whatever the order. That is all int16_gemm promises (its caller keeps
// the true sum inside int32, or wraps modulo 2^W, W <= 32, afterwards).
// k is padded to a multiple of 4 with a' = b' = 0 (product 0); the sums
// of a' and b run over the true k only.
//
// 16-bit codes: vpdpwssd, two s16 x s16 products per lane, added modulo 2^32
// (the non-saturating form), no shift needed.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "arith/isa.hpp"
#include "sim/int_gemm.hpp"

namespace lpsim::sim {

namespace {

constexpr std::int64_t MR = 6, NR = 64;  // 6 rows x 4 zmm of 16 int32: 24 accumulators

// E codes per 32-bit lane: 4 (vpdpbusd, B unsigned bytes, A signed) or 2 (vpdpwssd).
// a: MR rows of kq dwords (row r at a + r * lda), b: kq x NR dwords; adds row[r] + col[j] (modulo 2^32) before storing.
template <int E>
[[gnu::target("avx512f,avx512bw,avx512vl,avx512vnni")]] void tile(std::int64_t kq, const std::int32_t* a, std::int64_t lda,
                                                                 const std::int32_t* b, std::int32_t* c,
                                                                 std::int64_t n, std::int64_t rows, std::int64_t cols,
                                                                 const std::int32_t* row, const std::int32_t* col) {
  // Named accumulators: an array makes GCC store every update to the stack.
  __m512i c00 = _mm512_setzero_si512(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00, c13 = c00;
  __m512i c20 = c00, c21 = c00, c22 = c00, c23 = c00, c30 = c00, c31 = c00, c32 = c00, c33 = c00;
  __m512i c40 = c00, c41 = c00, c42 = c00, c43 = c00, c50 = c00, c51 = c00, c52 = c00, c53 = c00;
  for (std::int64_t l = 0; l < kq; ++l) {
    const std::int32_t* bl = b + l * NR;
    const __m512i b0 = _mm512_loadu_si512(bl), b1 = _mm512_loadu_si512(bl + 16);
    const __m512i b2 = _mm512_loadu_si512(bl + 32), b3 = _mm512_loadu_si512(bl + 48);
    const std::int32_t* al = a + l;
#define LPSIM_DOT(acc, x, y) acc = E == 4 ? _mm512_dpbusd_epi32(acc, y, x) : _mm512_dpwssd_epi32(acc, x, y)
#define LPSIM_ROW(r, s0, s1, s2, s3)                 \
  {                                                  \
    const __m512i x = _mm512_set1_epi32(al[r * lda]); \
    LPSIM_DOT(s0, x, b0);                            \
    LPSIM_DOT(s1, x, b1);                            \
    LPSIM_DOT(s2, x, b2);                            \
    LPSIM_DOT(s3, x, b3);                            \
  }
    LPSIM_ROW(0, c00, c01, c02, c03) LPSIM_ROW(1, c10, c11, c12, c13) LPSIM_ROW(2, c20, c21, c22, c23)
    LPSIM_ROW(3, c30, c31, c32, c33) LPSIM_ROW(4, c40, c41, c42, c43) LPSIM_ROW(5, c50, c51, c52, c53)
#undef LPSIM_ROW
#undef LPSIM_DOT
  }
  const __m512i all[MR][4] = {{c00, c01, c02, c03}, {c10, c11, c12, c13}, {c20, c21, c22, c23},
                              {c30, c31, c32, c33}, {c40, c41, c42, c43}, {c50, c51, c52, c53}};
  __mmask16 mask[4];
  for (int v = 0; v < 4; ++v) {
    const std::int64_t left = std::clamp<std::int64_t>(cols - 16 * v, 0, 16);
    mask[v] = __mmask16((1u << left) - 1);
  }
  for (std::int64_t r = 0; r < rows; ++r) {
    const __m512i rc = _mm512_set1_epi32(row[r]);
    for (int v = 0; v < 4; ++v) {
      const __m512i cc = _mm512_maskz_loadu_epi32(mask[v], col + 16 * v);
      _mm512_mask_storeu_epi32(c + r * n + 16 * v, mask[v], _mm512_add_epi32(all[r][v], _mm512_add_epi32(rc, cc)));
    }
  }
}

// The shift onto a byte range [lo_t, lo_t + 255] for codes in [lo, hi]: the value nearest 0, if any.
bool byte_shift(std::int32_t lo, std::int32_t hi, std::int32_t lo_t, std::int32_t& shift) {
  const std::int32_t from = hi - (lo_t + 255), to = lo - lo_t;  // shift in [from, to]
  if (from > to) return false;
  shift = std::clamp<std::int32_t>(0, from, to);
  return true;
}

// Operand values on an integer grid: code = value * 2^frac, exact in float
// (a power of two, |frac| <= 100, and an integer result below 2^16).
struct Grid {
  const float* v;
  float scale;
};

// 16 codes from values p[0..16) (lanes off `m` read as 0); the maskz forms keep GCC 12's
// -Wmaybe-uninitialized quiet (the unmasked intrinsics start from an undefined vector, GCC PR 105593).
[[gnu::target("avx512f"), gnu::always_inline]] inline __m512i codes16(const float* p, __m512 scale, __mmask16 m) {
  return _mm512_maskz_cvttps_epi32(0xffff, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, p), scale));
}

inline __mmask16 first(std::int64_t count) {
  return count >= 16 ? __mmask16(0xffff) : __mmask16((1u << std::max<std::int64_t>(count, 0)) - 1);
}

// The codes' range, from the values' (scaling by 2^frac is monotone). No NaN here: a fixed-point operand has none.
// (AVX2 min/max: GCC 12's 512-bit ones trip -Wmaybe-uninitialized.)
[[gnu::target("avx2")]] void code_range(const Grid& x, std::int64_t count, std::int32_t& lo, std::int32_t& hi) {
  __m256 l = _mm256_set1_ps(INFINITY), h = _mm256_set1_ps(-INFINITY);
  std::int64_t q = 0;
  for (; q + 8 <= count; q += 8) {
    const __m256 v = _mm256_loadu_ps(x.v + q);
    l = _mm256_min_ps(l, v), h = _mm256_max_ps(h, v);
  }
  alignas(32) float ls[8], hs[8];
  _mm256_store_ps(ls, l), _mm256_store_ps(hs, h);
  float fl = ls[0], fh = hs[0];
  for (int t = 1; t < 8; ++t) fl = std::min(fl, ls[t]), fh = std::max(fh, hs[t]);
  for (; q < count; ++q) fl = std::min(fl, x.v[q]), fh = std::max(fh, x.v[q]);
  lo = std::int32_t(fl * x.scale), hi = std::int32_t(fh * x.scale);
}

// B as panels of NR columns, kq x NR lanes of E codes b' = b - beta (padding
// rows 0), and col[j] = alpha * sum_l b[l][j], modulo 2^32.
template <int E>
[[gnu::target("avx512f,avx512bw")]] void pack_b(std::int64_t n, std::int64_t k, const Grid& b, std::int32_t alpha,
                                                std::int32_t beta, std::int64_t p, std::int32_t* panel,
                                                std::int32_t* col) {
  const std::int64_t kq = (k + E - 1) / E, j0 = p * NR;
  const __m512 scale = _mm512_set1_ps(b.scale);
  const __m512i vb = _mm512_set1_epi32(beta), low = _mm512_set1_epi32(E == 4 ? 0xff : 0xffff);
  for (int v = 0; v < NR / 16; ++v) {
    const __mmask16 m = first(n - j0 - 16 * v);
    __m512i sum = _mm512_setzero_si512();
    for (std::int64_t q = 0; q < kq; ++q) {
      __m512i w = _mm512_setzero_si512();
      for (int t = 0; t < E; ++t) {
        const std::int64_t l = q * E + t;
        if (l >= k) break;  // padding: 0, and A's padding is 0 too
        const __m512i x = codes16(b.v + l * n + j0 + 16 * v, scale, m);
        sum = _mm512_add_epi32(sum, x);
        const __m512i y = _mm512_and_si512(_mm512_sub_epi32(x, vb), low);
        w = _mm512_or_si512(w, _mm512_mullo_epi32(y, _mm512_set1_epi32(1 << (32 / E * t))));  // (GCC PR 105593: no slli)
      }
      _mm512_storeu_si512(panel + q * NR + 16 * v, w);
    }
    _mm512_storeu_si512(col + j0 + 16 * v, _mm512_mullo_epi32(sum, _mm512_set1_epi32(alpha)));
  }
}

// One row of A: kq lanes of E codes a' = a - alpha (padding 0, up to a multiple
// of 16 codes); returns beta * sum_l a'_l modulo 2^32.
template <int E>
[[gnu::target("avx512f,avx512bw")]] std::int32_t pack_a(std::int64_t k, const float* a, float scale, std::int32_t alpha,
                                                        std::int32_t beta, std::int32_t* dst) {
  const __m512 vs = _mm512_set1_ps(scale);
  const __m512i va = _mm512_set1_epi32(alpha);
  __m512i sum = _mm512_setzero_si512();
  for (std::int64_t l = 0; l < k; l += 16) {
    const __mmask16 m = first(k - l);
    const __m512i x = _mm512_maskz_sub_epi32(m, codes16(a + l, vs, m), va);
    sum = _mm512_add_epi32(sum, x);
    if constexpr (E == 4)
      _mm_storeu_si128(reinterpret_cast<__m128i*>(reinterpret_cast<std::uint8_t*>(dst) + l),
                       _mm512_maskz_cvtepi32_epi8(0xffff, x));
    else
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(reinterpret_cast<std::uint16_t*>(dst) + l),
                          _mm512_maskz_cvtepi32_epi16(0xffff, x));
  }
  alignas(64) std::uint32_t lanes[16];
  _mm512_store_si512(lanes, sum);
  std::uint32_t s = 0;
  for (std::uint32_t x : lanes) s += x;
  return std::int32_t(std::uint32_t(beta) * s);
}

// E codes per 32-bit lane: bytes (E = 4) or words (E = 2).
template <int E>
void gemm_vnni(std::int64_t m, std::int64_t n, std::int64_t k, const Grid& a, const Grid& b, std::int32_t* c,
               std::int32_t alpha, std::int32_t beta) {
  const std::int64_t kq = (k + E - 1) / E, npanels = (n + NR - 1) / NR, mpanels = (m + MR - 1) / MR;
  const std::int64_t lda = (kq + 15) / 16 * 16;  // a row's dwords: pack_a writes 16 codes at a time
  std::vector<std::int32_t> bp(std::size_t(npanels * kq * NR)), col(std::size_t(npanels * NR));
  // One parallel region: on a loaded machine every fork and join costs (spinning threads wait for descheduled ones).
#pragma omp parallel
  {
#pragma omp for schedule(static)
    for (std::int64_t p = 0; p < npanels; ++p) pack_b<E>(n, k, b, alpha, beta, p, bp.data() + p * kq * NR, col.data());
    std::vector<std::int32_t> ap(std::size_t(MR * lda));
    std::int32_t row[MR] = {};
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t ip = 0; ip < mpanels; ++ip) {
      const std::int64_t i0 = ip * MR, rows = std::min(MR, m - i0);
      for (std::int64_t r = 0; r < rows; ++r) row[r] = pack_a<E>(k, a.v + (i0 + r) * k, a.scale, alpha, beta, ap.data() + r * lda);
      for (std::int64_t r = rows; r < MR; ++r) std::fill_n(ap.data() + r * lda, lda, 0);  // (rows not stored)
      for (std::int64_t jp = 0; jp < npanels; ++jp)
        tile<E>(kq, ap.data(), lda, bp.data() + jp * kq * NR, c + i0 * n + jp * NR, n, rows, std::min(NR, n - jp * NR),
                row, col.data() + jp * NR);
    }
  }
}

}  // namespace

bool int_gemm_vnni(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, int frac_a, const float* b,
                   int frac_b, std::int32_t* c) {
  if (arith::isa() < arith::Isa::AVX512 || !__builtin_cpu_supports("avx512vnni")) return false;
  if (std::abs(frac_a) > 100 || std::abs(frac_b) > 100) return false;  // codes not scaled exactly in float
  const Grid ga{a, std::ldexp(1.f, frac_a)}, gb{b, std::ldexp(1.f, frac_b)};
  std::int32_t alpha = 0, beta = 0;
  if (k > 0) {  // (k = 0: no codes; either kernel writes zeros)
    std::int32_t alo, ahi, blo, bhi;
    code_range(ga, m * k, alo, ahi);
    code_range(gb, k * n, blo, bhi);
    if (byte_shift(alo, ahi, -128, alpha) && byte_shift(blo, bhi, 0, beta)) {
      gemm_vnni<4>(m, n, k, ga, gb, c, alpha, beta);
      return true;
    }
  }
  gemm_vnni<2>(m, n, k, ga, gb, c, 0, 0);
  return true;
}

}  // namespace lpsim::sim
