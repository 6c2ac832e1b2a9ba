// AMX kernel of int16_gemm (int_gemm.hpp): c = a . b modulo 2^32 for byte
// codes, at the amx level (arith/isa.hpp; the level exists only where the CPU
// has AMX-TILE and AMX-INT8 and Linux granted the tile state).
//
// Layout. A tile is 16 rows x 64 bytes: 16 rows of C by 64 codes along k. A
// B tile is 16 rows x 64 bytes in the VNNI order: row q holds, for 16 columns
// j, the four codes b[4q + t][j] (t = 0..3) in the dword j. C tiles are 16 x
// 16 int32. Each 32 x 32 block of C is four C tiles (tmm0-3) fed by two A
// tiles (tmm4-5) and two B tiles (tmm6-7) per 64 codes of k. A and B are packed
// once, every tile 1 KiB contiguous; m, n and k are padded with zero codes
// (to 32 rows, 32 columns, 64 codes).
//
// Exactness. A code is value * 2^frac, an integer of magnitude below 2^16,
// exact in float and converted exactly (vcvttps2dq); the packed byte is the
// code modulo 2^8 (vpmovdb truncates). The variant of tdpb[su][su]d reads that
// byte back as the code itself: signed (s, two's complement) where every code
// of the operand lies in [-128, 127], unsigned (u) where every code lies in
// [0, 255]; an operand whose codes fit neither is not taken here
// (int_gemm_vnni then shifts the codes or uses words). Each product of two such
// codes is exact (|a b| <= 255^2 < 2^16). The SDM defines the four
// instructions element by element as c + p0 + p1 + p2 + p3 on dwords, without
// saturation (unlike vpdpbusds): the products go into the int32 tile element
// modulo 2^32, and the element starts at 0 (tilezero) and stays in the tile
// over all of k. Addition modulo 2^32 is associative and commutative, so in
// whatever order the hardware adds the products, the element ends as
// sum_l a_l b_l modulo 2^32, the zero padding adding 0 * x = 0: exactly what
// int16_gemm promises. The tests check it where the sums leave int32 (long k
// at the codes' ends, in each of the four variants; one of them wraps past
// 2^32) against the scalar sum modulo 2^32.
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>

#include <omp.h>

#include "arith/isa.hpp"
#include "sim/int_gemm.hpp"

namespace lpsim::sim {

namespace {

constexpr std::int64_t kRows = 16;                 // rows of an A or C tile, columns of a B or C tile
constexpr std::int64_t kCodes = 64;                // codes along k per tile (bytes per A row)
constexpr std::int64_t kTile = kRows * kCodes;     // bytes per packed A or B tile

// ldtilecfg's 64-byte operand (palette 1): tmm0-7, each 16 rows of 64 bytes. A
// constant (GCC 12's _tile_loadconfig names only 8 of its bytes as read, so a
// local one could lose stores).
struct alignas(64) TileConfig {
  std::uint8_t palette, start_row, reserved[14];
  std::uint16_t colsb[16];
  std::uint8_t rows[16];
};
constexpr TileConfig kConfig = {1, 0, {}, {64, 64, 64, 64, 64, 64, 64, 64}, {16, 16, 16, 16, 16, 16, 16, 16}};

// The codes' running range (0 included: padding and masked lanes, inside
// both byte ranges, so it never changes the decision).
struct Range {
  std::int32_t lo = 0, hi = 0;
  bool bytes() const { return lo >= -128 && hi <= 255 && (lo >= 0 || hi <= 127); }
};

inline __mmask16 first(std::int64_t count) {
  return count >= 16 ? __mmask16(0xffff) : __mmask16((1u << std::max<std::int64_t>(count, 0)) - 1);
}

// 16 codes from values p[0..16) (lanes off `m` read as 0). Exact: the value is
// on the grid, times 2^frac an integer below 2^16 (maskz forms: GCC PR 105593).
[[gnu::target("avx512f"), gnu::always_inline]] inline __m512i codes16(const float* p, __m512 scale, __mmask16 m) {
  return _mm512_maskz_cvttps_epi32(0xffff, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, p), scale));
}

[[gnu::target("avx512f"), gnu::always_inline]] inline void widen(__m512i x, __m512i& lo, __m512i& hi) {
  lo = _mm512_maskz_min_epi32(0xffff, lo, x), hi = _mm512_maskz_max_epi32(0xffff, hi, x);  // (maskz: GCC PR 105593)
}

[[gnu::target("avx512f")]] Range reduce(__m512i lo, __m512i hi, Range r) {
  alignas(64) std::int32_t l[16], h[16];
  _mm512_store_si512(l, lo), _mm512_store_si512(h, hi);
  for (int t = 0; t < 16; ++t) r.lo = std::min(r.lo, l[t]), r.hi = std::max(r.hi, h[t]);
  return r;
}

// Rows [i0, i0 + 16) of A (rows >= m zero) into kt tiles dst[ks * kTile]: row r, byte v = code a[i0 + r][64 ks + v].
[[gnu::target("avx512f,avx512bw")]] void pack_a(std::int64_t m, std::int64_t k, const float* a, float scale,
                                                std::int64_t i0, std::int64_t kt, std::uint8_t* dst, Range& range) {
  const __m512 vs = _mm512_set1_ps(scale);
  __m512i lo = _mm512_setzero_si512(), hi = lo;
  for (std::int64_t r = 0; r < kRows; ++r) {
    const bool in = i0 + r < m;
    for (std::int64_t ks = 0; ks < kt; ++ks)
      for (std::int64_t v = 0; v < kCodes; v += 16) {
        const std::int64_t l = ks * kCodes + v;
        // (no pointer formed past the rows: padding is zero without a load)
        const __m512i x = in && l < k ? codes16(a + (i0 + r) * k + l, vs, first(k - l)) : _mm512_setzero_si512();
        widen(x, lo, hi);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + ks * kTile + r * kCodes + v), _mm512_maskz_cvtepi32_epi8(0xffff, x));
      }
  }
  range = reduce(lo, hi, range);
}

// The low bytes of the codes b[l][j0 + j] in lanes j (0 past k or n).
[[gnu::target("avx512f"), gnu::always_inline]] inline __m512i b_bytes(std::int64_t n, std::int64_t k, const float* b,
                                                                      __m512 scale, std::int64_t j0, __mmask16 m,
                                                                      std::int64_t l, __m512i& lo, __m512i& hi) {
  if (l >= k || j0 >= n) return _mm512_setzero_si512();
  const __m512i x = codes16(b + l * n + j0, scale, m);
  widen(x, lo, hi);
  return _mm512_and_si512(x, _mm512_set1_epi32(0xff));
}

// Rows 4q .. 4q + 3 of B (rows >= k zero) into row q of the tiles of every
// column block p (nt of them, kt tiles each; columns >= n zero): the dword j
// of row q of block p holds the codes b[4q + t][16 p + j], t = 0..3, in its
// bytes t. (Row by row: the four rows are read in order, whole lines.)
[[gnu::target("avx512f,avx512bw")]] void pack_b(std::int64_t n, std::int64_t k, const float* b, float scale,
                                                std::int64_t q, std::int64_t kt, std::int64_t nt, std::uint8_t* bp,
                                                Range& range) {
  const __m512 vs = _mm512_set1_ps(scale);
  __m512i lo = _mm512_setzero_si512(), hi = lo;
  for (std::int64_t p = 0; p < nt; ++p) {
    const std::int64_t j0 = p * kRows;
    const __mmask16 m = first(n - j0);
    const __m512i w0 = b_bytes(n, k, b, vs, j0, m, 4 * q, lo, hi), w1 = b_bytes(n, k, b, vs, j0, m, 4 * q + 1, lo, hi);
    const __m512i w2 = b_bytes(n, k, b, vs, j0, m, 4 * q + 2, lo, hi), w3 = b_bytes(n, k, b, vs, j0, m, 4 * q + 3, lo, hi);
    const __m512i w = _mm512_or_si512(_mm512_or_si512(w0, _mm512_maskz_slli_epi32(0xffff, w1, 8)),
                                      _mm512_or_si512(_mm512_maskz_slli_epi32(0xffff, w2, 16),
                                                      _mm512_maskz_slli_epi32(0xffff, w3, 24)));
    _mm512_storeu_si512(bp + p * kt * kTile + q * 64, w);
  }
  range = reduce(lo, hi, range);
}

// One 16 x 16 C tile out of tmm T: straight into c where all of it lies inside
// m x n, else through a buffer. (tilestored clobbers memory: buf is read back.)
#define LPSIM_STORE(T, di, dj)                                                                           \
  do {                                                                                                   \
    const std::int64_t i = i0 + (di), j = j0 + (dj);                                                     \
    if (i < m && j < n) {                                                                                \
      if (i + kRows <= m && j + kRows <= n) {                                                            \
        _tile_stored(T, c + i * n + j, n * 4);                                                           \
      } else {                                                                                           \
        _tile_stored(T, buf, kRows * 4);                                                                 \
        const std::int64_t rows = std::min(kRows, m - i), cols = std::min(kRows, n - j);                 \
        for (std::int64_t r = 0; r < rows; ++r) std::memcpy(c + (i + r) * n + j, buf + r * kRows, 4 * cols); \
      }                                                                                                  \
    }                                                                                                    \
  } while (0)

// The 32 x 32 block of C at (i0, j0): A tiles a0 (rows i0..), a1 (rows i0 + 16..),
// B tiles b0 (columns j0..), b1 (j0 + 16..), kt of each along k. V picks the
// signedness of A and B: 0 ss, 1 su, 2 us, 3 uu.
template <int V>
[[gnu::target("amx-tile,amx-int8")]] void block(std::int64_t kt, const std::uint8_t* a0, const std::uint8_t* a1,
                                               const std::uint8_t* b0, const std::uint8_t* b1, std::int32_t* c,
                                               std::int64_t m, std::int64_t n, std::int64_t i0, std::int64_t j0) {
#define LPSIM_DP(C, A, B)                            \
  do {                                               \
    if constexpr (V == 0) _tile_dpbssd(C, A, B);      \
    else if constexpr (V == 1) _tile_dpbsud(C, A, B); \
    else if constexpr (V == 2) _tile_dpbusd(C, A, B); \
    else _tile_dpbuud(C, A, B);                      \
  } while (0)
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (std::int64_t ks = 0; ks < kt; ++ks) {
    const std::int64_t off = ks * kTile;
    _tile_loadd(4, a0 + off, kCodes);
    _tile_loadd(6, b0 + off, kCodes);
    LPSIM_DP(0, 4, 6);
    _tile_loadd(7, b1 + off, kCodes);
    LPSIM_DP(1, 4, 7);
    _tile_loadd(5, a1 + off, kCodes);
    LPSIM_DP(2, 5, 6);
    LPSIM_DP(3, 5, 7);
  }
#undef LPSIM_DP
  alignas(64) std::int32_t buf[kRows * kRows];
  LPSIM_STORE(0, 0, 0);
  LPSIM_STORE(1, 0, kRows);
  LPSIM_STORE(2, kRows, 0);
  LPSIM_STORE(3, kRows, kRows);
}
#undef LPSIM_STORE

using Block = void (*)(std::int64_t, const std::uint8_t*, const std::uint8_t*, const std::uint8_t*, const std::uint8_t*,
                       std::int32_t*, std::int64_t, std::int64_t, std::int64_t, std::int64_t);

[[gnu::target("amx-tile")]] void tiles_on() { _tile_loadconfig(&kConfig); }
[[gnu::target("amx-tile")]] void tiles_off() { _tile_release(); }

}  // namespace

bool int_gemm_amx(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, int frac_a, const float* b,
                  int frac_b, std::int32_t* c) {
  if (arith::isa() < arith::Isa::AMX) return false;  // arith/isa.hpp: the one dispatch switch
  if (m <= 0 || n <= 0 || k <= 0) return false;      // nothing to multiply: int_gemm_vnni writes the zeros
  if (std::abs(frac_a) > 100 || std::abs(frac_b) > 100) return false;  // codes not scaled exactly in float
  const float sa = std::ldexp(1.f, frac_a), sb = std::ldexp(1.f, frac_b);
  // Row and column blocks of 16, padded to pairs (32 x 32 blocks of C); kt tiles of 64 codes along k.
  const std::int64_t kt = (k + kCodes - 1) / kCodes;
  const std::int64_t mt = (m + 2 * kRows - 1) / (2 * kRows) * 2, nt = (n + 2 * kRows - 1) / (2 * kRows) * 2;
  // Every byte written by the packing (padding included): no zeroing pass.
  const std::unique_ptr<std::uint8_t[]> ap(new std::uint8_t[std::size_t(mt * kt * kTile)]);
  const std::unique_ptr<std::uint8_t[]> bp(new std::uint8_t[std::size_t(nt * kt * kTile)]);
  Range ra, rb;
  std::atomic<bool> wide{false};  // some codes fit no byte range: stop packing, leave it to int_gemm_vnni
  bool done = false;
  const std::int64_t blocks = (mt / 2) * (nt / 2);
  const std::int64_t chunk = std::max<std::int64_t>(1, blocks / (8 * omp_get_max_threads()));
  // One parallel region: on a loaded machine every fork and join costs.
#pragma omp parallel
  {
    Range la, lb;
#pragma omp for schedule(static) nowait
    for (std::int64_t q = 0; q < kt * kRows; ++q) {
      if (wide.load(std::memory_order_relaxed)) continue;
      pack_b(n, k, b, sb, q, kt, nt, bp.get(), lb);
      if (!lb.bytes()) wide.store(true, std::memory_order_relaxed);
    }
#pragma omp for schedule(static) nowait
    for (std::int64_t p = 0; p < mt; ++p) {
      if (wide.load(std::memory_order_relaxed)) continue;
      pack_a(m, k, a, sa, p * kRows, kt, ap.get() + p * kt * kTile, la);
      if (!la.bytes()) wide.store(true, std::memory_order_relaxed);
    }
#pragma omp critical(lpsim_int_gemm_amx)
    {
      ra.lo = std::min(ra.lo, la.lo), ra.hi = std::max(ra.hi, la.hi);
      rb.lo = std::min(rb.lo, lb.lo), rb.hi = std::max(rb.hi, lb.hi);
    }
#pragma omp barrier
    // Every thread decides alike from the shared ranges (no second barrier): signed where the codes fit int8,
    // else unsigned (they fit uint8).
    Block fn = nullptr;
    if (!wide.load(std::memory_order_relaxed) && ra.bytes() && rb.bytes()) {
      const bool sa8 = ra.hi <= 127, sb8 = rb.hi <= 127;
      fn = sa8 ? (sb8 ? block<0> : block<1>) : (sb8 ? block<2> : block<3>);
    }
    if (fn) {
      tiles_on();
      // Chunks of blocks: each fetch of work is a locked instruction, which waits for the C tiles stored before it.
#pragma omp for schedule(dynamic, chunk) nowait
      for (std::int64_t q = 0; q < blocks; ++q) {
        // Row-block pairs outer (their A tiles stay in cache across the column pairs), column pairs inner.
        const std::int64_t ip = q / (nt / 2), jp = q % (nt / 2);
        const std::uint8_t* a0 = ap.get() + 2 * ip * kt * kTile;
        const std::uint8_t* b0 = bp.get() + 2 * jp * kt * kTile;
        fn(kt, a0, a0 + kt * kTile, b0, b0 + kt * kTile, c, m, n, 2 * ip * kRows, 2 * jp * kRows);
      }
      tiles_off();
    }
#pragma omp master
    done = fn != nullptr;
  }  // (the region's barrier: every block stored)
  return done;
}

}  // namespace lpsim::sim
