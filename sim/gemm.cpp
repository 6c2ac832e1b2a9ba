// The fast GEMM. Each path is exact for the configurations it takes, and
// tests compare every path with gemm_golden bit for bit:
//  - "fma-fp32": fp32 accumulator, RNE, sequential, exact products. One
//    IEEE fma per term is exactly "round(acc + a*b) once" (the product is
//    not rounded), which is the MAC model's definition.
//  - "integer": fixed-point operands and accumulator whose grid holds every
//    product exactly; additions are then integer additions, checked for
//    range (saturate or wrap) after each one, as the model says.
//  - "tiled": any seq / chunk<N> / pairwise configuration (pairwise without promote=). Runs the golden
//    arithmetic (round-to-odd sum, then one rounding) on whole rows of
//    outputs at a time so that the rounding is the vectorised array path.
//  - "float-lanes": narrow float accumulators (seq / chunk<N>) in AVX2 float
//    lanes; float_lanes.hpp says why that is exact. Taken when the operand
//    formats guarantee exact float products, or else when the operand values
//    do (checked per call). Event counts are counted in the lanes too.
//  - "fused-lanes": fused<N> in AVX2 double lanes; fused_lanes.hpp says why
//    that is exact. With event counts requested it gives way to "fused".
//  - "fused": fused<N> steps through the shared fused_step, in parallel.
//  - "per-output": the golden dot product per output, in parallel, for what
//    has no faster path (pairwise with promote=).
#include "sim/gemm.hpp"

#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <exception>
#include <limits>
#include <memory>
#include <optional>
#include <vector>

#include "arith/isa.hpp"
#include "arith/quantize.hpp"
#include "sim/dot.hpp"
#include "sim/exact_round.hpp"
#include "sim/first_error.hpp"
#include "sim/float_lanes.hpp"
#include "sim/fused_lanes.hpp"
#include "sim/fma_gemm.hpp"
#include "sim/int_gemm.hpp"
#include "sim/operands.hpp"
#include "sim/round_into.hpp"

namespace lpsim::sim {

namespace {

using arith::Kind;
using arith::Mode;

// Fixed-point operand values as integers on their grid (value * 2^frac):
// exact, the scaling is a power of two and the values are on the grid.
template <class I>
std::vector<I> on_grid(const std::vector<float>& v, int frac_bits) {
  const double s = std::ldexp(1.0, frac_bits);
  std::vector<I> out(v.size());
  for (std::size_t q = 0; q < v.size(); ++q) out[q] = I(double(v[q]) * s);
  return out;
}

bool integer_exact(const MacConfig& c) {
  if (c.order != Order::Seq || c.promote || c.product) return false;
  if (!c.a || !c.b || c.a->format.kind != Kind::Fixed || c.b->format.kind != Kind::Fixed) return false;
  const auto& acc = c.acc.format;
  // Products on the accumulator's grid, and every partial sum an exact int64 before the range check.
  return acc.kind == Kind::Fixed && c.a->format.frac_bits + c.b->format.frac_bits <= acc.frac_bits &&
         acc.frac_bits - c.a->format.frac_bits - c.b->format.frac_bits + c.a->format.width + c.b->format.width <= 60 &&
         acc.width <= 62;
}

// int16_gemm applies: 16-bit operands, and either no partial sum can leave
// int32 nor the accumulator's range, or the accumulator wraps with W <= 32.
bool int16_exact(const MacConfig& c, std::int64_t k) {
  const auto& fa = c.a->format;
  const auto& fb = c.b->format;
  const auto& f = c.acc.format;
  // The codes themselves must be int16 (a uint16 code above 32767 is not).
  const auto int16_codes = [](const arith::Format& f) {
    return std::ldexp(f.max_finite(), f.frac_bits) <= 32767 && std::ldexp(f.lowest(), f.frac_bits) >= -32768;
  };
  if (fa.width > 16 || fb.width > 16 || !int16_codes(fa) || !int16_codes(fb)) return false;
  if (f.wrap && f.width <= 32) return true;
  const double max_a = std::ldexp(std::max(fa.max_finite(), -fa.lowest()), fa.frac_bits);
  const double max_b = std::ldexp(std::max(fb.max_finite(), -fb.lowest()), fb.frac_bits);
  const double bound = double(k) * max_a * max_b;  // largest |partial sum| in operand units
  const int shift = f.frac_bits - fa.frac_bits - fb.frac_bits;
  // |sum| <= max_finite keeps a signed sum in range too (|lowest| > max_finite); an
  // unsigned accumulator also needs sums that cannot go negative.
  const bool sign_ok = f.is_signed || (fa.lowest() >= 0 && fb.lowest() >= 0);
  return bound < 0x1p31 && std::ldexp(bound, shift) <= std::ldexp(f.max_finite(), f.frac_bits) && sign_ok;
}


constexpr std::int64_t kRow = 256;  // outputs per row segment: amortises each arith::quantize call of the tiled path

// ---- fma-fp32 ---------------------------------------------------------------
constexpr std::int64_t kFmaRows = 4;  // rows of C sharing each loaded row segment of B

// C rows [0, rows) x cols [j0, j1): acc = fma(a, b, acc) in k order per output.
template <bool COUNT>
[[gnu::always_inline]] inline void fma_rows_body(const float* a, std::int64_t rows, const float* b, float* c,
                                                 std::int64_t n, std::int64_t k, std::int64_t j0, std::int64_t j1,
                                                 MacCounts* counts) {
  float acc[kFmaRows][kRow] = {};
  std::uint64_t swamped = 0, overflows = 0, saturations = 0;
  const std::int64_t w = j1 - j0;
  for (std::int64_t l = 0; l < k; ++l) {
    const float* bl = b + l * n + j0;
    for (std::int64_t r = 0; r < rows; ++r) {
      const float x = a[r * k + l];
      float* ar = acc[r];
      if (w == kRow && !COUNT) {
        for (std::int64_t j = 0; j < kRow; ++j) ar[j] = std::fma(x, bl[j], ar[j]);  // fixed trip: unrolled, vectorised
        continue;
      }
      for (std::int64_t j = 0; j < w; ++j) {
        const float s = std::fma(x, bl[j], ar[j]);
        if constexpr (COUNT) {
          const double p = double(x) * double(bl[j]);
          swamped += (ar[j] != 0) & (p != 0) & ((s == ar[j]) | (double(s) == p));
          // (int operands: branch-free on purpose; clang's -Wbitwise-instead-of-logical otherwise)
          const int finite_in = int(std::isfinite(ar[j])) & int(std::isfinite(p));
          overflows += int(std::isinf(s)) & finite_in;
          // Just beyond the largest float but rounded down to it: counted as saturated, as round_into does.
          saturations += (int(std::fabs(s) == std::numeric_limits<float>::max()) & finite_in) &&
                         std::fabs(sum_round_to_odd(ar[j], p)) > std::numeric_limits<float>::max();
        }
        ar[j] = s;
      }
    }
  }
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < w; ++j) c[r * kRow + j] = acc[r][j];
  if constexpr (COUNT) {
    counts->swamped += swamped;
    counts->overflows += overflows;
    counts->saturations += saturations;
    counts->additions += std::uint64_t(rows * w * k);
  }
}

// Compiled twice: with AVX2+FMA (picked at run time when the CPU has them;
// target_clones' "arch=haswell" also demands features some x86-64-v3 CPUs
// lack) and portable, where std::fma is a library call.
template <bool COUNT>
[[gnu::target("avx2,fma")]] void fma_rows_avx2(const float* a, std::int64_t rows, const float* b, float* c,
                                               std::int64_t n, std::int64_t k, std::int64_t j0, std::int64_t j1,
                                               MacCounts* counts) {
  fma_rows_body<COUNT>(a, rows, b, c, n, k, j0, j1, counts);
}
template <bool COUNT>
void fma_rows_portable(const float* a, std::int64_t rows, const float* b, float* c, std::int64_t n, std::int64_t k,
                       std::int64_t j0, std::int64_t j1, MacCounts* counts) {
  fma_rows_body<COUNT>(a, rows, b, c, n, k, j0, j1, counts);
}
template <bool COUNT>
void fma_rows(const float* a, std::int64_t rows, const float* b, float* c, std::int64_t n, std::int64_t k,
              std::int64_t j0, std::int64_t j1, MacCounts* counts) {
  const bool avx2 = arith::use_avx2();  // arith/isa.hpp: the one dispatch switch
  (avx2 ? fma_rows_avx2<COUNT> : fma_rows_portable<COUNT>)(a, rows, b, c, n, k, j0, j1, counts);
}

// ---- integer -------------------------------------------------------------------
void integer_rows(const MacConfig& cfg, const std::int64_t* a, const std::int64_t* b, double* out, std::int64_t n,
                  std::int64_t k, std::int64_t j0, std::int64_t j1, MacCounts& counts) {
  const auto& f = cfg.acc.format;
  const std::int64_t hi = std::int64_t(std::ldexp(f.max_finite(), f.frac_bits));
  const std::int64_t lo = std::int64_t(std::ldexp(f.lowest(), f.frac_bits));
  const std::uint64_t mod_mask = f.width >= 64 ? ~0ull : (1ull << f.width) - 1;
  const int shift = f.frac_bits - cfg.a->format.frac_bits - cfg.b->format.frac_bits;
  std::int64_t acc[kRow] = {};
  std::uint64_t sat = 0, ovf = 0, sw = 0;
  const std::int64_t w = j1 - j0;
  for (std::int64_t l = 0; l < k; ++l) {
    const std::int64_t x = a[l];
    const std::int64_t* bl = b + l * n + j0;
    for (std::int64_t j = 0; j < w; ++j) {
      const std::int64_t prod = (x * bl[j]) << shift;
      std::int64_t s = acc[j] + prod;
      const bool over = (s > hi) | (s < lo);
      if (f.wrap) {
        std::uint64_t u = std::uint64_t(s) & mod_mask;
        if (f.is_signed && (u >> (f.width - 1)) & 1) u |= ~mod_mask;  // sign-extend
        s = std::int64_t(u);
        ovf += over;
      } else {
        s = std::clamp(s, lo, hi);
        sat += over;
      }
      sw += (acc[j] != 0) & (prod != 0) & ((s == acc[j]) | (s == prod));
      acc[j] = s;
    }
  }
  const double unit = std::ldexp(1.0, -f.frac_bits);
  for (std::int64_t j = 0; j < w; ++j) out[j] = double(acc[j]) * unit;
  counts.saturations += sat;
  counts.overflows += ovf;
  counts.swamped += sw;
  counts.additions += std::uint64_t(w * k);
}

// ---- tiled (generic seq / chunk / pairwise) ----------------------------------------
// Rounds x[0..w) into r with indices step*outputs + o0 + j, counting events.
// x == out is allowed (callers round rows in place).
void round_row(const double* x, double* out, std::int64_t w, const Rounded& r, arith::RandomKey key,
               std::uint64_t first_index, MacCounts& counts, bool overflow_inf) {
  // Out-of-range check with the bounds hoisted (count_range's test, inlined),
  // on the values before rounding. Fix: it ran after the rounding, which
  // with x == out saw the rounded values (infinity, NaN or the largest
  // finite value), so an output conversion's overflows and saturations went
  // uncounted where the golden model counts them (found by fuzz/fuzz_mac).
  const double hi = r.format.max_finite(), lo = r.format.kind == Kind::Fixed ? r.format.lowest() : -hi;
  const bool wraps = r.format.kind == Kind::Fixed && r.format.wrap;
  for (std::int64_t j0 = 0; j0 < w; j0 += kRow) {
    const std::int64_t n = std::min(kRow, w - j0);
    bool beyond[kRow];
    double before[kRow];  // x may be out: the values beyond the range, for overflow=inf
    bool any = false;
    for (std::int64_t j = 0; j < n; ++j) {
      const double v = x[j0 + j];
      beyond[j] = (v > hi || v < lo) && std::isfinite(v);
      if (beyond[j]) before[j] = v;
      any |= beyond[j];
    }
    if (is_fp32_rne(r)) {
      for (std::int64_t j = 0; j < n; ++j) out[j0 + j] = double(float(x[j0 + j]));  // the IEEE conversion is that rounding
    } else {
      arith::quantize(x + j0, out + j0, std::size_t(n), r.format, r.rounding, key, first_index + std::uint64_t(j0));
    }
    if (!any) continue;
    for (std::int64_t j = 0; j < n; ++j) {
      if (!beyond[j]) continue;
      if (overflow_inf) out[j0 + j] = overflow_to_inf(before[j], out[j0 + j], r, key, first_index + std::uint64_t(j0 + j));
      (std::isfinite(out[j0 + j]) && !wraps ? counts.saturations : counts.overflows) += 1;
    }
  }
}

// acc[j] <- round(acc[j] + y[j]) for a row segment, as dot.cpp's add().
void add_row(double* acc, const double* y, double* tmp, std::int64_t w, const Rounded& r, arith::RandomKey key,
             std::uint64_t first_index, MacCounts& counts, bool overflow_inf) {
  for (std::int64_t j = 0; j < w; ++j)
    tmp[j] = std::isfinite(acc[j]) && std::isfinite(y[j]) ? sum_round_to_odd(acc[j], y[j]) : acc[j] + y[j];
  double s[kRow];
  round_row(tmp, s, w, r, key, first_index, counts, overflow_inf);
  std::uint64_t sw = 0;
  for (std::int64_t j = 0; j < w; ++j) {
    sw += (acc[j] != 0) & (y[j] != 0) & ((s[j] == acc[j]) | (s[j] == y[j]));
    acc[j] = s[j];
  }
  counts.swamped += sw;
  counts.additions += std::uint64_t(w);
}

void products_row(const MacConfig& cfg, double x, const double* b, double* p, std::int64_t w, arith::RandomKey key,
                  std::uint64_t first_index, MacCounts& counts) {
  for (std::int64_t j = 0; j < w; ++j) p[j] = x * b[j];
  if (cfg.product) round_row(p, p, w, *cfg.product, role_key(key, kRoleProd), first_index, counts, cfg.overflow_inf);
}

// Operands as doubles, for the paths that compute products in double.
struct DoubleOperands {
  std::int64_t m = 0, n = 0, k = 0;
  std::vector<double> a, b;
};

// addend: C[i, j0..j1) with add_c (dot.hpp: where C enters), else nullptr.
void tiled_rows(const MacConfig& cfg, const DoubleOperands& ops, std::int64_t i, std::int64_t j0, std::int64_t j1,
                const float* addend, arith::RandomKey key, double* out, MacCounts& counts) {
  const std::int64_t n = ops.n, k = ops.k, w = j1 - j0;
  const std::uint64_t outputs = std::uint64_t(ops.m * n), o0 = std::uint64_t(i * n + j0);
  const double* a = ops.a.data() + i * k;
  const double* b = ops.b.data() + j0;
  const auto acc_key = role_key(key, kRoleAcc);
  double tmp[kRow], p[kRow];
  if (cfg.order == Order::Pairwise) {
    std::vector<double> t(std::size_t(k * w));
    for (std::int64_t l = 0; l < k; ++l)
      products_row(cfg, a[l], b + l * n, t.data() + l * w, w, key, std::uint64_t(l) * outputs + o0, counts);
    std::uint64_t step = 0;
    if (k == 1) round_row(t.data(), t.data(), w, cfg.acc, acc_key, step++ * outputs + o0, counts, cfg.overflow_inf);
    for (std::int64_t len = k; len > 1; len = (len + 1) / 2) {
      for (std::int64_t q = 0; q < len / 2; ++q) {
        double* left = t.data() + (2 * q) * w;
        add_row(left, left + w, tmp, w, cfg.acc, acc_key, step++ * outputs + o0, counts, cfg.overflow_inf);
        if (q) std::copy(left, left + w, t.data() + q * w);
      }
      if (len % 2) std::copy(t.data() + (len - 1) * w, t.data() + len * w, t.data() + (len / 2) * w);
    }
    for (std::int64_t j = 0; j < w; ++j) out[j] = k > 0 ? t[std::size_t(j)] : 0.0;
    if (addend) {
      double c[kRow];
      for (std::int64_t j = 0; j < w; ++j) c[j] = addend[j];
      if (k > 0) add_row(c, out, tmp, w, cfg.acc, acc_key, step++ * outputs + o0, counts, cfg.overflow_inf);
      std::copy(c, c + w, out);
    }
    return;
  }
  const std::int64_t chunk = cfg.promote > 0 ? cfg.promote : std::max<std::int64_t>(k, 1);
  double acc[kRow], outer[kRow];
  std::fill(outer, outer + w, 0.0);
  std::fill(acc, acc + w, 0.0);
  if (addend) std::copy(addend, addend + w, cfg.promote > 0 ? outer : acc);
  std::uint64_t acc_step = 0, outer_step = 0;
  for (std::int64_t c0 = 0; c0 < k; c0 += chunk) {
    if (cfg.promote > 0) std::fill(acc, acc + w, 0.0);
    for (std::int64_t l = c0; l < std::min(k, c0 + chunk); ++l) {
      products_row(cfg, a[l], b + l * n, p, w, key, std::uint64_t(l) * outputs + o0, counts);
      add_row(acc, p, tmp, w, cfg.acc, acc_key, acc_step++ * outputs + o0, counts, cfg.overflow_inf);
    }
    if (cfg.promote > 0) add_row(outer, acc, tmp, w, *cfg.outer, role_key(key, kRoleOuter), outer_step++ * outputs + o0, counts, cfg.overflow_inf);
  }
  std::copy(cfg.promote > 0 ? outer : acc, (cfg.promote > 0 ? outer : acc) + w, out);
}

// C <- out(C) where the MAC has an output format: for the paths that leave
// the accumulator's values in C (no events: the output rounding of the
// counted paths is counted where they round).
void round_output_in_place(const MacConfig& cfg, const GemmArgs& g, arith::RandomKey out_key) {
  if (!cfg.out) return;
  FirstError errors;
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < g.m; ++i) {
    errors.run([&] {
      MacCounts none;
      double row[kRow];
      for (std::int64_t j0 = 0; j0 < g.n; j0 += kRow) {
        const std::int64_t w = std::min(kRow, g.n - j0);
        for (std::int64_t j = 0; j < w; ++j) row[j] = g.c[i * g.ldc + j0 + j];
        round_row(row, row, w, *cfg.out, out_key, std::uint64_t(i * g.n + j0), none, cfg.overflow_inf);
        for (std::int64_t j = 0; j < w; ++j) g.c[i * g.ldc + j0 + j] = float(row[j]);
      }
    });
  }
  errors.rethrow();
}

// B in panels of kLaneCols columns (k x kLaneCols each, zero-padded); tasks
// walk the row blocks of one panel so that the panel stays in cache.
// With counts (not null), the events of every addition and of the output rounding.
void float_lanes(const MacConfig& cfg, const Operands& ops, const GemmArgs& g, arith::RandomKey out_key,
                 MacCounts* counts) {
  if (!counts && fp16_lanes_gemm(cfg, g.m, g.n, g.k, ops.a.data(), ops.b.data(), g.c, g.ldc)) {  // AVX512-FP16 fma per term
    round_output_in_place(cfg, g, out_key);
    return;
  }
  constexpr std::int64_t kRows = 4;
  const std::int64_t panels = (g.n + kLaneCols - 1) / kLaneCols, blocks = (g.m + kRows - 1) / kRows;
  std::vector<float> bp(std::size_t(panels * g.k * kLaneCols), 0.f);
#pragma omp parallel for schedule(static)
  for (std::int64_t pn = 0; pn < panels; ++pn)
    for (std::int64_t l = 0; l < g.k; ++l)
      for (std::int64_t j = pn * kLaneCols; j < std::min(g.n, (pn + 1) * kLaneCols); ++j)
        bp[std::size_t((pn * g.k + l) * kLaneCols + j - pn * kLaneCols)] = ops.b[std::size_t(l * g.n + j)];
  FirstError errors;
#pragma omp parallel
  {
    MacCounts local;
#pragma omp for schedule(dynamic, 2)
    for (std::int64_t t = 0; t < panels * blocks; ++t) {
      errors.run([&] {
        const std::int64_t pn = t / blocks, i0 = (t % blocks) * kRows, rows = std::min(kRows, g.m - i0);
        const std::int64_t j0 = pn * kLaneCols, w = std::min(kLaneCols, g.n - j0);
        float o[kRows * kLaneCols];
        float_lanes_block(cfg, ops.a.data() + i0 * g.k, g.k, int(rows), bp.data() + pn * g.k * kLaneCols, g.k, o,
                          int(w), counts ? &local : nullptr);
        for (std::int64_t r = 0; r < rows; ++r) {
          double row[kLaneCols];
          for (std::int64_t j = 0; j < w; ++j) row[j] = o[r * kLaneCols + j];
          if (cfg.out) round_row(row, row, w, *cfg.out, out_key, std::uint64_t((i0 + r) * g.n + j0), local, cfg.overflow_inf);
          for (std::int64_t j = 0; j < w; ++j) g.c[(i0 + r) * g.ldc + j0 + j] = float(row[j]);
        }
      });
    }
    if (counts) {
#pragma omp critical
      *counts += local;
    }
  }
  errors.rethrow();
}

// A and B in double with their alignment exponents; B in panels of
// kFusedCols columns; tasks walk the rows of one panel.
void fused_lanes(const MacConfig& cfg, const Operands& ops, const GemmArgs& g, arith::RandomKey out_key) {
  const auto store = [&](std::int64_t i, std::int64_t j0, std::int64_t w, double* row) {
    MacCounts none;
    if (cfg.out) round_row(row, row, w, *cfg.out, out_key, std::uint64_t(i * g.n + j0), none, cfg.overflow_inf);
    for (std::int64_t j = 0; j < w; ++j) g.c[i * g.ldc + j0 + j] = float(row[j]);
  };
  if (fused_lanes_avx512(cfg, ops.a.data(), ops.b.data(), g.add_c ? ops.c.data() : nullptr, g.m, g.n, g.k, store))
    return;
  const std::int64_t panels = (g.n + kFusedCols - 1) / kFusedCols;
  std::vector<double> a(ops.a.begin(), ops.a.end()), ea(a.size());
  fused_nominal_exponents(cfg, true, a.data(), ea.data(), std::int64_t(a.size()));
  std::vector<double> bp(std::size_t(panels * g.k * kFusedCols), 0.0), ebp(bp.size(), 0.0);
#pragma omp parallel for schedule(static)
  for (std::int64_t pn = 0; pn < panels; ++pn) {
    for (std::int64_t l = 0; l < g.k; ++l)
      for (std::int64_t j = pn * kFusedCols; j < std::min(g.n, (pn + 1) * kFusedCols); ++j)
        bp[std::size_t((pn * g.k + l) * kFusedCols + j - pn * kFusedCols)] = ops.b[std::size_t(l * g.n + j)];
    const std::size_t at = std::size_t(pn * g.k * kFusedCols);
    fused_nominal_exponents(cfg, false, bp.data() + at, ebp.data() + at, g.k * kFusedCols);
  }
  FirstError errors;
#pragma omp parallel for schedule(dynamic, 4)
  for (std::int64_t t = 0; t < panels * g.m; ++t) {
    errors.run([&] {
      const std::int64_t pn = t / g.m, i = t % g.m, j0 = pn * kFusedCols, w = std::min(kFusedCols, g.n - j0);
      double row[kFusedCols], c[kFusedCols] = {};
      const std::size_t at = std::size_t(pn * g.k * kFusedCols);
      if (g.add_c)
        for (std::int64_t j = 0; j < w; ++j) c[j] = ops.c[std::size_t(i * g.n + j0 + j)];
      fused_lanes_row(cfg, a.data() + i * g.k, ea.data() + i * g.k, bp.data() + at, ebp.data() + at, g.k,
                      g.add_c ? c : nullptr, row);
      store(i, j0, w, row);
    });
  }
  errors.rethrow();
}

}  // namespace

const char* gemm_path(const MacConfig& cfg, bool add_c) {
  if (cfg.order == Order::Fused) return fused_lanes_apply(cfg) ? "fused-lanes" : "fused";
  // D = A.B + C: fused-lanes and per-output start from C; the float-lane and integer paths start from zero.
  if (add_c && !(cfg.order == Order::Pairwise && cfg.promote)) return "tiled";
  if (cfg.order == Order::Pairwise && cfg.promote) return "per-output";  // dot_golden per output, in parallel
  // (overflow=inf and nan= are applied by the tiled path and after every path; the fp32 kernels know neither)
  if (cfg.order == Order::Seq && !cfg.promote && !cfg.product && is_fp32_rne(cfg.acc) && cfg.ieee_edges())
    return "fma-fp32";
  if (integer_exact(cfg)) return "integer";
  if (!cfg.overflow_inf && float_lanes_apply(cfg)) return "float-lanes";
  return "tiled";
}

namespace {

void gemm_paths(const MacConfig& cfg, const GemmArgs& g, arith::RandomKey key, GemmStats* stats, const StatsRequest& req) {
  if (g.m == 0 || g.n == 0) {
    if (stats) *stats = shape_stats(g, req);
    return;
  }
  const bool count = stats && req.counts;
  std::string path = gemm_path(cfg, g.add_c);
  if (path == "fused-lanes" && count) path = "fused";
  if (path == "fma-fp32" && !count && !cfg.a && !cfg.b && !cfg.out && !(stats && req.error)) {
    // Operands used as given: no copy, the blocked GEMM packs them itself.
    fma_gemm_fp32(g.m, g.n, g.k, g.a, g.lda, g.trans_a, g.b, g.ldb, g.trans_b, g.c, g.ldc);
    if (stats) *stats = shape_stats(g, req);
    return;
  }
  const Operands ops = pack_operands(cfg, g, key, /*golden=*/false);
  if (path == "tiled" && !g.add_c && !cfg.overflow_inf && float_lanes_accumulation(cfg) &&
      float_products_exact(ops.a.data(), ops.a.size(), ops.b.data(), ops.b.size()))
    path = "float-lanes";  // operands without a format whose values allow it
  const std::int64_t segs = (g.n + kRow - 1) / kRow;
  const std::int64_t tasks = g.m * segs;
  MacCounts total;

  std::vector<float> af, bf;
  std::vector<std::int64_t> ai, bi;
  DoubleOperands dops;
  if (path == "tiled" || path == "fused" || path == "per-output") {
    dops = {g.m, g.n, g.k, std::vector<double>(ops.a.begin(), ops.a.end()), std::vector<double>(ops.b.begin(), ops.b.end())};
  } else if (path == "fma-fp32" && count) {
    af = ops.a;
    // B in panels of kRow columns, each k x kRow contiguous: the kernel then
    // streams memory in order (a row stride of a power of two would thrash the caches).
    bf.assign(std::size_t(segs * g.k * kRow), 0.f);
    for (std::int64_t sgi = 0; sgi < segs; ++sgi)
      for (std::int64_t l = 0; l < g.k; ++l)
        for (std::int64_t j = sgi * kRow; j < std::min(g.n, (sgi + 1) * kRow); ++j)
          bf[std::size_t((sgi * g.k + l) * kRow + j - sgi * kRow)] = ops.b[std::size_t(l * g.n + j)];
  }
  // The integer path row by row: in int32 lanes when everything stays within 2^30 (int_gemm.hpp), else int64.
  std::optional<IntAccumulator> lanes;
  std::vector<std::int32_t> a32, b32;
  if (path == "integer" && !(!count && int16_exact(cfg, g.k))) {
    lanes = int32_lanes(cfg, g.k);
    if (lanes) {
      a32 = on_grid<std::int32_t>(ops.a, cfg.a->format.frac_bits);
      b32 = on_grid<std::int32_t>(ops.b, cfg.b->format.frac_bits);
    } else {
      ai = on_grid<std::int64_t>(ops.a, cfg.a->format.frac_bits);
      bi = on_grid<std::int64_t>(ops.b, cfg.b->format.frac_bits);
    }
  }
  const auto out_key = role_key(key, kRoleOut);
  if (path == "float-lanes" || path == "fused-lanes") {
    MacCounts lane_counts;
    if (path == "float-lanes") float_lanes(cfg, ops, g, out_key, count ? &lane_counts : nullptr);
    else fused_lanes(cfg, ops, g, out_key);
    if (stats) {
      *stats = shape_stats(g, req);
      if (count) stats->counts = lane_counts;
      if (req.error) error_stats(cfg, ops, g, *stats);
    }
    return;
  }
  if (path == "integer" && !count && int16_exact(cfg, g.k)) {
    // Products and sums exact in int32 lanes (or wrapping modulo 2^W, W <= 32): any order gives the model's result.
    const auto& f = cfg.acc.format;
    const std::unique_ptr<std::int32_t[]> c32(new std::int32_t[std::size_t(g.m * g.n)]);  // every element written: no zeroing
    int16_gemm(g.m, g.n, g.k, ops.a.data(), cfg.a->format.frac_bits, ops.b.data(), cfg.b->format.frac_bits, c32.get());
    const int shift = f.frac_bits - cfg.a->format.frac_bits - cfg.b->format.frac_bits;
    const std::uint64_t mask = (f.width >= 64 ? ~0ull : (1ull << f.width) - 1);
    const double unit = std::ldexp(1.0, -f.frac_bits);
    // The int32 lane is the value's code (no shift, no wrap below 32 bits or unsigned), and rounding
    // code * 2^-F (F >= 0: never beyond fp32's range) into fp32 RNE is the IEEE conversion round_row makes.
    const bool plain = shift == 0 && f.frac_bits >= 0 && (!f.wrap || (f.width == 32 && f.is_signed)) &&
                       (!cfg.out || is_fp32_rne(*cfg.out));
    FirstError errors;
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < g.m; ++i) {
      errors.run([&] {
        MacCounts none;
        double row[kRow];
        for (std::int64_t j0 = 0; j0 < g.n; j0 += kRow) {
          const std::int64_t w = std::min(kRow, g.n - j0);
          if (plain) {
            for (std::int64_t j = 0; j < w; ++j) g.c[i * g.ldc + j0 + j] = float(double(c32[std::size_t(i * g.n + j0 + j)]) * unit);
            continue;
          }
          for (std::int64_t j = 0; j < w; ++j) {
            std::uint64_t u = std::uint64_t(std::int64_t(c32[std::size_t(i * g.n + j0 + j)])) << shift;
            if (f.wrap) {
              u &= mask;
              if (f.is_signed && (u >> (f.width - 1)) & 1) u |= ~mask;
            }
            row[j] = double(std::int64_t(u)) * unit;
          }
          if (cfg.out) round_row(row, row, w, *cfg.out, out_key, std::uint64_t(i * g.n + j0), none, cfg.overflow_inf);
          for (std::int64_t j = 0; j < w; ++j) g.c[i * g.ldc + j0 + j] = float(row[j]);
        }
      });
    }
    errors.rethrow();
    if (stats) {
      *stats = shape_stats(g, req);
      if (req.error) error_stats(cfg, ops, g, *stats);
    }
    return;
  }
  if (path == "fma-fp32" && !count) {
    fma_gemm_fp32(g.m, g.n, g.k, ops.a.data(), g.k, false, ops.b.data(), g.n, false, g.c, g.ldc);  // straight into C
    round_output_in_place(cfg, g, out_key);
    if (stats) {
      *stats = shape_stats(g, req);
      if (req.error) error_stats(cfg, ops, g, *stats);
    }
    return;
  }

  FirstError errors;
#pragma omp parallel
  {
    MacCounts local;
    double row[kRow];
#pragma omp for schedule(dynamic, 4)
    for (std::int64_t t = 0; t < tasks; ++t) errors.run([&] {
      const std::int64_t i = t / segs, j0 = (t % segs) * kRow, j1 = std::min(g.n, j0 + kRow), w = j1 - j0;
      if (path == "fma-fp32") {
        if (i % kFmaRows) return;  // the task of the block's first row computes the whole block
        const std::int64_t rows = std::min(kFmaRows, g.m - i);
        float r[kFmaRows * kRow];
        const float* panel = bf.data() + (j0 / kRow) * g.k * kRow;
        if (count) fma_rows<true>(af.data() + i * g.k, rows, panel, r, kRow, g.k, 0, w, &local);
        else fma_rows<false>(af.data() + i * g.k, rows, panel, r, kRow, g.k, 0, w, nullptr);
        for (std::int64_t q = 0; q < rows; ++q) {
          for (std::int64_t j = 0; j < w; ++j) row[j] = r[q * kRow + j];
          if (cfg.out) round_row(row, row, w, *cfg.out, out_key, std::uint64_t((i + q) * g.n + j0), local, cfg.overflow_inf);
          for (std::int64_t j = 0; j < w; ++j) g.c[(i + q) * g.ldc + j0 + j] = float(row[j]);
        }
        return;
      } else if (path == "integer" && lanes) {
        std::int32_t sums[kRow];
        int32_rows(*lanes, a32.data() + i * g.k, b32.data(), g.n, g.k, j0, w, sums, count ? &local : nullptr);
        const double unit = std::ldexp(1.0, -cfg.acc.format.frac_bits);
        for (std::int64_t j = 0; j < w; ++j) row[j] = double(sums[j]) * unit;
      } else if (path == "integer") {
        integer_rows(cfg, ai.data() + i * g.k, bi.data(), row, g.n, g.k, j0, j1, local);
      } else if (path == "tiled") {
        tiled_rows(cfg, dops, i, j0, j1, g.add_c ? ops.c.data() + i * g.n + j0 : nullptr, key, row, local);
      } else {
        for (std::int64_t j = j0; j < j1; ++j) {
          const OutputSlot slot{std::uint64_t(i * g.n + j), std::uint64_t(g.m * g.n)};
          double c;
          const double* addend = ops.addend(i, j, c);
          const TermScales ts = ops.scales(i, j, cfg.block);
          row[j - j0] = dot_golden(cfg, dops.a.data() + i * g.k, dops.b.data() + j, g.n, g.k, key, slot, local, addend,
                                   ops.scales_or_null(ts));
        }
      }
      if (cfg.out && path != "fused" && path != "per-output") round_row(row, row, w, *cfg.out, out_key, std::uint64_t(i * g.n + j0), local, cfg.overflow_inf);
      for (std::int64_t j = 0; j < w; ++j) g.c[i * g.ldc + j0 + j] = float(row[j]);
    });
#pragma omp critical
    total += local;
  }
  errors.rethrow();
  if (stats) {
    *stats = shape_stats(g, req);
    if (count) stats->counts = total;
    if (req.error) error_stats(cfg, ops, g, *stats);
  }
}

}  // namespace

void gemm(const MacConfig& cfg, const GemmArgs& g, arith::RandomKey key, GemmStats* stats, const StatsRequest& req) {
  keep_freed_memory();
  check_args(g);
  check_scale_args(cfg, g);
  gemm_paths(cfg, g, key, stats, req);
  if (!cfg.nan_bits) return;
  // nan=: every NaN result with the hardware's bits, whichever path made it (dot_golden does the same).
  const float nan = std::bit_cast<float>(*cfg.nan_bits);
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < g.m; ++i)
    for (std::int64_t j = 0; j < g.n; ++j)
      if (std::isnan(g.c[i * g.ldc + j])) g.c[i * g.ldc + j] = nan;
}

}  // namespace lpsim::sim
