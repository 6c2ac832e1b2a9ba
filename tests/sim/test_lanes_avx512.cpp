// The AVX-512 and AMX kernels of issue 17 at every ISA level the host has,
// against the golden model bit for bit: the VNNI integer GEMM
// (int_gemm_avx512.cpp) and the AMX one (int_gemm_amx.cpp), on awkward shapes
// (k off the 4-code lanes and the 64-code tiles, n off the 64-column panels
// and the 16- and 32-column tiles, m off the 6-row and 16-row tiles), every
// code range the byte shifts and the four tdpb[su][su]d variants take (signed,
// unsigned, offset, too wide for bytes) and wrapping accumulators; the
// AVX512-FP16 seq fp16 accumulator (float_lanes_avx512.cpp) on ties,
// subnormals, overflow, cancellation to signed zeros, NaN and infinities.
#include <doctest/doctest.h>
#include <immintrin.h>
#include <omp.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "arith/golden.hpp"
#include "arith/isa.hpp"
#include "sim/float_lanes.hpp"
#include "sim/gemm.hpp"
#include "sim/int_gemm.hpp"

using namespace lpsim;

namespace {

// Restores the ISA level in use when the test leaves.
struct IsaGuard {
  arith::Isa saved = arith::isa();
  ~IsaGuard() { arith::set_isa(saved); }
};

std::size_t bit_mismatches(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return a.size() + b.size();
  std::size_t bad = 0;
  for (std::size_t i = 0; i < a.size(); ++i) bad += std::bit_cast<std::uint32_t>(a[i]) != std::bit_cast<std::uint32_t>(b[i]);
  return bad;
}

struct Shape {
  std::int64_t m, n, k;
};

// VNNI tiles 6 x 64, 4 codes (bytes) or 2 (words) per lane; AMX blocks 32 x 32 of four 16 x 16 tiles, 64 codes
// along k per tile.
const Shape kIntShapes[] = {{1, 1, 1},     {1, 1, 5},     {7, 3, 2},     {6, 64, 4},    {5, 63, 3},    {13, 65, 7},
                            {2, 130, 9},   {19, 17, 33},  {12, 128, 64}, {31, 70, 258}, {3, 200, 1},  {4, 5, 0},
                            {16, 16, 64},  {32, 32, 128}, {33, 47, 65},  {17, 15, 63},  {48, 80, 200}, {64, 33, 129},
                            {1, 40, 300},  {70, 1, 66}};

// Codes in [lo, hi], a quarter of them at the ends; with `end` >= 0 all at
// one end (0: lo, 1: hi), so that long sums leave int32 in the 32-bit lanes.
std::vector<float> codes(std::mt19937_64& g, std::size_t count, std::int32_t lo, std::int32_t hi, double unit,
                         int end = -1) {
  std::uniform_int_distribution<std::int32_t> d(lo, hi), pick(0, 7);
  std::vector<float> v(count);
  for (auto& x : v) {
    const int p = end >= 0 ? end : pick(g);
    x = float(double(p == 0 ? lo : p == 1 ? hi : d(g)) * unit);
  }
  return v;
}

}  // namespace

TEST_CASE("int16_gemm: the codes' sum modulo 2^32 at every ISA level, every byte shift") {
  IsaGuard guard;
  std::mt19937_64 g(17);
  // {a lo, a hi, b lo, b hi}: s8 x s8, u8 A, u8 B, u8 x u8, ranges 256 wide off zero, too wide (vpdpwssd), int16.
  // AMX: ss, us, su, uu; codes inside both byte ranges; an operand off both (the offset rows) or too wide: VNNI.
  const std::int32_t ranges[][4] = {{-128, 127, -128, 127}, {0, 255, -128, 127}, {-128, 127, 0, 255},
                                    {0, 255, 0, 255},       {-7, 248, -200, 55}, {-1, 3, 100, 120},
                                    {-129, 127, -128, 127}, {-128, 127, 0, 256},  {-32768, 32767, -32768, 32767},
                                    {0, 0, -128, 127},      {0, 127, 0, 127},    {200, 255, -128, -100},
                                    {-128, -1, 128, 255}};
  std::size_t outputs = 0, bad_total = 0;
  const int threads = omp_get_max_threads();
  std::vector<Shape> shapes(std::begin(kIntShapes), std::end(kIntShapes));
  // Operands at their ends: the lanes' sums wrap modulo 2^32 (vpdpbusd, not ...s; the tile sums of every
  // tdpb[su][su]d variant leave int32 too, s8 x s8 from k = 140001).
  shapes.push_back({2, 3, 70001});
  shapes.push_back({2, 3, 140001});
  for (const auto& r : ranges)
    for (const Shape& s : shapes)
      for (int frac : {0, 3}) {
        const double unit = std::ldexp(1.0, -frac);
        const bool ends = s.k > 70000;
        const auto a = codes(g, std::size_t(s.m * s.k), r[0], r[1], unit, ends ? frac == 0 : -1);
        const auto b = codes(g, std::size_t(s.k * s.n), r[2], r[3], 1.0, ends ? 1 : -1);
        std::vector<std::int32_t> want(std::size_t(s.m * s.n));
        for (std::int64_t i = 0; i < s.m; ++i)
          for (std::int64_t j = 0; j < s.n; ++j) {
            std::uint32_t acc = 0;
            for (std::int64_t l = 0; l < s.k; ++l)
              acc += std::uint32_t(std::int64_t(a[std::size_t(i * s.k + l)] / unit) * std::int64_t(b[std::size_t(l * s.n + j)]));
            want[std::size_t(i * s.n + j)] = std::int32_t(acc);
          }
        for (arith::Isa level : arith::isa_levels()) {
          arith::set_isa(level);
          for (int t : {1, 2}) {
            omp_set_num_threads(t);
            std::vector<std::int32_t> got(want.size(), -7);
            sim::int16_gemm(s.m, s.n, s.k, a.data(), frac, b.data(), 0, got.data());
            const std::size_t bad = std::size_t(std::inner_product(got.begin(), got.end(), want.begin(), std::size_t(0),
                                                                   std::plus<>(), std::not_equal_to<>()));
            INFO("level " << arith::isa_name(level) << " a in [" << r[0] << ", " << r[1] << "] b in [" << r[2] << ", "
                          << r[3] << "] m=" << s.m << " n=" << s.n << " k=" << s.k << " frac " << frac << " threads " << t);
            CHECK(bad == 0);
            outputs += got.size(), bad_total += bad;
          }
        }
      }
  omp_set_num_threads(threads);
  MESSAGE("int16_gemm at " << arith::isa_levels().size() << " ISA levels: " << outputs << " outputs, " << bad_total
                           << " mismatches");
}

TEST_CASE("int_gemm_amx: the amx level takes byte codes of either sign, and only those") {
  IsaGuard guard;
  CHECK(arith::parse_isa("amx") == arith::Isa::AMX);
  CHECK(std::string(arith::isa_name(arith::Isa::AMX)) == "amx");
  const bool amx = arith::host_isa() >= arith::Isa::AMX;
  if (!amx) MESSAGE("no AMX on this host (or the kernel refused the tile state): int_gemm_amx is not exercised");
  std::mt19937_64 g(171);
  const Shape s{35, 20, 70};
  // {a lo, a hi, b lo, b hi, AMX takes it}
  const std::int32_t ranges[][5] = {{-128, 127, -128, 127, 1}, {0, 255, -128, 127, 1}, {-128, 127, 0, 255, 1},
                                    {0, 255, 0, 255, 1},       {3, 9, 0, 0, 1},         {-129, 127, 0, 255, 0},
                                    {-1, 128, 0, 5, 0},        {0, 255, 0, 256, 0},     {-32768, 32767, 0, 1, 0}};
  for (const auto& r : ranges) {
    const auto a = codes(g, std::size_t(s.m * s.k), r[0], r[1], 1.0);
    const auto b = codes(g, std::size_t(s.k * s.n), r[2], r[3], 1.0);
    std::vector<std::int32_t> want(std::size_t(s.m * s.n)), got(want.size(), -7);
    arith::set_isa(arith::Isa::AVX512);
    CHECK_FALSE(sim::int_gemm_amx(s.m, s.n, s.k, a.data(), 0, b.data(), 0, got.data()));  // below the amx level
    CHECK(got[0] == -7);
    sim::int16_gemm(s.m, s.n, s.k, a.data(), 0, b.data(), 0, want.data());
    arith::set_isa(arith::Isa::AMX);
    INFO("a in [" << r[0] << ", " << r[1] << "] b in [" << r[2] << ", " << r[3] << "]");
    const bool taken = sim::int_gemm_amx(s.m, s.n, s.k, a.data(), 0, b.data(), 0, got.data());
    CHECK(taken == (amx && r[4]));
    if (taken) CHECK(got == want);
    else CHECK(got[0] == -7);  // nothing written
  }
  arith::set_isa(arith::Isa::AMX);
  std::vector<float> one(4, 1.f);
  std::int32_t c = -7;
  CHECK_FALSE(sim::int_gemm_amx(1, 1, 0, one.data(), 0, one.data(), 0, &c));  // no codes: int_gemm_vnni's zeros
  CHECK(c == -7);
}

TEST_CASE("integer GEMM (VNNI where the host has it) equals the golden model, wrapping and saturating accumulators") {
  IsaGuard guard;
  std::mt19937_64 g(1717);
  // Each takes int16_gemm without counts (no partial sum can leave the range, or the accumulator wraps at W <= 32).
  const char* configs[] = {"int8.int32",
                           "a=uint8,b=int8,acc=int32,out=fp32",
                           "a=int8,b=uint8,acc=int32:wrap,out=fp32",
                           "a=uint8,b=uint8,acc=uint32,out=fp32",
                           "in=int8,acc=int16:wrap",          // wraps often: the corrections modulo 2^32, then 2^16
                           "a=int4,b=uint4,acc=int10:wrap,out=fp32",
                           "in=fx8.3,acc=fx32.8:wrap,out=fp32",      // products on the grid, a shift of 2 after the sum
                           "a=fx8.2,b=fx10.1,acc=fx28.3,out=fp32",   // B too wide for bytes: vpdpwssd
                           "in=int16,acc=int32:wrap,out=fp32",       // int32 wrap-around of 16-bit products
                           "in=int16,acc=int24:wrap,out=fp16",
                           // 16-bit codes outside int16 (uint16, fx16 scaled up): the int64 rows, not int16_gemm
                           "a=uint16,b=int8,acc=int32:wrap,out=fp32", "in=uint16,acc=uint32:wrap,out=fp32",
                           "a=ufx16.2,b=uint4,acc=fx40.2,out=fp32"};
  const Shape shapes[] = {{1, 1, 1}, {5, 63, 3}, {13, 65, 7}, {7, 130, 258}, {12, 64, 1030}, {4, 3, 0}, {2, 3, 70001}};
  std::size_t outputs = 0, bad_total = 0;
  const int threads = omp_get_max_threads();
  for (const char* spelling : configs) {
    const sim::MacConfig cfg = sim::parse_mac(spelling);
    for (const Shape& s : shapes) {
      auto operand = [&](std::size_t count, const arith::Format& f, int end) {
        const std::int64_t lo = std::int64_t(std::ldexp(f.lowest(), f.frac_bits));
        const std::int64_t hi = std::int64_t(std::ldexp(f.max_finite(), f.frac_bits));
        return codes(g, count, std::int32_t(lo), std::int32_t(hi), std::ldexp(1.0, -f.frac_bits), end);
      };
      const bool ends = s.k > 70000;  // long sums at the operands' ends: the 32-bit lanes wrap
      const auto a = operand(std::size_t(s.m * s.k), cfg.a->format, ends ? 0 : -1);
      const auto b = operand(std::size_t(s.k * s.n), cfg.b->format, ends ? 1 : -1);
      std::vector<float> want(std::size_t(s.m * s.n));
      sim::gemm_golden(cfg, {s.m, s.n, s.k, a.data(), s.k, false, b.data(), s.n, false, want.data(), s.n});
      for (arith::Isa level : arith::isa_levels()) {
        arith::set_isa(level);
        REQUIRE(std::string(sim::gemm_path(cfg)) == "integer");
        for (int t : {1, 2}) {
          omp_set_num_threads(t);
          std::vector<float> got(want.size(), -7.f);
          sim::gemm(cfg, {s.m, s.n, s.k, a.data(), s.k, false, b.data(), s.n, false, got.data(), s.n});
          const std::size_t bad = bit_mismatches(got, want);
          INFO(std::string(spelling) << " level " << std::string(arith::isa_name(level)) << " m=" << s.m << " n=" << s.n << " k=" << s.k
                        << " threads " << t);
          CHECK(bad == 0);
          outputs += got.size(), bad_total += bad;
        }
      }
    }
  }
  omp_set_num_threads(threads);
  MESSAGE("integer GEMM vs golden: " << outputs << " outputs, " << bad_total << " mismatches");
}

namespace {

// fp16 values of one hazard for the fp16 accumulator: 0 ordinary; 1 few-bit
// values (ties of the accumulator's rounding); 2 subnormal products and sums;
// 3 overflow to inf (and inf - inf); 4 exact cancellation, signed zeros,
// tiny negatives rounding to -0; 5 inf, NaN and zeros sprinkled.
float fp16_value(std::mt19937_64& g, int kind) {
  std::normal_distribution<float> nd;
  std::uniform_int_distribution<int> pick(0, 15), e(-6, 4), odd(0, 3), sub(1, 1023), sign(0, 1);
  const float s = sign(g) ? -1.f : 1.f;
  const float inf = std::numeric_limits<float>::infinity();
  float x = nd(g);
  switch (kind) {
    case 1: x = s * float(2 * odd(g) + 1) * std::ldexp(1.f, e(g)); break;
    case 2: x = pick(g) < 4 ? s * float(sub(g)) * 0x1p-24f : s * std::ldexp(1.f + float(odd(g)) / 4, -14 + odd(g)); break;
    case 3: x = s * std::ldexp(1.f + float(odd(g)) / 8, 6 + pick(g) % 10); break;
    case 4: {
      const int p = pick(g);
      x = p < 3 ? 0.f : p < 6 ? -0.f : p < 9 ? s * 0x1p-24f * float(odd(g) + 1) : std::round(x * 8) / 8;
      break;
    }
    case 5: {
      const int p = pick(g);
      x = p == 0 ? inf : p == 1 ? -inf : p == 2 ? std::numeric_limits<float>::quiet_NaN() : p == 3 ? -0.f : x;
      break;
    }
    default: break;
  }
  return float(_Float16(x));  // an fp16 value (exact for every kind but 0's normal draws, rounded once here)
}

}  // namespace

TEST_CASE("fp16 seq accumulation (AVX512-FP16 where the host has it) equals the golden model bit for bit") {
  IsaGuard guard;
  std::mt19937_64 g(1616);
  const int threads = omp_get_max_threads();
  // Tiles 6 x 128, outputs converted 16 at a time.
  const Shape shapes[] = {{1, 1, 1}, {1, 1, 0}, {7, 17, 5}, {6, 128, 64}, {13, 129, 33}, {5, 250, 300}, {20, 33, 1025}};
  const char* configs[] = {"fp16.fp16", "in=fp16,acc=fp16,out=bf16", "in=fp8e4m3,acc=fp16", "in=int8,acc=fp16",
                           "in=fp8e5m2,acc=fp16,out=fp8e4m3", "in=fp16,acc=fp16,nan=0x7fc00001",
                           "acc=fp16"};  // no operand format: the values decide (fp16 values here)
  std::size_t outputs = 0, bad_total = 0;
  for (const char* spelling : configs) {
    const sim::MacConfig cfg = sim::parse_mac(spelling);
    for (const Shape& s : shapes)
      for (int kind = 0; kind < 6; ++kind) {
        if (kind == 5 && cfg.a && cfg.a->format.kind == arith::Kind::Fixed) continue;  // NaN into int8: an error
        // Cancellation (kind 4): odd terms undo the even ones (a negated, b repeated).
        std::vector<float> a(std::size_t(s.m * s.k)), b(std::size_t(s.k * s.n));
        for (std::int64_t i = 0; i < s.m; ++i)
          for (std::int64_t l = 0; l < s.k; ++l)
            a[std::size_t(i * s.k + l)] = kind == 4 && l % 2 ? -a[std::size_t(i * s.k + l - 1)] : fp16_value(g, kind);
        for (std::int64_t l = 0; l < s.k; ++l)
          for (std::int64_t j = 0; j < s.n; ++j)
            b[std::size_t(l * s.n + j)] = kind == 4 && l % 2 ? b[std::size_t((l - 1) * s.n + j)] : fp16_value(g, kind);
        std::vector<float> want(std::size_t(s.m * s.n));
        const sim::GemmArgs gw{s.m, s.n, s.k, a.data(), s.k, false, b.data(), s.n, false, want.data(), s.n};
        sim::gemm_golden(cfg, gw);
        for (arith::Isa level : arith::isa_levels()) {
          arith::set_isa(level);
          if (cfg.a) CHECK(std::string(sim::gemm_path(cfg)) == (level >= arith::Isa::AVX2 ? "float-lanes" : "tiled"));
          for (int t : {1, 3}) {
            omp_set_num_threads(t);
            // ldc past n: the columns beyond must survive
            const std::int64_t ldc = s.n + 3;
            std::vector<float> got(std::size_t(s.m * ldc), -7.f);
            sim::gemm(cfg, {s.m, s.n, s.k, a.data(), s.k, false, b.data(), s.n, false, got.data(), ldc});
            std::size_t bad = 0;
            for (std::int64_t i = 0; i < s.m; ++i)
              for (std::int64_t j = 0; j < ldc; ++j) {
                const float w = j < s.n ? want[std::size_t(i * s.n + j)] : -7.f;
                bad += std::bit_cast<std::uint32_t>(got[std::size_t(i * ldc + j)]) != std::bit_cast<std::uint32_t>(w);
              }
            INFO(std::string(spelling) << " level " << std::string(arith::isa_name(level)) << " m=" << s.m << " n=" << s.n << " k=" << s.k
                          << " kind " << kind << " threads " << t);
            CHECK(bad == 0);
            outputs += want.size(), bad_total += bad;
          }
        }
      }
  }
  omp_set_num_threads(threads);
  arith::set_isa(arith::host_isa());
  const bool native = sim::fp16_lanes_apply(sim::parse_mac("fp16.fp16"));
  if (!native) MESSAGE("no AVX512-FP16 on this host: the native fp16 kernel is not exercised");
  MESSAGE("fp16 seq vs golden: " << outputs << " outputs, " << bad_total << " mismatches (native kernel "
                                 << std::string(native ? "on" : "off") << ")");
}

TEST_CASE("fp16_lanes_gemm refuses operands that are not fp16 values, and the GEMM stays exact") {
  IsaGuard guard;
  const sim::MacConfig cfg = sim::parse_mac("acc=fp16");  // no operand format: float lanes check the values
  // 12 significant bits: exact float products (so float lanes), but not fp16 values.
  std::vector<float> a = {1.f + 0x1p-11f, 3.f}, b = {1.f, 0x1p-12f};
  float c = 0;
  CHECK_FALSE(sim::fp16_lanes_gemm(cfg, 1, 1, 2, a.data(), b.data(), &c, 1));
  std::vector<float> want(1), got(1);
  sim::gemm_golden(cfg, {1, 1, 2, a.data(), 2, false, b.data(), 1, false, want.data(), 1});
  sim::gemm(cfg, {1, 1, 2, a.data(), 2, false, b.data(), 1, false, got.data(), 1});
  CHECK(std::bit_cast<std::uint32_t>(got[0]) == std::bit_cast<std::uint32_t>(want[0]));
  // Subnormals flushed by MXCSR: refused (the conversions would flush them).
  if (sim::fp16_lanes_apply(sim::parse_mac("fp16.fp16"))) {
    std::vector<float> x = {1.f, 2.f}, y = {3.f, 4.f};
    CHECK(sim::fp16_lanes_gemm(cfg, 1, 1, 2, x.data(), y.data(), &c, 1));
    CHECK(c == 11.f);
    const unsigned saved = _mm_getcsr();
    _mm_setcsr(saved | 0x8040);
    const bool taken = sim::fp16_lanes_gemm(cfg, 1, 1, 2, x.data(), y.data(), &c, 1);
    _mm_setcsr(saved);
    CHECK_FALSE(taken);
  }
  // Other configurations are not the path's.
  for (const char* other : {"in=fp16,acc=fp16,acc_round=rz", "in=fp16,acc=e5m10:sat", "in=fp16,acc=fp16,order=chunk8,outer=fp32",
                            "in=fp16,prod=fp16,acc=fp16", "in=fp16,acc=fp16,overflow=inf", "in=fp16,acc=e5m10:nosub"})
    CHECK_FALSE(sim::fp16_lanes_apply(sim::parse_mac(other)));
}

namespace {

// Floats of one hazard for narrow float accumulators (rounded into the operand formats by the
// engine): 0 ordinary; 1 large (overflow, saturation); 2 tiny (subnormal sums); 3 one large term
// among small ones (swamping); 4 zeros and exact cancellation; 5 inf and NaN sprinkled.
float lane_value(std::mt19937_64& g, int kind, std::int64_t l) {
  std::normal_distribution<float> nd;
  std::uniform_int_distribution<int> pick(0, 15), e(0, 14);
  float x = nd(g);
  switch (kind) {
    case 1: return std::ldexp(x, e(g));
    case 2: return std::ldexp(x, -10 - e(g));
    case 3: return l % 9 == 0 ? std::ldexp(x, 10) : std::ldexp(x, -4);
    case 4: return pick(g) < 5 ? (pick(g) < 8 ? 0.f : -0.f) : std::round(x * 4);
    case 5: {
      const int p = pick(g);
      return p == 0 ? INFINITY : p == 1 ? -INFINITY : p == 2 ? std::numeric_limits<float>::quiet_NaN() : x;
    }
    default: return x;
  }
}

}  // namespace

TEST_CASE("float-lanes event counts (counts=True in the lanes) equal the golden model's, values bit for bit") {
  IsaGuard guard;
  std::mt19937_64 g(33);
  const int threads = omp_get_max_threads();
  const char* configs[] = {"fp16.fp16",
                           "in=fp16,acc=e5m10,acc_round=rz",
                           "in=fp8e4m3,acc=e5m10,acc_round=ro",
                           "in=fp16,acc=e5m7:nosub,acc_round=ru",
                           "in=fp16,acc=e5m10:sat,acc_round=rd,out=fp8e5m2",
                           "in=fp8e5m2,acc=e4m3fn",
                           "in=fp16,acc=e5m6,acc_round=rna,order=chunk5,outer=e5m10,outer_round=rz",
                           "in=e4m3fnuz,acc=e5m2fnuz:sat,acc_round=rd,order=chunk3,outer=e6m9,outer_round=ru,out=bf16",
                           "in=e4m3fnuz,acc=e5m2fnuz,acc_round=ru",
                           "in=int8,acc=fp16,order=chunk7,outer=fp32",
                           "in=fp16,acc=e5m10,acc_round=rz,out=e4m3fn",
                           "in=fp8e4m3,acc=e8m13,acc_round=rz,order=chunk128,outer=fp32",
                           "acc=e5m10,acc_round=rna"};  // no operand format: the values decide
  const Shape shapes[] = {{6, 21, 70}, {5, 33, 130}, {9, 17, 1}, {4, 16, 0}, {3, 40, 300}};
  std::size_t outputs = 0, bad_total = 0, count_mismatches = 0;
  for (const char* spelling : configs) {
    const sim::MacConfig cfg = sim::parse_mac(spelling);
    const bool fixed = cfg.a && cfg.a->format.kind == arith::Kind::Fixed;
    for (const Shape& s : shapes)
      for (int kind = 0; kind < 6; ++kind) {
        if (kind == 5 && fixed) continue;  // NaN into int8: an error
        std::vector<float> a(std::size_t(s.m * s.k)), b(std::size_t(s.k * s.n));
        for (std::int64_t q = 0; q < s.m * s.k; ++q) a[std::size_t(q)] = lane_value(g, kind, q % std::max<std::int64_t>(s.k, 1));
        for (std::int64_t q = 0; q < s.k * s.n; ++q) b[std::size_t(q)] = lane_value(g, kind == 3 ? 0 : kind, 1);
        if (!cfg.a)  // operands without a format: fp16 values (exact float products), kind 3 on a 2^10 scale
          for (auto* v : {&a, &b})
            for (auto& x : *v) x = float(_Float16(std::isfinite(x) ? std::clamp(x, -60000.f, 60000.f) : x));
        std::vector<float> want(std::size_t(s.m * s.n));
        sim::GemmStats want_stats;
        sim::gemm_golden(cfg, {s.m, s.n, s.k, a.data(), s.k, false, b.data(), s.n, false, want.data(), s.n}, {},
                         &want_stats);
        for (arith::Isa level : arith::isa_levels()) {
          arith::set_isa(level);
          if (cfg.a) CHECK(std::string(sim::gemm_path(cfg)) == (level >= arith::Isa::AVX2 ? "float-lanes" : "tiled"));
          for (int t : {1, 3}) {
            omp_set_num_threads(t);
            std::vector<float> got(want.size(), -7.f);
            sim::GemmStats stats;
            sim::gemm(cfg, {s.m, s.n, s.k, a.data(), s.k, false, b.data(), s.n, false, got.data(), s.n}, {}, &stats);
            const std::size_t bad = bit_mismatches(got, want);
            INFO(std::string(spelling) << " level " << std::string(arith::isa_name(level)) << " m=" << s.m << " n=" << s.n << " k=" << s.k
                          << " kind " << kind << " threads " << t);
            CHECK(bad == 0);
            CHECK(stats.counts.additions == want_stats.counts.additions);
            CHECK(stats.counts.swamped == want_stats.counts.swamped);
            CHECK(stats.counts.overflows == want_stats.counts.overflows);
            CHECK(stats.counts.saturations == want_stats.counts.saturations);
            outputs += got.size(), bad_total += bad;
            count_mismatches += !(stats.counts == want_stats.counts);
          }
        }
      }
  }
  omp_set_num_threads(threads);
  MESSAGE("float-lanes counts vs golden: " << outputs << " outputs, " << bad_total << " value mismatches, "
                                          << count_mismatches << " runs with other counts");
}
