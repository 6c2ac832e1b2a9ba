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

constexpr std::int64_t kSlack = 64;  // zeros after the last plane: a tile's last vectors read up to 23 floats past it

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
  const std::int64_t qn = (oh - 1) * ph.ws + ow, nqt = (qn + kFq - 1) / kFq, ldw = round_up(s.cout, kFc),
                     ncb = ldw / kFc;
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
    const std::int64_t b = t / (nqt * ncb), q0 = t / ncb % nqt * kFq, cb = t % ncb;
    alignas(32) float out[kFc * kFq];
    forward_tile(xd + b * ph.image + q0, ph.offset.data(), k, wd + cb * kFc, ldw, out);
    std::int64_t oy = q0 / ph.ws, ox = q0 % ph.ws;
    for (std::int64_t i = 0; i < std::min(kFq, qn - q0); ++i) {
      if (ox < ow)
        for (std::int64_t c = 0; c < std::min(kFc, s.cout - cb * kFc); ++c)
          y[((b * s.cout + cb * kFc + c) * oh + oy) * ow + ox] = out[c * kFq + i];
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
  const std::int64_t taps = s.kh * s.kw, ldc = round_up(s.cin, kDc), ncb = ldc / kDc;
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
  const std::int64_t qn = (s.h - 1) * wd + s.w, nqt = (qn + kDq - 1) / kDq;
  const float* dd = dyp.data();
  const float* wtd = wt.data();
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < s.batch * nqt * ncb; ++t) {
    const std::int64_t b = t / (nqt * ncb), q0 = t / ncb % nqt * kDq, cb = t % ncb;
    alignas(32) float acc[kDc * kDq];
    data_tile(dd + b * s.cout * planed + q0, planed, toff.data(), taps, s.cout, wtd + cb * kDc, ldc, acc);
    std::int64_t iy = q0 / wd, ix = q0 % wd;
    for (std::int64_t i = 0; i < std::min(kDq, qn - q0); ++i) {
      if (ix < s.w)
        for (std::int64_t c = 0; c < std::min(kDc, s.cin - cb * kDc); ++c)
          dx[((b * s.cin + cb * kDc + c) * s.h + iy) * s.w + ix] = acc[c * kDq + i];
      if (++ix == wd) ix = 0, ++iy;
    }
  }
  return true;
}

void conv2d_weight_grad_direct(const MacConfig& cfg, const ConvShape& s, const float* x, const float* dy, float* dw) {
  const std::int64_t oh = s.out_h(), ow = s.out_w(), npix = oh * ow, k = s.cin * s.kh * s.kw;
  const std::int64_t lde = round_up(s.cout, kWc), kp = round_up(k, kWr);
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
  const std::int64_t ctiles = lde / kWc, tasks = kp / kWr * ctiles;
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
        weight_tile(xd + b * ph.image, roff.data() + rt * kWr, etd + b * npix * lde + ct * kWc, lde, oh, ow, ph.ws,
                    acc + rt * kWr * lde + ct * kWc);
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
