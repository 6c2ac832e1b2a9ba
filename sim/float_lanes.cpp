#include "sim/float_lanes.hpp"

#include <immintrin.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <vector>

#include "arith/golden.hpp"
#include "arith/isa.hpp"
#include "sim/exact_round.hpp"
#include "sim/round_into.hpp"

namespace lpsim::sim {

namespace {

using arith::Kind;
using arith::Mode;

int significant_bits(const arith::Format& f) { return f.kind == Kind::Fixed ? f.width : f.man_bits + 1; }
double max_magnitude(const arith::Format& f) { return std::max(f.max_finite(), -f.lowest()); }

// The accumulator conditions: a float format whose values are floats, p <= 22, deterministic rounding.
bool narrow_float(const Rounded& r) {
  const auto& f = r.format;
  return f.kind == Kind::Float && f.fits_in_float() && f.man_bits <= 21 && r.rounding.mode != Mode::SR;
}

// Rounding a float (already rounded to odd at 24 bits) into a narrow float format.
struct Lane {
  const Rounded* r = nullptr;
  __m256i keep, low, half, halfm1, lsb, min_normal, max_bits, negzero_bad;
  __m256 magic;            // 1.5 * 2^23 * q, q the format's subnormal quantum
  int sh = 0;
  bool no_negzero = false;
  bool sub_fast = false;   // RNE with subnormals: results below the smallest normal rounded in the lanes
};

[[gnu::target("avx2,fma")]] Lane make_lane(const Rounded& r) {
  Lane q;
  q.r = &r;
  q.sh = 23 - r.format.man_bits;
  const std::uint32_t low = (1u << q.sh) - 1;
  q.keep = _mm256_set1_epi32(int(~low));
  q.low = _mm256_set1_epi32(int(low));
  q.half = _mm256_set1_epi32(int(1u << (q.sh - 1)));
  q.halfm1 = _mm256_set1_epi32(int((1u << (q.sh - 1)) - 1));
  q.lsb = _mm256_set1_epi32(int(1u << q.sh));
  q.min_normal = _mm256_set1_epi32(int(std::bit_cast<std::uint32_t>(float(r.format.min_normal()))));
  q.max_bits = _mm256_set1_epi32(int(std::bit_cast<std::uint32_t>(float(r.format.max_finite()))));
  q.negzero_bad = _mm256_set1_epi32(r.format.has_negative_zero() ? 0 : -1);
  q.no_negzero = !r.format.has_negative_zero();
  // (Not for formats without -0: a tiny negative sum rounding to zero needs the golden model's sign.)
  q.sub_fast = r.format.subnormals && r.rounding.mode == Mode::RNE && r.format.has_negative_zero();
  q.magic = _mm256_set1_ps(std::ldexp(1.5f, 23 + r.format.emin() - r.format.man_bits));
  return q;
}

// Event counts of the additions (counts=True), as dot.cpp's add() counts them: `mask` holds, per
// accumulator vector, the lanes that are outputs (padding columns and repeated rows are not).
struct LaneCounts {
  int mask[2 * 4] = {};
  MacCounts c;
};

// One golden addition's events: x + y gave s.
inline void count_add(double x, double y, double s, const arith::Format& f, MacCounts& c) {
  const double exact = std::isfinite(x) && std::isfinite(y) ? sum_round_to_odd(x, y) : x + y;
  count_range(exact, s, f, c);
  if (x != 0 && y != 0 && (s == x || s == y)) c.swamped += 1;
}

// The events of the lanes `lanes` of x + y = s, one by one.
[[gnu::target("avx2,fma")]] void count_lanes(__m256 x, __m256 y, __m256 s, int lanes, const arith::Format& f,
                                             MacCounts& c) {
  alignas(32) float xs[8], ys[8], ss[8];
  _mm256_store_ps(xs, x);
  _mm256_store_ps(ys, y);
  _mm256_store_ps(ss, s);
  for (int q = 0; q < 8; ++q)
    if (lanes >> q & 1) count_add(xs[q], ys[q], ss[q], f, c);
}

// The golden addition for the lanes the vector code cannot take.
[[gnu::target("avx2,fma"), gnu::noinline, gnu::cold]] __m256 redo_lanes(__m256 acc, __m256 p, __m256 fast, int bad, const Rounded& r,
                                                                         MacCounts* counts = nullptr, int counted = 0) {
  alignas(32) float x[8], y[8], o[8];
  _mm256_store_ps(x, acc);
  _mm256_store_ps(y, p);
  _mm256_store_ps(o, fast);
  for (int q = 0; q < 8; ++q) {
    if (!(bad >> q & 1)) continue;
    const double a = x[q], b = y[q];
    const double exact = std::isfinite(a) && std::isfinite(b) ? sum_round_to_odd(a, b) : a + b;
    double out;
    arith::golden_quantize(exact, r.format, r.rounding, {}, 0, out);  // a float format: never false
    o[q] = float(out);
    if (counts && (counted >> q & 1)) count_add(a, b, out, r.format, *counts);
  }
  return _mm256_load_ps(o);
}

// The lanes of acc + p = res that are swamped: both addends nonzero and the sum equal to one
// (a NaN lane never: no comparison holds).
[[gnu::target("avx2,fma"), gnu::always_inline]] inline int swamped_lanes(__m256 acc, __m256 p, __m256 res) {
  const __m256 z = _mm256_setzero_ps();
  const __m256 both = _mm256_and_ps(_mm256_cmp_ps(acc, z, _CMP_NEQ_UQ), _mm256_cmp_ps(p, z, _CMP_NEQ_UQ));
  const __m256 same = _mm256_or_ps(_mm256_cmp_ps(res, acc, _CMP_EQ_OQ), _mm256_cmp_ps(res, p, _CMP_EQ_OQ));
  return _mm256_movemask_ps(_mm256_and_ps(both, same));
}

// What the unchecked additions saw, for one test after a block: the largest
// rounded magnitude (an overflow, infinity or NaN exceeds the format's
// largest finite) and the smallest nonzero magnitude before rounding minus 1
// (unsigned: zero wraps to the top), plus any negative zero.
struct Seen {
  __m256i max_r, min_a1, negzero;  // start: 0, all ones, 0
  __m256i max_a;                   // with counts: the largest magnitude before rounding (a saturation beyond max_bits)
};

// round(acc + p) into the lane's format, once. Checked: each result is
// tested and the golden model redoes lanes outside the fast path's domain.
// Unchecked: the tests are folded into `seen` (three instructions instead of
// ten); a block whose `seen` shows any such lane is recomputed checked.
// With counts (lc, lane vector v), the swamped additions of the output lanes are counted here
// and, checked, the saturations (exact beyond the largest finite value, rounded back to it) and
// every event of a redone lane; unchecked, the largest magnitude goes into seen (an out-of-range
// sum sends the block to the checked path).
template <Mode M, bool Checked = true>
[[gnu::target("avx2,fma"), gnu::always_inline]] inline __m256 add_round(__m256 acc, __m256 p, const Lane& q,
                                                                        Seen* seen = nullptr, LaneCounts* lc = nullptr,
                                                                        int v = 0) {
  const __m256i one = _mm256_set1_epi32(1), zero = _mm256_setzero_si256();
  const __m256i signmask = _mm256_set1_epi32(std::numeric_limits<int>::min());
  // TwoSum: s + e == acc + p exactly.
  const __m256 s = _mm256_add_ps(acc, p);
  const __m256 bb = _mm256_sub_ps(s, acc);
  const __m256 e = _mm256_add_ps(_mm256_sub_ps(acc, _mm256_sub_ps(s, bb)), _mm256_sub_ps(p, bb));
  // Round to odd: an inexact even s steps one code toward the exact sum.
  __m256i u = _mm256_castps_si256(s);
  const __m256i inexact = _mm256_castps_si256(_mm256_cmp_ps(e, _mm256_setzero_ps(), _CMP_NEQ_UQ));
  const __m256i even = _mm256_cmpeq_epi32(_mm256_and_si256(u, one), zero);
  const __m256i toward = _mm256_or_si256(_mm256_srai_epi32(_mm256_xor_si256(_mm256_castps_si256(e), u), 31), one);
  u = _mm256_add_epi32(u, _mm256_and_si256(_mm256_and_si256(inexact, even), toward));
  // Round the magnitude to p bits on the integer bits (a carry moves into the exponent, as it should).
  const __m256i sign = _mm256_and_si256(u, signmask);
  const __m256i a = _mm256_andnot_si256(signmask, u);
  __m256i r;
  if constexpr (M == Mode::RNE) {
    const __m256i bias = _mm256_add_epi32(q.halfm1, _mm256_and_si256(_mm256_srli_epi32(a, q.sh), one));
    r = _mm256_and_si256(_mm256_add_epi32(a, bias), q.keep);
  } else if constexpr (M == Mode::RNA) {
    r = _mm256_and_si256(_mm256_add_epi32(a, q.half), q.keep);
  } else if constexpr (M == Mode::RZ) {
    r = _mm256_and_si256(a, q.keep);
  } else if constexpr (M == Mode::RU || M == Mode::RD) {
    const __m256i away = _mm256_and_si256(_mm256_add_epi32(a, q.low), q.keep);
    const __m256i in = _mm256_and_si256(a, q.keep);
    const __m256i neg = _mm256_srai_epi32(u, 31);
    r = M == Mode::RU ? _mm256_blendv_epi8(away, in, neg) : _mm256_blendv_epi8(in, away, neg);
  } else {  // RO
    const __m256i dropped = _mm256_cmpeq_epi32(_mm256_and_si256(a, q.low), zero);
    r = _mm256_or_si256(_mm256_and_si256(a, q.keep), _mm256_andnot_si256(dropped, q.lsb));
  }
  if constexpr (M == Mode::RNE) {
    if (q.sub_fast) {
      // Below the smallest normal the grid is the fixed quantum q: adding
      // 1.5 * 2^23 * q (whose ulp is q) rounds to it to nearest even, once,
      // from the round-to-odd value (which keeps >= 2 bits below q).
      const __m256i tiny = _mm256_cmpgt_epi32(q.min_normal, a);
      const __m256 on_grid = _mm256_sub_ps(_mm256_add_ps(_mm256_castsi256_ps(a), q.magic), q.magic);
      r = _mm256_blendv_epi8(r, _mm256_castps_si256(on_grid), tiny);
    }
  }
  if constexpr (!Checked) {
    seen->max_r = _mm256_max_epu32(seen->max_r, r);
    if (!q.sub_fast) seen->min_a1 = _mm256_min_epu32(seen->min_a1, _mm256_sub_epi32(a, one));
    if (q.no_negzero) seen->negzero = _mm256_or_si256(seen->negzero, _mm256_cmpeq_epi32(u, signmask));
    const __m256 res = _mm256_castsi256_ps(_mm256_or_si256(r, sign));
    if (lc) {
      seen->max_a = _mm256_max_epu32(seen->max_a, a);
      lc->c.swamped += unsigned(std::popcount(unsigned(swamped_lanes(acc, p, res) & lc->mask[v])));
    }
    return res;
  }
  // Fast result valid: a normal of the format (or zero it can hold) in, finite out.
  const __m256i tiny =
      q.sub_fast ? zero : _mm256_and_si256(_mm256_cmpgt_epi32(q.min_normal, a), _mm256_cmpgt_epi32(a, zero));
  const __m256i negzero = _mm256_and_si256(_mm256_cmpeq_epi32(u, signmask), q.negzero_bad);
  const __m256i bad = _mm256_or_si256(_mm256_or_si256(tiny, negzero), _mm256_cmpgt_epi32(r, q.max_bits));
  const __m256 fast = _mm256_castsi256_ps(_mm256_or_si256(r, sign));
  const int m = _mm256_movemask_ps(_mm256_castsi256_ps(bad));
  if (!lc) return m ? redo_lanes(acc, p, fast, m, *q.r) : fast;
  // Good lanes: finite in range after; beyond the largest finite before (a is the sum rounded to
  // odd, above max_bits exactly when the exact sum is above the largest finite) is a saturation.
  const int good = ~m & lc->mask[v];
  lc->c.swamped += unsigned(std::popcount(unsigned(swamped_lanes(acc, p, fast) & good)));
  lc->c.saturations +=
      unsigned(std::popcount(unsigned(_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(a, q.max_bits))) & good)));
  return m ? redo_lanes(acc, p, fast, m, *q.r, &lc->c, m & lc->mask[v]) : fast;
}

// Directed roundings toward zero or +infinity in the unchecked path: the
// hardware adds in that rounding mode (set in MXCSR by the caller), which
// gives the exact sum rounded the same way at 24 bits, and rounding that again
// the same way to the format's p bits equals one rounding of the exact sum:
// the format's grid is a subset of float's wherever the format is normal (the
// lanes outside are caught by `seen`), and truncations (ceilings) to nested
// grids compose. No TwoSum, no round to odd. Toward -infinity is left out: an
// exact zero sum of opposite signs is -0 there, +0 in the golden model.
template <Mode M>
[[gnu::target("avx2,fma"), gnu::always_inline]] inline __m256 add_directed(__m256 acc, __m256 p, const Lane& q,
                                                                           Seen* seen) {
  static_assert(M == Mode::RZ || M == Mode::RU);
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i signmask = _mm256_set1_epi32(std::numeric_limits<int>::min());
  const __m256i u = _mm256_castps_si256(_mm256_add_ps(acc, p));  // rounded at 24 bits by the hardware, mode M
  const __m256i sign = _mm256_and_si256(u, signmask);
  const __m256i a = _mm256_andnot_si256(signmask, u);
  __m256i r;
  if constexpr (M == Mode::RZ) {
    r = _mm256_and_si256(a, q.keep);
  } else {  // up: away from zero when positive, truncated when negative
    const __m256i away = _mm256_and_si256(_mm256_add_epi32(a, q.low), q.keep);
    r = _mm256_blendv_epi8(away, _mm256_and_si256(a, q.keep), _mm256_srai_epi32(u, 31));
  }
  seen->max_r = _mm256_max_epu32(seen->max_r, r);
  seen->min_a1 = _mm256_min_epu32(seen->min_a1, _mm256_sub_epi32(a, one));
  if (q.no_negzero) seen->negzero = _mm256_or_si256(seen->negzero, _mm256_cmpeq_epi32(u, signmask));
  return _mm256_castsi256_ps(_mm256_or_si256(r, sign));
}

constexpr int kRows = 4;

// The terms [c0, c1) of k into the 2 kRows accumulators (from zero), each
// addition by add(acc, product): add_round or add_directed, through a functor
// (a lambda would not inherit the target attribute).
template <class Add>
[[gnu::target("avx2,fma"), gnu::always_inline]] inline void chunk_terms(const float* const* ar, const float* panel,
                                                                       std::int64_t c0, std::int64_t c1, __m256* acc,
                                                                       const Add& add) {
  for (int v = 0; v < 2 * kRows; ++v) acc[v] = _mm256_setzero_ps();
  for (std::int64_t l = c0; l < c1; ++l) {
    const __m256 b0 = _mm256_loadu_ps(panel + l * kLaneCols), b1 = _mm256_loadu_ps(panel + l * kLaneCols + 8);
    for (int r = 0; r < kRows; ++r) {
      const __m256 x = _mm256_broadcast_ss(ar[r] + l);
      acc[2 * r] = add(acc[2 * r], _mm256_mul_ps(x, b0), 2 * r);
      acc[2 * r + 1] = add(acc[2 * r + 1], _mm256_mul_ps(x, b1), 2 * r + 1);
    }
  }
}

template <Mode M, bool Checked, bool Count = false>
struct RoundAdd {
  const Lane& q;
  Seen* seen;
  LaneCounts* lc = nullptr;
  [[gnu::target("avx2,fma"), gnu::always_inline]] __m256 operator()(__m256 acc, __m256 p, int v) const {
    return add_round<M, Checked>(acc, p, q, seen, Count ? lc : nullptr, v);
  }
};

template <Mode M>
struct DirectedAdd {
  const Lane& q;
  Seen* seen;
  [[gnu::target("avx2,fma"), gnu::always_inline]] __m256 operator()(__m256 acc, __m256 p, int) const {
    return add_directed<M>(acc, p, q, seen);
  }
};

// The accumulators of every chunk of k (chunk terms each) into out, 2 kRows
// vectors per chunk, with add_directed<M>. The caller sets the rounding mode;
// kept out of line so that no floating-point operation of the caller can be
// scheduled into the span of the changed mode, nor one of these out of it.
template <Mode M>
[[gnu::target("avx2,fma"), gnu::noinline]] void directed_chunks(const float* const* ar, const float* panel,
                                                               std::int64_t k, std::int64_t chunk, const Lane& q,
                                                               Seen* seen, float* out) {
  for (std::int64_t c0 = 0; c0 < k; c0 += chunk) {
    __m256 acc[2 * kRows];
    chunk_terms(ar, panel, c0, std::min(k, c0 + chunk), acc, DirectedAdd<M>{q, seen});
    for (int v = 0; v < 2 * kRows; ++v) _mm256_storeu_ps(out + (c0 / chunk * 2 * kRows + v) * 8, acc[v]);
  }
}

[[gnu::target("avx2,fma")]] __m256 add_outer_sum(__m256 outer, __m256 acc, const Lane* q) {
  if (!q) return _mm256_add_ps(outer, acc);  // fp32 RNE: the IEEE addition is the single rounding
  switch (q->r->rounding.mode) {
    case Mode::RNE: return add_round<Mode::RNE>(outer, acc, *q);
    case Mode::RNA: return add_round<Mode::RNA>(outer, acc, *q);
    case Mode::RZ: return add_round<Mode::RZ>(outer, acc, *q);
    case Mode::RU: return add_round<Mode::RU>(outer, acc, *q);
    case Mode::RD: return add_round<Mode::RD>(outer, acc, *q);
    default: return add_round<Mode::RO>(outer, acc, *q);
  }
}

// The outer addition, its events counted lane by lane (once per chunk: rare enough for scalar code).
[[gnu::target("avx2,fma")]] __m256 add_outer(__m256 outer, __m256 acc, const Lane* q, const arith::Format& f,
                                             LaneCounts* lc, int v) {
  const __m256 s = add_outer_sum(outer, acc, q);
  if (lc) count_lanes(outer, acc, s, lc->mask[v], f, lc->c);
  return s;
}

// True when no lane of the additions left the fast path's domain: a normal
// or zero of the format before rounding, finite and in range after, no
// negative zero the format lacks.
[[gnu::target("avx2,fma")]] bool all_fast(const Seen& s, const Lane& q) {
  alignas(32) std::uint32_t mx[8], mn[8], nz[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(mx), _mm256_max_epu32(s.max_r, s.max_a));
  _mm256_store_si256(reinterpret_cast<__m256i*>(mn), s.min_a1);
  _mm256_store_si256(reinterpret_cast<__m256i*>(nz), s.negzero);
  const std::uint32_t max_bits = std::uint32_t(_mm256_extract_epi32(q.max_bits, 0));
  const std::uint32_t min_normal = std::uint32_t(_mm256_extract_epi32(q.min_normal, 0));
  for (int i = 0; i < 8; ++i)
    if (mx[i] > max_bits || mn[i] < min_normal - 1 || nz[i]) return false;
  return true;
}

// The block's outputs; Checked = false returns false (and writes nothing)
// when some addition needs the checked path.
template <Mode M, bool Checked, bool Count>
[[gnu::target("avx2,fma")]] bool block(const MacConfig& cfg, const float* a, std::int64_t lda, int rows,
                                       const float* panel, std::int64_t k, float* out, LaneCounts* lc) {
  Seen seen{_mm256_setzero_si256(), _mm256_set1_epi32(-1), _mm256_setzero_si256(), _mm256_setzero_si256()};
  LaneCounts* counting = Count ? lc : nullptr;
  const Lane acc_lane = make_lane(cfg.acc);
  Lane outer_lane;
  const Lane* outer = nullptr;
  if (cfg.promote > 0 && !is_fp32_rne(*cfg.outer)) outer_lane = make_lane(*cfg.outer), outer = &outer_lane;
  const float* ar[kRows];
  for (int r = 0; r < kRows; ++r) ar[r] = a + std::min(r, rows - 1) * lda;  // extra rows repeat the last; dropped
  const std::int64_t chunk = cfg.promote > 0 ? cfg.promote : std::max<std::int64_t>(k, 1);
  __m256 res[2 * kRows], acc[2 * kRows];
  for (int v = 0; v < 2 * kRows; ++v) res[v] = acc[v] = _mm256_setzero_ps();  // k = 0: zeros
  if constexpr (!Checked && !Count && (M == Mode::RZ || M == Mode::RU)) {
    thread_local std::vector<float> chunks;  // 2 kRows vectors of 8 per chunk
    chunks.resize(std::size_t((k + chunk - 1) / chunk * 2 * kRows * 8));
    const unsigned saved = _mm_getcsr();
    _mm_setcsr((saved & ~0x6000u) | (M == Mode::RZ ? 0x6000u : 0x4000u));  // MXCSR rounding control
    directed_chunks<M>(ar, panel, k, chunk, acc_lane, &seen, chunks.data());
    _mm_setcsr(saved);
    asm volatile("" ::: "memory");  // the chunks are read, and added below, in the restored mode
    for (std::size_t c = 0; c < chunks.size(); c += 2 * kRows * 8)
      for (int v = 0; v < 2 * kRows; ++v) {
        const __m256 sum = _mm256_loadu_ps(chunks.data() + c + std::size_t(v) * 8);
        if (cfg.promote > 0) res[v] = add_outer(res[v], sum, outer, cfg.outer->format, nullptr, v);
        else acc[v] = sum;
      }
  } else {
    for (std::int64_t c0 = 0; c0 < k; c0 += chunk) {
      chunk_terms(ar, panel, c0, std::min(k, c0 + chunk), acc, RoundAdd<M, Checked, Count>{acc_lane, &seen, counting});
      if (cfg.promote > 0)
        for (int v = 0; v < 2 * kRows; ++v) res[v] = add_outer(res[v], acc[v], outer, cfg.outer->format, counting, v);
    }
  }
  if constexpr (!Checked)
    if (!all_fast(seen, acc_lane)) return false;
  for (int r = 0; r < rows; ++r) {
    const __m256* src = cfg.promote > 0 ? res : acc;
    _mm256_storeu_ps(out + r * kLaneCols, src[2 * r]);
    _mm256_storeu_ps(out + r * kLaneCols + 8, src[2 * r + 1]);
  }
  return true;
}

// Optimistic: the unchecked block, and the checked one if it met a lane the
// fast path cannot round (rare: overflow, subnormal sums, infinities, NaN).
// With counts, the unchecked attempt's are dropped when the checked block redoes it.
template <Mode M>
void block(const MacConfig& cfg, const float* a, std::int64_t lda, int rows, const float* panel, std::int64_t k,
           float* out, int cols, MacCounts* counts) {
  if (!counts) {
    if (!block<M, false, false>(cfg, a, lda, rows, panel, k, out, nullptr))
      block<M, true, false>(cfg, a, lda, rows, panel, k, out, nullptr);
    return;
  }
  LaneCounts lc;
  for (int r = 0; r < rows; ++r) {
    lc.mask[2 * r] = (1 << std::min(cols, 8)) - 1;
    lc.mask[2 * r + 1] = (1 << std::clamp(cols - 8, 0, 8)) - 1;
  }
  if (!block<M, false, true>(cfg, a, lda, rows, panel, k, out, &lc)) {
    lc.c = {};
    block<M, true, true>(cfg, a, lda, rows, panel, k, out, &lc);
  }
  const std::int64_t chunks = cfg.promote > 0 ? (k + cfg.promote - 1) / cfg.promote : 0;
  lc.c.additions = std::uint64_t(rows) * std::uint64_t(cols) * std::uint64_t(k + chunks);
  *counts += lc.c;
}

}  // namespace

bool float_lanes_accumulation(const MacConfig& cfg) {
  const bool avx2 = arith::use_avx2();  // arith/isa.hpp: the one dispatch switch
  if (!avx2 || cfg.order != Order::Seq || cfg.product || !narrow_float(cfg.acc)) return false;
  return cfg.promote == 0 || is_fp32_rne(*cfg.outer) || narrow_float(*cfg.outer);
}

namespace {

// Significant bits, lowest and highest set-bit exponents over the finite nonzero values.
struct BitSpan {
  int bits = 0, lsb = 1000, msb = -1000;
};

BitSpan bit_span(const float* x, std::size_t n) {
  int bits = 0, lsb = 1000, msb = -1000;
#pragma omp parallel for schedule(static) reduction(max : bits, msb) reduction(min : lsb) if (n > (1u << 16))
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t u = std::bit_cast<std::uint32_t>(x[i]) & 0x7fffffffu;
    const std::uint32_t e = u >> 23;
    if (u == 0 || e == 255) continue;
    const std::uint32_t sig = e ? (u & 0x7fffffu) | 0x800000u : u;
    const int ulp = (e ? int(e) : 1) - 150;  // exponent of the significand's last bit
    const int lo = ulp + std::countr_zero(sig), hi = ulp + int(std::bit_width(sig)) - 1;
    bits = std::max(bits, hi - lo + 1);
    lsb = std::min(lsb, lo);
    msb = std::max(msb, hi);
  }
  return {bits, lsb, msb};
}

}  // namespace

bool float_products_exact(const float* a, std::size_t na, const float* b, std::size_t nb) {
  const BitSpan x = bit_span(a, na), y = bit_span(b, nb);
  if (x.bits == 0 || y.bits == 0) return true;  // every product zero or not finite
  // A product's bits lie in [lsb_a + lsb_b, msb_a + msb_b + 1]: within float's grid (2^-149) and below 2^128.
  return x.bits + y.bits <= 24 && x.lsb + y.lsb >= -149 && x.msb + y.msb + 1 <= 127;
}

bool float_lanes_apply(const MacConfig& cfg) {
  if (!float_lanes_accumulation(cfg) || !cfg.a || !cfg.b) return false;
  const auto& fa = cfg.a->format;
  const auto& fb = cfg.b->format;
  if (fa.kind == Kind::Scaled || fb.kind == Kind::Scaled || !fa.fits_in_float() || !fb.fits_in_float()) return false;
  // Exact float products: few enough bits, on a grid and within a range float holds.
  const bool exact_products = significant_bits(fa) + significant_bits(fb) <= 24 &&
                              fa.min_subnormal() * fb.min_subnormal() >= 0x1p-149 &&
                              max_magnitude(fa) * max_magnitude(fb) <= double(std::numeric_limits<float>::max());
  return exact_products;
}

void float_lanes_block(const MacConfig& cfg, const float* a, std::int64_t lda, int rows, const float* panel,
                       std::int64_t k, float* out, int cols, MacCounts* counts) {
  switch (cfg.acc.rounding.mode) {
    case Mode::RNE: return block<Mode::RNE>(cfg, a, lda, rows, panel, k, out, cols, counts);
    case Mode::RNA: return block<Mode::RNA>(cfg, a, lda, rows, panel, k, out, cols, counts);
    case Mode::RZ: return block<Mode::RZ>(cfg, a, lda, rows, panel, k, out, cols, counts);
    case Mode::RU: return block<Mode::RU>(cfg, a, lda, rows, panel, k, out, cols, counts);
    case Mode::RD: return block<Mode::RD>(cfg, a, lda, rows, panel, k, out, cols, counts);
    default: return block<Mode::RO>(cfg, a, lda, rows, panel, k, out, cols, counts);
  }
}

}  // namespace lpsim::sim
