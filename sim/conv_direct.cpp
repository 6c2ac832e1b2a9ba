#include "sim/conv_direct.hpp"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <vector>

#include "arith/isa.hpp"
#include "arith/quantize.hpp"
#include "sim/gemm.hpp"

namespace lpsim::sim {

namespace {

#define LPSIM_AVX512 gnu::target("avx512f,avx512bw,avx512dq,avx512vl,fma")

bool deterministic(const std::optional<Rounded>& r) { return !r || r->rounding.mode != arith::Mode::SR; }

// v[0..n) rounded into an operand's or the output's format, if it has one.
// Deterministic roundings only (conv_direct_applies), so that rounding the
// tensors -- zero padding included, as zero stays zero -- gives the values
// the lowered GEMM's rounding of the im2col matrix gives.
void round_all(float* v, std::int64_t n, const std::optional<Rounded>& r) {
  if (!r) return;
  constexpr std::int64_t kChunk = 1 << 14;
#pragma omp parallel for schedule(static) if (n > 4 * kChunk)
  for (std::int64_t i = 0; i < n; i += kChunk)
    arith::quantize(v + i, v + i, std::size_t(std::min(kChunk, n - i)), r->format, r->rounding, {}, std::uint64_t(i));
}

// Scratch kept between calls: fresh multi-megabyte buffers cost page faults every layer.
std::vector<float>& scratch(int which) {
  thread_local std::vector<float> buffers[4];
  return buffers[which];
}

constexpr std::int64_t kSlack = 64;  // zeros after the last plane: a tile's last vectors read up to 47 floats past it

// src (planes x rows x cols) into dst as planes of prow x pcol with the rows
// and columns around the copy (at top, left) zero, then kSlack zeros.
void pad_planes(const float* src, std::int64_t planes, std::int64_t rows, std::int64_t cols, std::int64_t top,
                std::int64_t left, std::int64_t prow, std::int64_t pcol, std::vector<float>& dst) {
  const std::int64_t pp = prow * pcol;
  dst.resize(std::size_t(planes * pp + kSlack));
#pragma omp parallel for schedule(static) if (planes * pp > (1 << 15))
  for (std::int64_t p = 0; p < planes; ++p) {
    float* d = dst.data() + p * pp;
    const float* s = src + p * rows * cols;
    std::fill(d, d + top * pcol, 0.f);
    for (std::int64_t r = 0; r < rows; ++r) {
      float* dr = d + (top + r) * pcol;
      std::fill(dr, dr + left, 0.f);
      std::copy_n(s + r * cols, cols, dr + left);
      std::fill(dr + left + cols, dr + pcol, 0.f);
    }
    std::fill(d + (top + rows) * pcol, d + pp, 0.f);
  }
  std::fill(dst.end() - kSlack, dst.end(), 0.f);
}

std::int64_t round_up(std::int64_t v, std::int64_t m) { return (v + m - 1) / m * m; }

// ---- forward ----------------------------------------------------------------
// Output positions are flattened over the width ws of the input's phase
// planes (split_phases): 8 consecutive positions are one unaligned load per
// tap. Lanes with ox >= ow (they straddle the padding) compute values nobody stores.
constexpr std::int64_t kFq = 24, kFc = 4;  // tile: 24 positions (3 vectors) x 4 output channels

[[gnu::target("avx2,fma")]] void forward_tile(const float* xb, const std::int64_t* koff, std::int64_t k,
                                              const float* wk, std::int64_t ldw, float* out) {
  // Twelve named accumulators (an array makes GCC keep them on the stack).
  __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00;
  __m256 a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
  for (std::int64_t l = 0; l < k; ++l) {
    const float* p = xb + koff[l];
    const __m256 x0 = _mm256_loadu_ps(p), x1 = _mm256_loadu_ps(p + 8), x2 = _mm256_loadu_ps(p + 16);
    const float* w = wk + l * ldw;
    __m256 v = _mm256_broadcast_ss(w);
    a00 = _mm256_fmadd_ps(x0, v, a00), a01 = _mm256_fmadd_ps(x1, v, a01), a02 = _mm256_fmadd_ps(x2, v, a02);
    v = _mm256_broadcast_ss(w + 1);
    a10 = _mm256_fmadd_ps(x0, v, a10), a11 = _mm256_fmadd_ps(x1, v, a11), a12 = _mm256_fmadd_ps(x2, v, a12);
    v = _mm256_broadcast_ss(w + 2);
    a20 = _mm256_fmadd_ps(x0, v, a20), a21 = _mm256_fmadd_ps(x1, v, a21), a22 = _mm256_fmadd_ps(x2, v, a22);
    v = _mm256_broadcast_ss(w + 3);
    a30 = _mm256_fmadd_ps(x0, v, a30), a31 = _mm256_fmadd_ps(x1, v, a31), a32 = _mm256_fmadd_ps(x2, v, a32);
  }
  _mm256_store_ps(out, a00), _mm256_store_ps(out + 8, a01), _mm256_store_ps(out + 16, a02);
  _mm256_store_ps(out + 24, a10), _mm256_store_ps(out + 32, a11), _mm256_store_ps(out + 40, a12);
  _mm256_store_ps(out + 48, a20), _mm256_store_ps(out + 56, a21), _mm256_store_ps(out + 64, a22);
  _mm256_store_ps(out + 72, a30), _mm256_store_ps(out + 80, a31), _mm256_store_ps(out + 88, a32);
}

// The AVX-512 tile: 48 positions (3 zmm) x 8 output channels, the same chain per lane.
constexpr std::int64_t kFq512 = 48, kFc512 = 8;

[[LPSIM_AVX512]] void forward_tile512(const float* xb, const std::int64_t* koff, std::int64_t k, const float* wk,
                                      std::int64_t ldw, float* out) {
  __m512 a[kFc512][3];
#pragma GCC unroll 8
  for (int c = 0; c < kFc512; ++c) a[c][0] = a[c][1] = a[c][2] = _mm512_setzero_ps();
  for (std::int64_t l = 0; l < k; ++l) {
    const float* p = xb + koff[l];
    const __m512 x0 = _mm512_loadu_ps(p), x1 = _mm512_loadu_ps(p + 16), x2 = _mm512_loadu_ps(p + 32);
    const float* w = wk + l * ldw;
#pragma GCC unroll 8
    for (int c = 0; c < kFc512; ++c) {
      const __m512 v = _mm512_set1_ps(w[c]);
      a[c][0] = _mm512_fmadd_ps(x0, v, a[c][0]), a[c][1] = _mm512_fmadd_ps(x1, v, a[c][1]);
      a[c][2] = _mm512_fmadd_ps(x2, v, a[c][2]);
    }
  }
#pragma GCC unroll 8
  for (int c = 0; c < kFc512; ++c)
    for (int h = 0; h < 3; ++h) _mm512_store_ps(out + c * kFq512 + 16 * h, a[c][h]);
}

// ---- data gradient ------------------------------------------------------------
// dY padded to (h + kh - 1) x (w + kw - 1) planes so that input position
// q = iy*Wd + ix finds tap (r, c)'s output element at q + (kh-1-r)*Wd + (kw-1-c).
constexpr std::int64_t kDq = 24, kDc = 4;  // tile: 24 positions x 4 input channels

[[gnu::target("avx2,fma")]] void data_tile(const float* db, std::int64_t planed, const std::int64_t* toff,
                                           std::int64_t taps, std::int64_t cout, const float* wt, std::int64_t ldc,
                                           float* acc) {
  __m256 s[12];
  for (auto& v : s) v = _mm256_setzero_ps();  // col2im's dx starts at +0
  for (std::int64_t tap = 0; tap < taps; ++tap) {
    __m256 t00 = _mm256_setzero_ps(), t01 = t00, t02 = t00, t10 = t00, t11 = t00, t12 = t00;
    __m256 t20 = t00, t21 = t00, t22 = t00, t30 = t00, t31 = t00, t32 = t00;
    const float* d = db + toff[tap];
    const float* w = wt + tap * cout * ldc;
    for (std::int64_t co = 0; co < cout; ++co, d += planed, w += ldc) {  // the chain of W^T . dY, in co order
      const __m256 x0 = _mm256_loadu_ps(d), x1 = _mm256_loadu_ps(d + 8), x2 = _mm256_loadu_ps(d + 16);
      __m256 v = _mm256_broadcast_ss(w);
      t00 = _mm256_fmadd_ps(x0, v, t00), t01 = _mm256_fmadd_ps(x1, v, t01), t02 = _mm256_fmadd_ps(x2, v, t02);
      v = _mm256_broadcast_ss(w + 1);
      t10 = _mm256_fmadd_ps(x0, v, t10), t11 = _mm256_fmadd_ps(x1, v, t11), t12 = _mm256_fmadd_ps(x2, v, t12);
      v = _mm256_broadcast_ss(w + 2);
      t20 = _mm256_fmadd_ps(x0, v, t20), t21 = _mm256_fmadd_ps(x1, v, t21), t22 = _mm256_fmadd_ps(x2, v, t22);
      v = _mm256_broadcast_ss(w + 3);
      t30 = _mm256_fmadd_ps(x0, v, t30), t31 = _mm256_fmadd_ps(x1, v, t31), t32 = _mm256_fmadd_ps(x2, v, t32);
    }
    // col2im's `dx += column entry`, tap by tap.
    s[0] = _mm256_add_ps(s[0], t00), s[1] = _mm256_add_ps(s[1], t01), s[2] = _mm256_add_ps(s[2], t02);
    s[3] = _mm256_add_ps(s[3], t10), s[4] = _mm256_add_ps(s[4], t11), s[5] = _mm256_add_ps(s[5], t12);
    s[6] = _mm256_add_ps(s[6], t20), s[7] = _mm256_add_ps(s[7], t21), s[8] = _mm256_add_ps(s[8], t22);
    s[9] = _mm256_add_ps(s[9], t30), s[10] = _mm256_add_ps(s[10], t31), s[11] = _mm256_add_ps(s[11], t32);
  }
  for (int i = 0; i < 12; ++i) _mm256_store_ps(acc + 8 * i, s[i]);
}

// The AVX-512 tile: 48 positions x 4 input channels, per tap and lane the same operations.
constexpr std::int64_t kDq512 = 48, kDc512 = 4;

[[LPSIM_AVX512]] void data_tile512(const float* db, std::int64_t planed, const std::int64_t* toff, std::int64_t taps,
                                   std::int64_t cout, const float* wt, std::int64_t ldc, float* acc) {
  __m512 s[kDc512][3];
#pragma GCC unroll 4
  for (int c = 0; c < kDc512; ++c) s[c][0] = s[c][1] = s[c][2] = _mm512_setzero_ps();  // col2im's dx starts at +0
  for (std::int64_t tap = 0; tap < taps; ++tap) {
    __m512 t[kDc512][3];
#pragma GCC unroll 4
    for (int c = 0; c < kDc512; ++c) t[c][0] = t[c][1] = t[c][2] = _mm512_setzero_ps();
    const float* d = db + toff[tap];
    const float* w = wt + tap * cout * ldc;
    for (std::int64_t co = 0; co < cout; ++co, d += planed, w += ldc) {  // the chain of W^T . dY, in co order
      const __m512 x0 = _mm512_loadu_ps(d), x1 = _mm512_loadu_ps(d + 16), x2 = _mm512_loadu_ps(d + 32);
#pragma GCC unroll 4
      for (int c = 0; c < kDc512; ++c) {
        const __m512 v = _mm512_set1_ps(w[c]);
        t[c][0] = _mm512_fmadd_ps(x0, v, t[c][0]), t[c][1] = _mm512_fmadd_ps(x1, v, t[c][1]);
        t[c][2] = _mm512_fmadd_ps(x2, v, t[c][2]);
      }
    }
#pragma GCC unroll 4
    for (int c = 0; c < kDc512; ++c)  // col2im's `dx += column entry`, tap by tap
      for (int h = 0; h < 3; ++h) s[c][h] = _mm512_add_ps(s[c][h], t[c][h]);
  }
#pragma GCC unroll 4
  for (int c = 0; c < kDc512; ++c)
    for (int h = 0; h < 3; ++h) _mm512_store_ps(acc + c * kDq512 + 16 * h, s[c][h]);
}

// ---- weight gradient -----------------------------------------------------------
// Rows (ci, r, c) of dW^T against 16 output channels; the reduction runs over
// one image's pixels per call, the accumulators parked in dW^T in between.
constexpr std::int64_t kWr = 6, kWc = 16;

[[gnu::target("avx2,fma")]] void weight_tile(const float* xb, const std::int64_t* roff, const float* eb,
                                             std::int64_t lde, std::int64_t oh, std::int64_t ow, std::int64_t wp,
                                             float* acc) {
  __m256 c00 = _mm256_loadu_ps(acc), c01 = _mm256_loadu_ps(acc + 8);
  __m256 c10 = _mm256_loadu_ps(acc + lde), c11 = _mm256_loadu_ps(acc + lde + 8);
  __m256 c20 = _mm256_loadu_ps(acc + 2 * lde), c21 = _mm256_loadu_ps(acc + 2 * lde + 8);
  __m256 c30 = _mm256_loadu_ps(acc + 3 * lde), c31 = _mm256_loadu_ps(acc + 3 * lde + 8);
  __m256 c40 = _mm256_loadu_ps(acc + 4 * lde), c41 = _mm256_loadu_ps(acc + 4 * lde + 8);
  __m256 c50 = _mm256_loadu_ps(acc + 5 * lde), c51 = _mm256_loadu_ps(acc + 5 * lde + 8);
  const float *p0 = xb + roff[0], *p1 = xb + roff[1], *p2 = xb + roff[2];
  const float *p3 = xb + roff[3], *p4 = xb + roff[4], *p5 = xb + roff[5];
  for (std::int64_t oy = 0; oy < oh; ++oy, p0 += wp, p1 += wp, p2 += wp, p3 += wp, p4 += wp, p5 += wp)
    for (std::int64_t ox = 0; ox < ow; ++ox, eb += lde) {  // the chain of dY . im2col^T, in (oy, ox) order
      const __m256 e0 = _mm256_loadu_ps(eb), e1 = _mm256_loadu_ps(eb + 8);
      __m256 x = _mm256_broadcast_ss(p0 + ox);
      c00 = _mm256_fmadd_ps(x, e0, c00), c01 = _mm256_fmadd_ps(x, e1, c01);
      x = _mm256_broadcast_ss(p1 + ox);
      c10 = _mm256_fmadd_ps(x, e0, c10), c11 = _mm256_fmadd_ps(x, e1, c11);
      x = _mm256_broadcast_ss(p2 + ox);
      c20 = _mm256_fmadd_ps(x, e0, c20), c21 = _mm256_fmadd_ps(x, e1, c21);
      x = _mm256_broadcast_ss(p3 + ox);
      c30 = _mm256_fmadd_ps(x, e0, c30), c31 = _mm256_fmadd_ps(x, e1, c31);
      x = _mm256_broadcast_ss(p4 + ox);
      c40 = _mm256_fmadd_ps(x, e0, c40), c41 = _mm256_fmadd_ps(x, e1, c41);
      x = _mm256_broadcast_ss(p5 + ox);
      c50 = _mm256_fmadd_ps(x, e0, c50), c51 = _mm256_fmadd_ps(x, e1, c51);
    }
  _mm256_storeu_ps(acc, c00), _mm256_storeu_ps(acc + 8, c01);
  _mm256_storeu_ps(acc + lde, c10), _mm256_storeu_ps(acc + lde + 8, c11);
  _mm256_storeu_ps(acc + 2 * lde, c20), _mm256_storeu_ps(acc + 2 * lde + 8, c21);
  _mm256_storeu_ps(acc + 3 * lde, c30), _mm256_storeu_ps(acc + 3 * lde + 8, c31);
  _mm256_storeu_ps(acc + 4 * lde, c40), _mm256_storeu_ps(acc + 4 * lde + 8, c41);
  _mm256_storeu_ps(acc + 5 * lde, c50), _mm256_storeu_ps(acc + 5 * lde + 8, c51);
}

// The AVX-512 tile: 6 rows x 32 output channels (2 zmm), the same chain per lane.
constexpr std::int64_t kWc512 = 32;

[[LPSIM_AVX512]] void weight_tile512(const float* xb, const std::int64_t* roff, const float* eb, std::int64_t lde,
                                     std::int64_t oh, std::int64_t ow, std::int64_t wp, float* acc) {
  __m512 c[kWr][2];
  const float* p[kWr];
#pragma GCC unroll 6
  for (int r = 0; r < kWr; ++r) {
    c[r][0] = _mm512_loadu_ps(acc + r * lde), c[r][1] = _mm512_loadu_ps(acc + r * lde + 16);
    p[r] = xb + roff[r];
  }
  for (std::int64_t oy = 0; oy < oh; ++oy) {
    for (std::int64_t ox = 0; ox < ow; ++ox, eb += lde) {  // the chain of dY . im2col^T, in (oy, ox) order
      const __m512 e0 = _mm512_loadu_ps(eb), e1 = _mm512_loadu_ps(eb + 16);
#pragma GCC unroll 6
      for (int r = 0; r < kWr; ++r) {
        const __m512 x = _mm512_set1_ps(p[r][ox]);
        c[r][0] = _mm512_fmadd_ps(x, e0, c[r][0]), c[r][1] = _mm512_fmadd_ps(x, e1, c[r][1]);
      }
    }
#pragma GCC unroll 6
    for (int r = 0; r < kWr; ++r) p[r] += wp;
  }
#pragma GCC unroll 6
  for (int r = 0; r < kWr; ++r)
    _mm512_storeu_ps(acc + r * lde, c[r][0]), _mm512_storeu_ps(acc + r * lde + 16, c[r][1]);
}

// For at most 16 output channels: 12 rows x 16 channels (1 zmm), enough
// independent chains to hide the fma latency.
constexpr std::int64_t kWr512n = 12;

[[LPSIM_AVX512]] void weight_tile512_narrow(const float* xb, const std::int64_t* roff, const float* eb,
                                            std::int64_t lde, std::int64_t oh, std::int64_t ow, std::int64_t wp,
                                            float* acc) {
  __m512 c[kWr512n];
  const float* p[kWr512n];
#pragma GCC unroll 12
  for (int r = 0; r < kWr512n; ++r) c[r] = _mm512_loadu_ps(acc + r * lde), p[r] = xb + roff[r];
  for (std::int64_t oy = 0; oy < oh; ++oy) {
    for (std::int64_t ox = 0; ox < ow; ++ox, eb += lde) {  // the chain of dY . im2col^T, in (oy, ox) order
      const __m512 e = _mm512_loadu_ps(eb);
#pragma GCC unroll 12
      for (int r = 0; r < kWr512n; ++r) c[r] = _mm512_fmadd_ps(_mm512_set1_ps(p[r][ox]), e, c[r]);
    }
#pragma GCC unroll 12
    for (int r = 0; r < kWr512n; ++r) p[r] += wp;
  }
#pragma GCC unroll 12
  for (int r = 0; r < kWr512n; ++r) _mm512_storeu_ps(acc + r * lde, c[r]);
}

// The zero-padded input split by stride phases: for image b, channel ci and
// phase (r0, c0) < (stride_h, stride_w), a plane of hs x ws whose element
// (i, j) is the padded input's (r0 + i stride_h, c0 + j stride_w) (zero past
// its edge). Output position q = oy*ws + ox then reads tap (ci, r, c) at
// q + offset(ci, r, c), one unaligned load for 8 consecutive positions
// whatever the stride. With stride 1 it is the padded image itself.
struct Phased {
  std::int64_t hs = 0, ws = 0, plane = 0, image = 0;  // plane hs*ws; image: floats per image
  std::vector<std::int64_t> offset;                   // per row (ci, r, c) of the lowered matrix, in k order
};

Phased split_phases(const ConvShape& s, const float* x, std::vector<float>& dst) {
  const std::int64_t sh = s.stride_h, sw = s.stride_w, hp = s.h + 2 * s.pad_h, wp = s.w + 2 * s.pad_w;
  Phased ph;
  ph.hs = (hp + sh - 1) / sh, ph.ws = (wp + sw - 1) / sw, ph.plane = ph.hs * ph.ws;
  ph.image = s.cin * sh * sw * ph.plane;
  ph.offset.resize(std::size_t(s.cin * s.kh * s.kw));
  for (std::int64_t ci = 0; ci < s.cin; ++ci)
    for (std::int64_t r = 0; r < s.kh; ++r)
      for (std::int64_t c = 0; c < s.kw; ++c)
        ph.offset[std::size_t((ci * s.kh + r) * s.kw + c)] =
            ((ci * sh + r % sh) * sw + c % sw) * ph.plane + r / sh * ph.ws + c / sw;
  if (sh == 1 && sw == 1) {
    pad_planes(x, s.batch * s.cin, s.h, s.w, s.pad_h, s.pad_w, hp, wp, dst);
    return ph;
  }
  dst.resize(std::size_t(s.batch * ph.image + kSlack));
  float* d0 = dst.data();
#pragma omp parallel for schedule(static) if (s.batch * ph.image > (1 << 15))
  for (std::int64_t t = 0; t < s.batch * s.cin; ++t) {
    const float* src = x + t * s.h * s.w;
    for (std::int64_t r0 = 0; r0 < sh; ++r0)
      for (std::int64_t c0 = 0; c0 < sw; ++c0) {
        float* d = d0 + ((t * sh + r0) * sw + c0) * ph.plane;
        for (std::int64_t i = 0; i < ph.hs; ++i) {
          const std::int64_t y = r0 + i * sh - s.pad_h;
          for (std::int64_t j = 0; j < ph.ws; ++j) {
            const std::int64_t xx = c0 + j * sw - s.pad_w;
            d[i * ph.ws + j] = y >= 0 && y < s.h && xx >= 0 && xx < s.w ? src[y * s.w + xx] : 0.f;
          }
        }
      }
  }
  std::fill(dst.end() - kSlack, dst.end(), 0.f);
  return ph;
}

}  // namespace

bool conv_direct_applies(const MacConfig& cfg, const ConvShape& s, const GemmStats* stats, const StatsRequest& req) {
  const bool avx2 = arith::use_avx2();  // arith/isa.hpp: the one dispatch switch
  const bool fma_fp32 = std::string_view(gemm_path(cfg)) == "fma-fp32" && deterministic(cfg.a) &&
                        deterministic(cfg.b) && deterministic(cfg.out);
  return avx2 && fma_fp32 && !(stats && (req.counts || req.error)) && s.groups == 1;
}

void conv2d_direct(const MacConfig& cfg, const ConvShape& s, const float* x, const float* weights, float* y) {
  const std::int64_t oh = s.out_h(), ow = s.out_w(), k = s.cin * s.kh * s.kw;
  std::vector<float>& xp = scratch(0);
  const Phased ph = split_phases(s, x, xp);
  // The tile of the level in use (arith/isa.hpp); both give the same bits.
  const bool wide = arith::isa() >= arith::Isa::AVX512;
  const std::int64_t tq = wide ? kFq512 : kFq, tc = wide ? kFc512 : kFc;
  const auto tile = wide ? forward_tile512 : forward_tile;
  const std::int64_t qn = (oh - 1) * ph.ws + ow, nqt = (qn + tq - 1) / tq, ldw = round_up(s.cout, tc), ncb = ldw / tc;
  std::vector<float>& wk = scratch(1);  // W^T, k x ldw, zero columns past cout
  wk.assign(std::size_t(k * ldw), 0.f);
  for (std::int64_t co = 0; co < s.cout; ++co)
    for (std::int64_t l = 0; l < k; ++l) wk[std::size_t(l * ldw + co)] = weights[co * k + l];
  round_all(xp.data(), std::int64_t(xp.size()), cfg.b);  // B = im2col(x), A = W
  round_all(wk.data(), std::int64_t(wk.size()), cfg.a);
  const float* xd = xp.data();
  const float* wd = wk.data();
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < s.batch * nqt * ncb; ++t) {
    const std::int64_t b = t / (nqt * ncb), q0 = t / ncb % nqt * tq, cb = t % ncb;
    alignas(64) float out[kFc512 * kFq512];
    tile(xd + b * ph.image + q0, ph.offset.data(), k, wd + cb * tc, ldw, out);
    std::int64_t oy = q0 / ph.ws, ox = q0 % ph.ws;
    for (std::int64_t i = 0; i < std::min(tq, qn - q0); ++i) {
      if (ox < ow)
        for (std::int64_t c = 0; c < std::min(tc, s.cout - cb * tc); ++c)
          y[((b * s.cout + cb * tc + c) * oh + oy) * ow + ox] = out[c * tq + i];
      if (++ox == ph.ws) ox = 0, ++oy;
    }
  }
  round_all(y, s.batch * s.cout * oh * ow, cfg.out);
}

bool conv2d_data_grad_direct(const MacConfig& cfg, const ConvShape& s, const float* weights, const float* dy,
                             float* dx) {
  if (s.stride_h != 1 || s.stride_w != 1 || s.pad_h >= s.kh || s.pad_w >= s.kw || cfg.out) return false;
  const std::int64_t hd = s.h + s.kh - 1, wd = s.w + s.kw - 1, planed = hd * wd, oh = s.out_h(), ow = s.out_w();
  std::vector<float>& dyp = scratch(2);
  pad_planes(dy, s.batch * s.cout, oh, ow, s.kh - 1 - s.pad_h, s.kw - 1 - s.pad_w, hd, wd, dyp);
  const bool wide = arith::isa() >= arith::Isa::AVX512;  // the level's tile (arith/isa.hpp): the same bits
  const std::int64_t tq = wide ? kDq512 : kDq, tc = wide ? kDc512 : kDc;
  const auto tile = wide ? data_tile512 : data_tile;
  const std::int64_t taps = s.kh * s.kw, ldc = round_up(s.cin, tc), ncb = ldc / tc;
  std::vector<std::int64_t> toff(static_cast<std::size_t>(taps));
  for (std::int64_t r = 0; r < s.kh; ++r)
    for (std::int64_t c = 0; c < s.kw; ++c) toff[std::size_t(r * s.kw + c)] = (s.kh - 1 - r) * wd + (s.kw - 1 - c);
  std::vector<float>& wt = scratch(1);  // [tap][co][ci], zero past cin
  wt.assign(std::size_t(taps * s.cout * ldc), 0.f);
  for (std::int64_t co = 0; co < s.cout; ++co)
    for (std::int64_t ci = 0; ci < s.cin; ++ci)
      for (std::int64_t tap = 0; tap < taps; ++tap)
        wt[std::size_t((tap * s.cout + co) * ldc + ci)] = weights[(co * s.cin + ci) * taps + tap];
  round_all(wt.data(), std::int64_t(wt.size()), cfg.a);  // A = W^T, B = dY
  for (float v : wt)
    if (!std::isfinite(v)) return false;
  round_all(dyp.data(), std::int64_t(dyp.size()), cfg.b);
  const std::int64_t qn = (s.h - 1) * wd + s.w, nqt = (qn + tq - 1) / tq;
  const float* dd = dyp.data();
  const float* wtd = wt.data();
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < s.batch * nqt * ncb; ++t) {
    const std::int64_t b = t / (nqt * ncb), q0 = t / ncb % nqt * tq, cb = t % ncb;
    alignas(64) float acc[kDc512 * kDq512];
    tile(dd + b * s.cout * planed + q0, planed, toff.data(), taps, s.cout, wtd + cb * tc, ldc, acc);
    std::int64_t iy = q0 / wd, ix = q0 % wd;
    for (std::int64_t i = 0; i < std::min(tq, qn - q0); ++i) {
      if (ix < s.w)
        for (std::int64_t c = 0; c < std::min(tc, s.cin - cb * tc); ++c)
          dx[((b * s.cin + cb * tc + c) * s.h + iy) * s.w + ix] = acc[c * tq + i];
      if (++ix == wd) ix = 0, ++iy;
    }
  }
  return true;
}

void conv2d_weight_grad_direct(const MacConfig& cfg, const ConvShape& s, const float* x, const float* dy, float* dw) {
  const std::int64_t oh = s.out_h(), ow = s.out_w(), npix = oh * ow, k = s.cin * s.kh * s.kw;
  // The level's tile (arith/isa.hpp), all with the same bits: AVX-512 has one
  // for at most 16 channels and one for more.
  const bool avx512 = arith::isa() >= arith::Isa::AVX512, wide = avx512 && s.cout > kWc;
  const std::int64_t tc = wide ? kWc512 : kWc, tr = avx512 && !wide ? kWr512n : kWr;
  const auto tile = wide ? weight_tile512 : avx512 ? weight_tile512_narrow : weight_tile;
  const std::int64_t lde = round_up(s.cout, tc), kp = round_up(k, tr);
  std::vector<float>& xp = scratch(0);
  const Phased ph = split_phases(s, x, xp);
  std::vector<float>& et = scratch(2);  // dY^T per image: pixel-major, lde channels (zeros past cout)
  et.resize(std::size_t(s.batch * npix * lde));
  float* etd = et.data();
#pragma omp parallel for schedule(static)
  for (std::int64_t b = 0; b < s.batch; ++b)
    for (std::int64_t p = 0; p < npix; ++p) {
      float* row = etd + (b * npix + p) * lde;
      for (std::int64_t co = 0; co < s.cout; ++co) row[co] = dy[(b * s.cout + co) * npix + p];
      std::fill(row + s.cout, row + lde, 0.f);
    }
  round_all(etd, std::int64_t(et.size()), cfg.a);  // A = dY, B = im2col(x)^T
  round_all(xp.data(), std::int64_t(xp.size()), cfg.b);
  std::vector<std::int64_t> roff = ph.offset;
  roff.resize(std::size_t(kp), 0);  // rows past k read image data nobody keeps
  std::vector<float>& dwt = scratch(3);  // dW^T, kp x lde: the accumulators between images
  dwt.assign(std::size_t(kp * lde), 0.f);
  const std::int64_t ctiles = lde / tc, tasks = kp / tr * ctiles;
  const float* xd = xp.data();
  float* acc = dwt.data();
  // Each thread owns a fixed range of tiles and walks the images in order:
  // one chain per output, and an image's data stays in cache for all its tiles.
#pragma omp parallel
  {
    const std::int64_t nt = omp_get_num_threads(), id = omp_get_thread_num();
    const std::int64_t t0 = tasks * id / nt, t1 = tasks * (id + 1) / nt;
    for (std::int64_t b = 0; b < s.batch; ++b)
      for (std::int64_t t = t0; t < t1; ++t) {
        const std::int64_t rt = t / ctiles, ct = t % ctiles;
        tile(xd + b * ph.image, roff.data() + rt * tr, etd + b * npix * lde + ct * tc, lde, oh, ow, ph.ws,
             acc + rt * tr * lde + ct * tc);
      }
  }
  for (std::int64_t co = 0; co < s.cout; ++co)
    for (std::int64_t l = 0; l < k; ++l) dw[co * k + l] = dwt[std::size_t(l * lde + co)];
  round_all(dw, s.cout * k, cfg.out);
}

GemmStats lowered_stats(std::int64_t m, std::int64_t n, std::int64_t k, const StatsRequest& req) {
  GemmStats st;
  st.m = m, st.n = n, st.k = k;
  st.usage_a = st.usage_a_max = double(n);
  st.usage_b = st.usage_b_max = double(m);
  st.depth = req.depth;
  st.tag = req.tag;
  return st;
}

}  // namespace lpsim::sim
