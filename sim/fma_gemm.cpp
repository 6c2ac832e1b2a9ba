#include "sim/fma_gemm.hpp"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace lpsim::sim {

namespace {

constexpr std::int64_t MR = 6, NR = 16, KC = 256, MC = 72;

// One MR x NR tile: c (ldc) = (first ? 0 : c) + sum over kc of a-panel x b-panel, in k order.
[[gnu::target("avx2,fma")]] void tile_avx2(std::int64_t kc, const float* a, const float* b, float* c,
                                           std::int64_t ldc, std::int64_t rows, std::int64_t cols, bool first) {
  alignas(32) float buf[MR * NR];
  const bool full = rows == MR && cols == NR;
  float* dst = full ? c : buf;
  const std::int64_t ld = full ? ldc : NR;
  if (!full) {
    for (std::int64_t r = 0; r < MR; ++r)
      for (std::int64_t j = 0; j < NR; ++j) buf[r * NR + j] = (!first && r < rows && j < cols) ? c[r * ldc + j] : 0.f;
  }
  __m256 acc[MR][2];
  for (std::int64_t r = 0; r < MR; ++r) {
    acc[r][0] = first && full ? _mm256_setzero_ps() : _mm256_loadu_ps(dst + r * ld);
    acc[r][1] = first && full ? _mm256_setzero_ps() : _mm256_loadu_ps(dst + r * ld + 8);
  }
  for (std::int64_t l = 0; l < kc; ++l) {
    const __m256 b0 = _mm256_load_ps(b + l * NR), b1 = _mm256_load_ps(b + l * NR + 8);
    for (std::int64_t r = 0; r < MR; ++r) {
      const __m256 x = _mm256_broadcast_ss(a + l * MR + r);
      acc[r][0] = _mm256_fmadd_ps(x, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(x, b1, acc[r][1]);
    }
  }
  for (std::int64_t r = 0; r < MR; ++r) {
    _mm256_storeu_ps(dst + r * ld, acc[r][0]);
    _mm256_storeu_ps(dst + r * ld + 8, acc[r][1]);
  }
  if (!full)
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t j = 0; j < cols; ++j) c[r * ldc + j] = buf[r * NR + j];
}

void tile_portable(std::int64_t kc, const float* a, const float* b, float* c, std::int64_t ldc, std::int64_t rows,
                   std::int64_t cols, bool first) {
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < cols; ++j) {
      float s = first ? 0.f : c[r * ldc + j];
      for (std::int64_t l = 0; l < kc; ++l) s = std::fma(a[l * MR + r], b[l * NR + j], s);
      c[r * ldc + j] = s;
    }
}

}  // namespace

void fma_gemm_fp32(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda, const float* b,
                   std::int64_t ldb, float* c, std::int64_t ldc) {
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const auto tile = avx2 ? tile_avx2 : tile_portable;
  if (k == 0) {
    for (std::int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.f);
    return;
  }
  const std::int64_t npanels = (n + NR - 1) / NR, mblocks = (m + MC - 1) / MC;
  std::vector<float, std::allocator<float>> bpack;
  for (std::int64_t k0 = 0; k0 < k; k0 += KC) {
    const std::int64_t kc = std::min(KC, k - k0);
    // B block (kc x n) as panels of NR columns, each kc x NR contiguous, zero-padded.
    bpack.assign(std::size_t(npanels * kc * NR + 8), 0.f);
    float* bp = reinterpret_cast<float*>((reinterpret_cast<std::uintptr_t>(bpack.data()) + 31) & ~std::uintptr_t(31));
#pragma omp parallel for schedule(static)
    for (std::int64_t p = 0; p < npanels; ++p)
      for (std::int64_t l = 0; l < kc; ++l)
        for (std::int64_t j = p * NR; j < std::min(n, (p + 1) * NR); ++j)
          bp[(p * kc + l) * NR + (j - p * NR)] = b[(k0 + l) * ldb + j];
#pragma omp parallel
    {
      std::vector<float> apack(std::size_t(MC * kc));
#pragma omp for schedule(dynamic, 1)
      for (std::int64_t mb = 0; mb < mblocks; ++mb) {
        const std::int64_t i0 = mb * MC, i1 = std::min(m, i0 + MC);
        // A block (rows i0..i1, kc) as panels of MR rows, each kc x MR, zero-padded.
        const std::int64_t apanels = (i1 - i0 + MR - 1) / MR;
        for (std::int64_t p = 0; p < apanels; ++p)
          for (std::int64_t l = 0; l < kc; ++l)
            for (std::int64_t r = 0; r < MR; ++r) {
              const std::int64_t i = i0 + p * MR + r;
              apack[std::size_t((p * kc + l) * MR + r)] = i < i1 ? a[i * lda + k0 + l] : 0.f;
            }
        for (std::int64_t jp = 0; jp < npanels; ++jp)
          for (std::int64_t p = 0; p < apanels; ++p) {
            const std::int64_t i = i0 + p * MR, j = jp * NR;
            tile(kc, apack.data() + p * kc * MR, bp + jp * kc * NR, c + i * ldc + j, ldc, std::min(MR, i1 - i),
                 std::min(NR, n - j), k0 == 0);
          }
      }
    }
  }
}

}  // namespace lpsim::sim
