#include "sim/fma_gemm.hpp"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <memory>
#include <cmath>
#include <vector>

#include "arith/isa.hpp"

namespace lpsim::sim {

namespace {

constexpr std::int64_t MR = 6, NR = 16, KC = 512, MC = 72;

// One MR x NR tile: c (ldc) = (first ? 0 : c) + sum over kc of a-panel x b-panel, in k order.
// Element (r, l) of the a-panel is a[r * rs + l * cs]: a packed panel (rs 1, cs MR) or A read in
// place (rs, cs from its layout), which saves the packing when no other panel of B would reuse it.
[[gnu::target("avx2,fma")]] void tile_avx2(std::int64_t kc, const float* a, std::int64_t rs, std::int64_t cs,
                                           const float* b, float* c, std::int64_t ldc, std::int64_t rows,
                                           std::int64_t cols, bool first) {
  alignas(32) float buf[MR * NR];
  const bool full = rows == MR && cols == NR;
  float* dst = full ? c : buf;
  const std::int64_t ld = full ? ldc : NR;
  if (!full) {
    for (std::int64_t r = 0; r < MR; ++r)
      for (std::int64_t j = 0; j < NR; ++j) buf[r * NR + j] = (!first && r < rows && j < cols) ? c[r * ldc + j] : 0.f;
  }
  // Twelve named accumulators: an array here makes GCC store every update to the stack.
  // (Macros, not lambdas: a lambda would not inherit the target attribute.)
  const bool zero = first && full;
#define LPSIM_LOAD(r, h) (zero ? _mm256_setzero_ps() : _mm256_loadu_ps(dst + (r) * ld + 8 * (h)))
  __m256 c00 = LPSIM_LOAD(0, 0), c01 = LPSIM_LOAD(0, 1), c10 = LPSIM_LOAD(1, 0), c11 = LPSIM_LOAD(1, 1);
  __m256 c20 = LPSIM_LOAD(2, 0), c21 = LPSIM_LOAD(2, 1), c30 = LPSIM_LOAD(3, 0), c31 = LPSIM_LOAD(3, 1);
  __m256 c40 = LPSIM_LOAD(4, 0), c41 = LPSIM_LOAD(4, 1), c50 = LPSIM_LOAD(5, 0), c51 = LPSIM_LOAD(5, 1);
#undef LPSIM_LOAD
  for (std::int64_t l = 0; l < kc; ++l) {
    const __m256 b0 = _mm256_load_ps(b + l * NR), b1 = _mm256_load_ps(b + l * NR + 8);
    const float* al = a + l * cs;
    __m256 x = _mm256_broadcast_ss(al);
    c00 = _mm256_fmadd_ps(x, b0, c00), c01 = _mm256_fmadd_ps(x, b1, c01);
    x = _mm256_broadcast_ss(al + rs);
    c10 = _mm256_fmadd_ps(x, b0, c10), c11 = _mm256_fmadd_ps(x, b1, c11);
    x = _mm256_broadcast_ss(al + 2 * rs);
    c20 = _mm256_fmadd_ps(x, b0, c20), c21 = _mm256_fmadd_ps(x, b1, c21);
    x = _mm256_broadcast_ss(al + 3 * rs);
    c30 = _mm256_fmadd_ps(x, b0, c30), c31 = _mm256_fmadd_ps(x, b1, c31);
    x = _mm256_broadcast_ss(al + 4 * rs);
    c40 = _mm256_fmadd_ps(x, b0, c40), c41 = _mm256_fmadd_ps(x, b1, c41);
    x = _mm256_broadcast_ss(al + 5 * rs);
    c50 = _mm256_fmadd_ps(x, b0, c50), c51 = _mm256_fmadd_ps(x, b1, c51);
  }
#define LPSIM_STORE(r, lo, hi) _mm256_storeu_ps(dst + (r) * ld, lo), _mm256_storeu_ps(dst + (r) * ld + 8, hi)
  LPSIM_STORE(0, c00, c01), LPSIM_STORE(1, c10, c11), LPSIM_STORE(2, c20, c21);
  LPSIM_STORE(3, c30, c31), LPSIM_STORE(4, c40, c41), LPSIM_STORE(5, c50, c51);
#undef LPSIM_STORE
  if (!full)
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t j = 0; j < cols; ++j) c[r * ldc + j] = buf[r * NR + j];
}

void tile_portable(std::int64_t kc, const float* a, std::int64_t rs, std::int64_t cs, const float* b, float* c,
                   std::int64_t ldc, std::int64_t rows, std::int64_t cols, bool first) {
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < cols; ++j) {
      float s = first ? 0.f : c[r * ldc + j];
      for (std::int64_t l = 0; l < kc; ++l) s = std::fma(a[r * rs + l * cs], b[l * NR + j], s);
      c[r * ldc + j] = s;
    }
}

}  // namespace

void fma_gemm_fp32(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda, bool trans_a,
                   const float* b, std::int64_t ldb, bool trans_b, float* c, std::int64_t ldc) {
  const bool avx2 = arith::use_avx2();  // arith/isa.hpp: the one dispatch switch
  const auto tile = avx2 ? tile_avx2 : tile_portable;
  if (k == 0) {
    for (std::int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.f);
    return;
  }
  // AVX-512: 12x32 tiles, the same fma chain per output (fma_gemm_avx512.cpp says why).
  if (arith::isa() >= arith::Isa::AVX512)
    return detail::fma_gemm_fp32_avx512(m, n, k, a, lda, trans_a, b, ldb, trans_b, c, ldc);
  const std::int64_t npanels = (n + NR - 1) / NR, mblocks = (m + MC - 1) / MC;
  // Not value-initialised: every element is written by the packing below.
  const std::unique_ptr<float[]> bpack(new float[std::size_t(npanels * std::min(KC, k) * NR + 8)]);
  float* bp = reinterpret_cast<float*>((reinterpret_cast<std::uintptr_t>(bpack.get()) + 31) & ~std::uintptr_t(31));
  // Tasks: (block of MC rows) x (group of panels), so that short-and-wide
  // products (convolutions: few output channels) still use every thread.
  constexpr std::int64_t kPanelsPerTask = 8;
  const std::int64_t ngroups = (npanels + kPanelsPerTask - 1) / kPanelsPerTask;
  // With one panel of B each element of A feeds a single tile: full row
  // panels are then read in place and only a ragged last one is packed.
  const bool in_place = npanels == 1;
  const std::int64_t a_rs = trans_a ? 1 : lda, a_cs = trans_a ? lda : 1;
  // One parallel region for all k blocks (a long reduction, e.g. a weight
  // gradient with K = batch x pixels, has hundreds of them); the barriers
  // after each `omp for` order packing, use and the next block's packing.
#pragma omp parallel
  {
    std::vector<float> apack(std::size_t(MC * std::min(KC, k)));
    for (std::int64_t k0 = 0; k0 < k; k0 += KC) {
      const std::int64_t kc = std::min(KC, k - k0);
      // B block (kc x n) as panels of NR columns, each kc x NR contiguous,
      // zero-padded; shared out by rows of the panels, as n may be one panel.
#pragma omp for schedule(static)
      for (std::int64_t pl = 0; pl < npanels * kc; ++pl) {
        const std::int64_t p = pl / kc, l = pl % kc;
        for (std::int64_t jj = 0; jj < NR; ++jj) {
          const std::int64_t j = p * NR + jj;
          bp[pl * NR + jj] = j >= n ? 0.f : trans_b ? b[j * ldb + k0 + l] : b[(k0 + l) * ldb + j];
        }
      }
      std::int64_t packed_mb = -1;
      // Panel p of the block from row i0 as kc x MR, zero-padded below row i1.
      auto pack = [&](std::int64_t p, std::int64_t i0, std::int64_t i1) {
        for (std::int64_t l = 0; l < kc; ++l)
          for (std::int64_t r = 0; r < MR; ++r) {
            const std::int64_t i = i0 + p * MR + r;
            apack[std::size_t((p * kc + l) * MR + r)] = i >= i1 ? 0.f : a[i * a_rs + (k0 + l) * a_cs];
          }
      };
#pragma omp for schedule(dynamic, 1)
      for (std::int64_t t = 0; t < mblocks * ngroups; ++t) {
        const std::int64_t mb = t / ngroups, grp = t % ngroups;
        const std::int64_t i0 = mb * MC, i1 = std::min(m, i0 + MC);
        const std::int64_t apanels = (i1 - i0 + MR - 1) / MR;
        if (!in_place && mb != packed_mb) {
          for (std::int64_t p = 0; p < apanels; ++p) pack(p, i0, i1);
          packed_mb = mb;
        }
        for (std::int64_t jp = grp * kPanelsPerTask; jp < std::min(npanels, (grp + 1) * kPanelsPerTask); ++jp)
          for (std::int64_t p = 0; p < apanels; ++p) {
            const std::int64_t i = i0 + p * MR, j = jp * NR, rows = std::min(MR, i1 - i);
            const bool direct = in_place && rows == MR;
            if (in_place && !direct) pack(p, i0, i1);
            const float* ap = direct ? a + i * a_rs + k0 * a_cs : apack.data() + p * kc * MR;
            tile(kc, ap, direct ? a_rs : 1, direct ? a_cs : MR, bp + jp * kc * NR, c + i * ldc + j, ldc, rows,
                 std::min(NR, n - j), k0 == 0);
          }
      }
    }
  }
}

}  // namespace lpsim::sim
