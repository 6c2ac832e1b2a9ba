// The AVX-512 kernels of fma_gemm_fp32 (fma_gemm.hpp), taken when arith::isa()
// is AVX512. Every function carries its own target attribute: the build never
// needs an AVX-512 compiler flag, and this code only runs on hosts that have it.
//
// Why the bits equal the golden model (dot_golden, "seq" with an exact product
// and fp32 RNE accumulator): output (i, j) is one lane of one accumulator
// register, updated by one IEEE fma per k step, l = 0, 1, ..., k-1, from +0.
// Lanes never mix (no horizontal sums), and between k blocks the accumulator
// is parked in C as an fp32 and reloaded, which is exact; so any blocking over
// i, j, k and any split among threads gives the same chain of roundings as the
// golden loop, as the AVX2 tile does.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "sim/fma_gemm.hpp"

namespace lpsim::sim::detail {

namespace {

// Register tile: MR rows of C x NR = 32 columns (two zmm per row); 2*MR
// accumulators plus two of B and a broadcast fit the 32 zmm registers.
constexpr std::int64_t MR = 12, NR = 32;
// KC x NC block of B packed per task (stays in L2); A packed MR rows at a time (stays in L1).
constexpr std::int64_t KC = 256, NC = 512;

#define LPSIM_AVX512 gnu::target("avx512f,avx512bw,avx512dq,avx512vl,fma")

[[LPSIM_AVX512]] inline __mmask16 lane_mask(std::int64_t count) {
  return count >= 16 ? __mmask16(0xffff) : count <= 0 ? __mmask16(0) : __mmask16((1u << count) - 1);
}

// One MR x (16 NV) tile: c (ldc) = (first ? +0 : c) + a-panel x b-panel, fmas
// in k order per lane. b: packed, kc x NR (NV = 1 reads its left half, for a
// last panel of at most 16 columns). a: packed kc x MR (a[l*MR + r]), or with
// !PACKED read in place, element (r, l) at a[r*rs + l*cs] (a lone panel of B
// uses each element of A once: packing would cost more than it saves). Only
// the first `rows` rows and `cols` columns of c are read and written.
template <int NV, bool PACKED>
[[LPSIM_AVX512]] void tile(std::int64_t kc, const float* a, std::int64_t rs, std::int64_t cs, const float* b, float* c,
                           std::int64_t ldc, std::int64_t rows, std::int64_t cols, bool first) {
  if constexpr (PACKED) rs = 1, cs = MR;
  const __mmask16 mask[2] = {lane_mask(cols), lane_mask(cols - 16)};
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v)
      acc[r][v] = !first && r < rows ? _mm512_maskz_loadu_ps(mask[v], c + r * ldc + 16 * v) : _mm512_setzero_ps();
  for (std::int64_t l = 0; l < kc; ++l, a += cs, b += NR) {
    __m512 bv[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_load_ps(b + 16 * v);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m512 x = _mm512_set1_ps(a[r * rs]);
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(x, bv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
    if (r < rows)
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) _mm512_mask_storeu_ps(c + r * ldc + 16 * v, mask[v], acc[r][v]);
}

// Shuffles through their zero-masked forms with every lane set: the plain
// intrinsics start from _mm512_undefined_ps, which GCC 12 reports as
// maybe-uninitialized (GCC PR 105593).
constexpr __mmask16 kAll = 0xffff;
constexpr __mmask8 kAll8 = 0xff;

// Transposes 16 rows of 16 floats (r[i] = row i) in registers: r[j] becomes column j.
[[LPSIM_AVX512]] inline void transpose16(__m512 r[16]) {
  __m512 t[16], u[16];
#pragma GCC unroll 16
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_maskz_unpacklo_ps(kAll, r[i], r[i + 1]);
    t[i + 1] = _mm512_maskz_unpackhi_ps(kAll, r[i], r[i + 1]);
  }
#pragma GCC unroll 16
  for (int i = 0; i < 16; i += 4) {
    const __m512d a = _mm512_castps_pd(t[i]), b = _mm512_castps_pd(t[i + 1]);
    const __m512d c = _mm512_castps_pd(t[i + 2]), d = _mm512_castps_pd(t[i + 3]);
    // u[i + s]: in 128-bit lane q, column 4q + s of rows i..i+3.
    u[i] = _mm512_castpd_ps(_mm512_maskz_unpacklo_pd(kAll8, a, c));
    u[i + 1] = _mm512_castpd_ps(_mm512_maskz_unpackhi_pd(kAll8, a, c));
    u[i + 2] = _mm512_castpd_ps(_mm512_maskz_unpacklo_pd(kAll8, b, d));
    u[i + 3] = _mm512_castpd_ps(_mm512_maskz_unpackhi_pd(kAll8, b, d));
  }
  // Column 4q + s gathers lane q of u[s], u[4 + s], u[8 + s], u[12 + s].
#pragma GCC unroll 4
  for (int s = 0; s < 4; ++s) {
    const __m512 v = _mm512_maskz_shuffle_f32x4(kAll, u[s], u[4 + s], 0x88);  // lanes 0, 2 of each
    const __m512 w = _mm512_maskz_shuffle_f32x4(kAll, u[8 + s], u[12 + s], 0x88);
    const __m512 v2 = _mm512_maskz_shuffle_f32x4(kAll, u[s], u[4 + s], 0xdd);  // lanes 1, 3 of each
    const __m512 w2 = _mm512_maskz_shuffle_f32x4(kAll, u[8 + s], u[12 + s], 0xdd);
    r[s] = _mm512_maskz_shuffle_f32x4(kAll, v, w, 0x88);
    r[8 + s] = _mm512_maskz_shuffle_f32x4(kAll, v, w, 0xdd);
    r[4 + s] = _mm512_maskz_shuffle_f32x4(kAll, v2, w2, 0x88);
    r[12 + s] = _mm512_maskz_shuffle_f32x4(kAll, v2, w2, 0xdd);
  }
}

// dst[l * ld + q] = src[q * lds + l] for q < nq (zero for nq <= q < 16 rows of
// dst's width `width` <= 16), l < len: a transposed copy, 16 x 16 at a time.
[[LPSIM_AVX512]] void pack_transposed(const float* src, std::int64_t lds, std::int64_t nq, std::int64_t len,
                                      float* dst, std::int64_t ld, std::int64_t width) {
  const __mmask16 wmask = lane_mask(width);
  for (std::int64_t l0 = 0; l0 < len; l0 += 16) {
    const __mmask16 lm = lane_mask(len - l0);
    __m512 r[16];
#pragma GCC unroll 16
    for (int q = 0; q < 16; ++q) r[q] = q < nq ? _mm512_maskz_loadu_ps(lm, src + q * lds + l0) : _mm512_setzero_ps();
    transpose16(r);
    const std::int64_t nl = std::min<std::int64_t>(16, len - l0);
#pragma GCC unroll 16
    for (int l = 0; l < 16; ++l)
      if (l < nl) _mm512_mask_storeu_ps(dst + (l0 + l) * ld, wmask, r[l]);
  }
}

// B rows k0..k0+kc, columns j0..j0+w (w <= np*NR) as np panels of kc x NR, zero past column n.
[[LPSIM_AVX512]] void pack_b(const float* b, std::int64_t ldb, bool trans_b, std::int64_t k0, std::int64_t kc,
                             std::int64_t j0, std::int64_t w, std::int64_t np, float* dst) {
  for (std::int64_t p = 0; p < np; ++p) {
    float* d = dst + p * kc * NR;
    const std::int64_t j = j0 + p * NR, cols = std::min(NR, w - p * NR);
    if (trans_b) {  // op(B)(l, j) = b[j*ldb + l]: columns of op(B) are rows of b
      pack_transposed(b + j * ldb + k0, ldb, std::min<std::int64_t>(16, cols), kc, d, NR, 16);
      pack_transposed(cols > 16 ? b + (j + 16) * ldb + k0 : b, ldb, cols - 16, kc, d + 16, NR, 16);  // zeros if none
    } else {
      const __mmask16 m0 = lane_mask(cols), m1 = lane_mask(cols - 16);
      for (std::int64_t l = 0; l < kc; ++l) {
        const float* s = b + (k0 + l) * ldb + j;
        _mm512_store_ps(d + l * NR, _mm512_maskz_loadu_ps(m0, s));
        _mm512_store_ps(d + l * NR + 16, _mm512_maskz_loadu_ps(m1, s + 16));
      }
    }
  }
}

// A rows i..i+rows, k0..k0+kc as one kc x MR panel, zero below row `rows`.
[[LPSIM_AVX512]] void pack_a(const float* a, std::int64_t lda, bool trans_a, std::int64_t i, std::int64_t rows,
                             std::int64_t k0, std::int64_t kc, float* dst) {
  if (trans_a) {  // op(A)(i, l) = a[l*lda + i]: MR contiguous floats per l
    const __mmask16 m = lane_mask(rows);
    for (std::int64_t l = 0; l < kc; ++l)
      _mm512_mask_storeu_ps(dst + l * MR, lane_mask(MR), _mm512_maskz_loadu_ps(m, a + (k0 + l) * lda + i));
  } else {
    pack_transposed(a + i * lda + k0, lda, rows, kc, dst, MR, MR);
  }
}

float* aligned(std::vector<float>& v, std::size_t n) {
  if (v.size() < n + 16) v.resize(n + 16);
  return reinterpret_cast<float*>((reinterpret_cast<std::uintptr_t>(v.data()) + 63) & ~std::uintptr_t(63));
}

}  // namespace

[[LPSIM_AVX512]] void fma_gemm_fp32_avx512(std::int64_t m, std::int64_t n, std::int64_t k, const float* a,
                                           std::int64_t lda, bool trans_a, const float* b, std::int64_t ldb,
                                           bool trans_b, float* c, std::int64_t ldc) {
  // Tasks: blocks of rows x blocks of columns of C, each computed whole (all
  // k blocks) by one thread with its own packed copies: no barrier between
  // k blocks, so a thread that the OS delays holds up no other.
  if (m == 0 || n == 0) return;
  const std::int64_t threads = omp_get_max_threads();
  const std::int64_t rpanels = (m + MR - 1) / MR, cpanels = (n + NR - 1) / NR;
  std::int64_t rp = rpanels, cp = std::min(cpanels, NC / NR);  // panels per task
  auto tasks = [&] { return ((rpanels + rp - 1) / rp) * ((cpanels + cp - 1) / cp); };
  // Enough tasks to share out: split rows (B packed once more per row block)
  // or columns (A packed once more), whichever adds less packing.
  while (tasks() < 2 * threads) {
    if (rp > 1 && (m >= n || cp == 1)) rp = (rp + 1) / 2;
    else if (cp > 1) cp = (cp + 1) / 2;
    else break;
  }
  const std::int64_t rblocks = (rpanels + rp - 1) / rp, cblocks = (cpanels + cp - 1) / cp;
  const std::int64_t kcmax = std::min(KC, k), a_rs = trans_a ? 1 : lda, a_cs = trans_a ? lda : 1;
  // (A product of under a million multiply-adds is done before a team could start.)
#pragma omp parallel if (rblocks * cblocks > 1 && double(m) * double(n) * double(k) >= 0x1p20)
  {
    // Scratch kept by each thread between calls: fresh pages would fault every call.
    thread_local std::vector<float> bbuf, abuf;
    float* bp = aligned(bbuf, std::size_t(kcmax * cp * NR));
    float* ap = aligned(abuf, std::size_t(kcmax * MR));
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t t = 0; t < rblocks * cblocks; ++t) {
      const std::int64_t rb = t / cblocks, cb = t % cblocks;
      const std::int64_t i0 = rb * rp * MR, i1 = std::min(m, i0 + rp * MR);
      const std::int64_t j0 = cb * cp * NR, j1 = std::min(n, j0 + cp * NR), np = (j1 - j0 + NR - 1) / NR;
      for (std::int64_t k0 = 0; k0 < k; k0 += KC) {
        const std::int64_t kc = std::min(KC, k - k0);
        pack_b(b, ldb, trans_b, k0, kc, j0, j1 - j0, np, bp);
        for (std::int64_t i = i0; i < i1; i += MR) {
          const std::int64_t rows = std::min(MR, i1 - i);
          // A lone panel of B: full row panels of A read in place, a ragged last one packed.
          const bool direct = cpanels == 1 && rows == MR;
          if (!direct) pack_a(a, lda, trans_a, i, rows, k0, kc, ap);
          const float* al = a + (trans_a ? k0 * lda + i : i * lda + k0);
          for (std::int64_t p = 0; p < np; ++p) {
            const std::int64_t j = j0 + p * NR, cols = std::min(NR, j1 - j);
            const float* bl = bp + p * kc * NR;
            float* cl = c + i * ldc + j;
            if (direct)
              (cols > 16 ? tile<2, false> : tile<1, false>)(kc, al, a_rs, a_cs, bl, cl, ldc, rows, cols, k0 == 0);
            else
              (cols > 16 ? tile<2, true> : tile<1, true>)(kc, ap, 1, MR, bl, cl, ldc, rows, cols, k0 == 0);
          }
        }
      }
    }
  }
}

}  // namespace lpsim::sim::detail
