// fp16_lanes_gemm (float_lanes.hpp): a seq fp16 accumulator with one
// AVX512-FP16 vfmadd231ph per term, 32 outputs per register.
//
// Why it is exactly the MAC model, acc <- RNE_fp16(acc + a*b) from acc = +0:
//  - the model's product of two fp16 values is exact (22 bits, in double) and
//    its addition is one rounding of the exact sum (round to odd at 53 bits,
//    then RNE into fp16: Boldo & Melquiond). vfmadd231ph rounds a*b + acc,
//    computed exactly, once into fp16: IEEE 754 fusedMultiplyAdd. Rounding is
//    RNE by MXCSR.RC, which the kernel sets (and restores) on its thread.
//  - subnormals: AVX512-FP16 arithmetic always takes and gives fp16
//    subnormals (MXCSR.DAZ/FTZ do not apply to it), as the model's fp16 has.
//    The float <-> fp16 conversions do honour DAZ, so the path is refused
//    when DAZ or FTZ is set.
//  - overflow: RNE beyond the largest finite value gives +-inf in both; inf
//    plus finite stays inf; the model has no saturation here (IEEE fp16).
//  - signed zeros: IEEE gives -0 for an exact zero sum only when both addends
//    are -0 (a product -0 onto an acc -0), +0 otherwise under RNE, and a
//    nonzero result rounding to zero keeps its sign: the model's rules
//    (sim/README.md "Zeros"). The first step adds onto +0 in both.
//  - NaN: both make NaN in the same cases (a NaN operand, 0 * inf, inf - inf)
//    and keep it (a NaN accumulator stays NaN), but the model's NaN is the
//    canonical quiet NaN where the hardware's payload and sign depend on the
//    operands: every NaN output is written as that canonical NaN.
// The operands must be fp16 values: they are converted to fp16 and back,
// and any that does not return unchanged (NaN aside) refuses the whole call.
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "arith/isa.hpp"
#include "sim/float_lanes.hpp"

namespace lpsim::sim {

namespace {

constexpr std::int64_t MR = 6, NR = 128;  // 6 rows x 4 zmm of 32 fp16: 24 accumulators
constexpr std::int64_t kGroup = 8;        // row panels per task
constexpr std::uint32_t kMxcsrRc = 0x6000, kMxcsrDazFtz = 0x8040;

#define LPSIM_FP16 gnu::target("avx512f,avx512bw,avx512vl,avx512fp16")

bool is_ieee_fp16_rne(const Rounded& r) {
  const auto& f = r.format;
  return f.kind == arith::Kind::Float && f.exp_bits == 5 && f.man_bits == 10 && f.bias == 15 &&
         f.specials == arith::Specials::IEEE && f.subnormals && !f.saturate && r.rounding.mode == arith::Mode::RNE;
}

// fp16 copies of n floats; false when some value is not an fp16 value (a NaN passes: its output is NaN anyway).
[[LPSIM_FP16]] bool to_fp16(const float* x, std::int64_t n, std::uint16_t* out) {
  __mmask16 bad = 0;
  for (std::int64_t q = 0; q < n; q += 16) {
    const __mmask16 m = n - q >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - q)) - 1);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + q);
    // (maskz forms: the plain ones start from an undefined vector, GCC PR 105593)
    const __m256i h = _mm512_maskz_cvtps_ph(0xffff, v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512 back = _mm512_maskz_cvtph_ps(0xffff, h);
    bad |= _mm512_mask_cmp_ps_mask(m, v, back, _CMP_NEQ_OQ);
    _mm256_mask_storeu_epi16(out + q, m, h);
  }
  return bad == 0;
}

// k terms into rows (<= MR) x cols (<= NR) accumulators: a as k x MR dwords, each an fp16 code
// twice (so that a vpbroadcastd, a plain load, spreads it over 32 lanes: vpbroadcastw needs a
// shuffle port too), panel k x NR fp16. The accumulators start from +0 (first) or from `acc`
// (the fp16 state the previous block left: storing and reloading it changes nothing), and go
// back to `acc`, or, after the last block, to c as floats.
[[LPSIM_FP16]] void tile(std::int64_t k, const std::uint32_t* a, const std::uint16_t* panel, __m512h* acc, bool first,
                        bool last, float* c, std::int64_t ldc, std::int64_t rows, std::int64_t cols) {
  // Named accumulators: an array makes GCC store every update to the stack.
  __m512h c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23;
  __m512h c30, c31, c32, c33, c40, c41, c42, c43, c50, c51, c52, c53;
  if (first) {
    c00 = _mm512_setzero_ph(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00, c13 = c00;
    c20 = c00, c21 = c00, c22 = c00, c23 = c00, c30 = c00, c31 = c00, c32 = c00, c33 = c00;
    c40 = c00, c41 = c00, c42 = c00, c43 = c00, c50 = c00, c51 = c00, c52 = c00, c53 = c00;
  } else {
    c00 = acc[0], c01 = acc[1], c02 = acc[2], c03 = acc[3], c10 = acc[4], c11 = acc[5], c12 = acc[6], c13 = acc[7];
    c20 = acc[8], c21 = acc[9], c22 = acc[10], c23 = acc[11], c30 = acc[12], c31 = acc[13], c32 = acc[14];
    c33 = acc[15], c40 = acc[16], c41 = acc[17], c42 = acc[18], c43 = acc[19], c50 = acc[20], c51 = acc[21];
    c52 = acc[22], c53 = acc[23];
  }
  for (std::int64_t l = 0; l < k; ++l) {
    const std::uint16_t* bl = panel + l * NR;
    const std::uint32_t* al = a + l * MR;
    const __m512h b0 = _mm512_castsi512_ph(_mm512_loadu_si512(bl)), b1 = _mm512_castsi512_ph(_mm512_loadu_si512(bl + 32));
    const __m512h b2 = _mm512_castsi512_ph(_mm512_loadu_si512(bl + 64)), b3 = _mm512_castsi512_ph(_mm512_loadu_si512(bl + 96));
#define LPSIM_ROW(r, s0, s1, s2, s3)                                                \
  {                                                                                 \
    const __m512h x = _mm512_castsi512_ph(_mm512_set1_epi32(std::int32_t(al[r])));  \
    s0 = _mm512_fmadd_ph(x, b0, s0);                                                \
    s1 = _mm512_fmadd_ph(x, b1, s1);                                                \
    s2 = _mm512_fmadd_ph(x, b2, s2);                                                \
    s3 = _mm512_fmadd_ph(x, b3, s3);                                                \
  }
    LPSIM_ROW(0, c00, c01, c02, c03) LPSIM_ROW(1, c10, c11, c12, c13) LPSIM_ROW(2, c20, c21, c22, c23)
    LPSIM_ROW(3, c30, c31, c32, c33) LPSIM_ROW(4, c40, c41, c42, c43) LPSIM_ROW(5, c50, c51, c52, c53)
#undef LPSIM_ROW
  }
  const __m512h all[MR][4] = {{c00, c01, c02, c03}, {c10, c11, c12, c13}, {c20, c21, c22, c23},
                              {c30, c31, c32, c33}, {c40, c41, c42, c43}, {c50, c51, c52, c53}};
  if (!last) {
    for (std::int64_t r = 0; r < MR; ++r)
      for (int v = 0; v < 4; ++v) acc[r * 4 + v] = all[r][v];
    return;
  }
  const __m512 nan = _mm512_set1_ps(std::numeric_limits<float>::quiet_NaN());  // the model's NaN
  for (std::int64_t r = 0; r < rows; ++r)
    for (int v = 0; v < 8; ++v) {  // 16 outputs at a time, as floats
      const std::int64_t left = std::clamp<std::int64_t>(cols - 16 * v, 0, 16);
      if (left == 0) break;
      const __m512i h = _mm512_castph_si512(all[r][v / 2]);
      const __m256i half = v % 2 ? _mm512_maskz_extracti64x4_epi64(0xff, h, 1) : _mm512_maskz_extracti64x4_epi64(0xff, h, 0);
      __m512 f = _mm512_maskz_cvtph_ps(0xffff, half);
      f = _mm512_mask_mov_ps(f, _mm512_cmp_ps_mask(f, f, _CMP_UNORD_Q), nan);
      _mm512_mask_storeu_ps(c + r * ldc + 16 * v, __mmask16((1u << left) - 1), f);
    }
}

// Row panels [ip0, ip1) against column panel jp, k in blocks of KC terms: a block of the panel
// (KC x NR fp16, 32 KB) stays in L1 while every row panel of the group takes it. Runs in RNE:
// MXCSR.RC set on this thread for the span, restored after (out of line, so that no
// floating-point operation moves across the change).
[[LPSIM_FP16, gnu::noinline]] void panel_rows(std::int64_t m, std::int64_t n, std::int64_t k, const std::uint32_t* ap,
                                              const std::uint16_t* bp, float* c, std::int64_t ldc, std::int64_t jp,
                                              std::int64_t ip0, std::int64_t ip1) {
  constexpr std::int64_t KC = 128;
  __m512h acc[kGroup][MR * 4];
  const unsigned saved = _mm_getcsr();
  _mm_setcsr(saved & ~kMxcsrRc);  // round to nearest even
  const std::int64_t cols = std::min(NR, n - jp * NR);
  for (std::int64_t l0 = 0; l0 < k || l0 == 0; l0 += KC) {
    const std::int64_t kc = std::min(KC, k - l0);
    for (std::int64_t ip = ip0; ip < ip1; ++ip)
      tile(kc, ap + (ip * k + l0) * MR, bp + (jp * k + l0) * NR, acc[ip - ip0], l0 == 0, l0 + KC >= k,
           c + ip * MR * ldc + jp * NR, ldc, std::min(MR, m - ip * MR), cols);
  }
  _mm_setcsr(saved);
}

}  // namespace

bool fp16_lanes_apply(const MacConfig& cfg) {
  if (arith::isa() < arith::Isa::AVX512 || !__builtin_cpu_supports("avx512fp16")) return false;
  return cfg.order == Order::Seq && cfg.promote == 0 && !cfg.product && !cfg.overflow_inf && is_ieee_fp16_rne(cfg.acc);
}

bool fp16_lanes_gemm(const MacConfig& cfg, std::int64_t m, std::int64_t n, std::int64_t k, const float* a,
                     const float* b, float* c, std::int64_t ldc) {
  if (!fp16_lanes_apply(cfg) || (_mm_getcsr() & kMxcsrDazFtz)) return false;
  const std::int64_t npanels = (n + NR - 1) / NR, mpanels = (m + MR - 1) / MR;
  // (not zeroed: every element is written, but for the last panel's columns past n, zeroed below)
  const std::unique_ptr<std::uint16_t[]> ah(new std::uint16_t[std::size_t(m * k)]),
      bp(new std::uint16_t[std::size_t(npanels * k * NR)]);
  const std::unique_ptr<std::uint32_t[]> ap(new std::uint32_t[std::size_t(mpanels * k * MR)]);
  std::atomic<bool> exact{true};
#pragma omp parallel
  {
#pragma omp for schedule(static) nowait
    for (std::int64_t i = 0; i < m; ++i)
      if (!to_fp16(a + i * k, k, ah.get() + i * k)) exact = false;
#pragma omp for schedule(static)
    for (std::int64_t p = 0; p < npanels; ++p)
      for (std::int64_t l = 0; l < k; ++l) {
        const std::int64_t j0 = p * NR, w = std::min(NR, n - j0);
        std::uint16_t* dst = bp.get() + (p * k + l) * NR;
        if (!to_fp16(b + l * n + j0, w, dst)) exact = false;
        std::fill(dst + w, dst + NR, std::uint16_t(0));
      }
    // (the barrier above: every flag and copy is in)
    if (exact) {
      // A as dwords of a code twice, per row panel k x MR (extra rows repeat the last; dropped).
#pragma omp for schedule(static)
      for (std::int64_t ip = 0; ip < mpanels; ++ip) {
        const std::int64_t rows = std::min(MR, m - ip * MR);
        for (std::int64_t l = 0; l < k; ++l)
          for (std::int64_t r = 0; r < MR; ++r) {
            const std::uint32_t h = ah[std::size_t((ip * MR + std::min(r, rows - 1)) * k + l)];
            ap[std::size_t((ip * k + l) * MR + r)] = h | h << 16;
          }
      }
      const std::int64_t groups = (mpanels + kGroup - 1) / kGroup;
#pragma omp for schedule(dynamic, 1)
      for (std::int64_t t = 0; t < npanels * groups; ++t) {
        const std::int64_t jp = t / groups, ip0 = t % groups * kGroup;
        panel_rows(m, n, k, ap.get(), bp.get(), c, ldc, jp, ip0, std::min(mpanels, ip0 + kGroup));
      }
    }
  }
  return exact;
}

}  // namespace lpsim::sim
