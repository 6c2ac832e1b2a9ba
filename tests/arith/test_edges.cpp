// Edge cases of docs/formats.md "Rounding", format queries against published
// constants (OCP FP8/MX, IEEE 754), parse errors, the Philox known answers,
// and array-path contracts (in place, NaN index, scaled formats).
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "arith/arith.hpp"
#include "arith/philox.hpp"
#include "oracle.hpp"

using namespace lpsim::arith;
using lpsim::oracle::describe;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool same(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) || std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b);
}
bool same(float a, float b) {
  return (std::isnan(a) && std::isnan(b)) || std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b);
}

// quantize through all four entry points and check each gives `want`.
void check_all_paths(const char* fmt, double x, Mode m, double want) {
  const Format f = parse_format(fmt);
  const Rounding r{m, 0};
  INFO(f.spelling << " " << r.spelling() << " in " << describe(x) << " want " << describe(want));
  CHECK(same(quantize(x, f, r), want));
  double od = 0;
  quantize(&x, &od, 1, f, r);
  CHECK(same(od, want));
  if (f.fits_in_float()) {
    const float xf = float(x);
    REQUIRE((std::isnan(x) || double(xf) == x));
    CHECK(same(quantize(xf, f, r), float(want)));
    float of = 0;
    quantize(&xf, &of, 1, f, r);
    CHECK(same(of, float(want)));
  }
}

template <class T>
std::string what_of_array_nan(const Format& f, std::vector<T> v) {
  std::vector<T> out(v.size());
  try {
    quantize(v.data(), out.data(), v.size(), f);
  } catch (const std::domain_error& e) {
    return e.what();
  }
  return "(no exception)";
}

}  // namespace

TEST_SUITE("edges") {

TEST_CASE("format queries: published constants") {
  struct Known {
    const char* name;
    double max_finite, min_normal, min_subnormal, epsilon;
    int bits;
  };
  // OCP 8-bit Floating Point Specification (OFP8) rev 1.0, OCP Microscaling
  // Formats (MX) v1.0, IEEE 754 binary16, bfloat16, and the FNUZ variants of
  // Graphcore/AMD (e4m3fnuz: bias 8, max 240; e5m2fnuz: bias 16, max 57344).
  const Known known[] = {
      {"fp8e4m3", 448, 0x1p-6, 0x1p-9, 0x1p-3, 8},
      {"e4m3fn", 448, 0x1p-6, 0x1p-9, 0x1p-3, 8},
      {"fp8e5m2", 57344, 0x1p-14, 0x1p-16, 0x1p-2, 8},
      {"e5m2", 57344, 0x1p-14, 0x1p-16, 0x1p-2, 8},
      {"fp16", 65504, 0x1p-14, 0x1p-24, 0x1p-10, 16},
      {"bf16", 0x1.fep127, 0x1p-126, 0x1p-133, 0x1p-7, 16},
      {"fp32", 0x1.fffffep127, 0x1p-126, 0x1p-149, 0x1p-23, 32},
      {"tf32", 0x1.ffcp127, 0x1p-126, 0x1p-136, 0x1p-10, 19},
      {"e4m3fnuz", 240, 0x1p-7, 0x1p-10, 0x1p-3, 8},
      {"e5m2fnuz", 57344, 0x1p-15, 0x1p-17, 0x1p-2, 8},
      {"fp6e3m2", 28, 0x1p-2, 0x1p-4, 0x1p-2, 6},
      {"fp6e2m3", 7.5, 1, 0x1p-3, 0x1p-3, 6},
      {"fp4e2m1", 6, 1, 0.5, 0.5, 4},
      {"fx8.4", 127.0 / 16, 1.0 / 16, 1.0 / 16, 1.0 / 16, 8},
      {"int8", 127, 1, 1, 1, 8},
      {"uint8", 255, 1, 1, 1, 8},
      {"ufx8.8", 255.0 / 256, 1.0 / 256, 1.0 / 256, 1.0 / 256, 8},
  };
  for (const Known& k : known) {
    const std::string name = k.name;
    INFO(name);
    const Format f = parse_format(k.name);
    CHECK(f.max_finite() == k.max_finite);
    CHECK(f.min_normal() == k.min_normal);
    CHECK(f.min_subnormal() == k.min_subnormal);
    CHECK(f.epsilon() == k.epsilon);
    CHECK(f.bits() == k.bits);
    CHECK(f.num_codes() == (std::uint64_t(1) << k.bits));
  }
  CHECK(parse_format("e4m3fn").lowest() == -448);
  CHECK(parse_format("fx8.4").lowest() == -8);
  CHECK(parse_format("int8").lowest() == -128);
  CHECK(parse_format("uint8").lowest() == 0);
  CHECK(parse_format("fp4e2m1").lowest() == -6);
  CHECK(parse_format("e4m3fnuz").bias == 8);
  CHECK(parse_format("e5m2fnuz").bias == 16);
  CHECK(parse_format("fp16").bias == 15);
  // Aliases are exactly their meanings.
  std::size_t n = 0;
  const Alias* a = aliases(n);
  CHECK(n >= 15);
  for (std::size_t i = 0; i < n; ++i) {
    const std::string alias = std::string(a[i].name) + " = " + a[i].meaning;
    INFO(alias);
    const Format fa = parse_format(a[i].name), fm = parse_format(a[i].meaning);
    if (fa.kind == Kind::Scaled) {
      CHECK(fa.scaled.elem->spelling == fm.scaled.elem->spelling);
      CHECK(fa.scaled.block == fm.scaled.block);
    } else {
      CHECK(fa.spelling == fm.spelling);
    }
  }
  CHECK(parse_format("fp6e3m2").spelling == "e3m2fn:nonan");
  CHECK(parse_format("fp4e2m1").spelling == "e2m1fn:nonan");
  CHECK(parse_format("int8").spelling == "int8");
  CHECK(parse_format("int8").frac_bits == 0);
  CHECK(parse_format("uint16:wrap").wrap);
  CHECK_FALSE(parse_format("uint16").is_signed);
}

TEST_CASE("parse errors quote the spelling") {
  const char* bad[] = {"e4m3x",        "e4m",         "fp8",          "fx8",       "fx8.4:foo",  "e4m3:sat:sat",
                       "e4m3:nonan",   "E4M3",        "e4m3fn/absmax", "int8/absmax/block0", "e1m2", "e0m3fn",
                       "ufx8.",        "e4m3:",       "bf16:wrap",    "fp8e4m3:bias=", "e99m3",    "fx0.0",
                       "e4m3fnuz:nonan", "fx8.4:wrap:sat", "e5m2::sat", " e5m2", "e5m2 ", "int8.2", "e1m0fn",
                       "e4m3fn/absmax/slice", "e4m3fn/median/tensor"};
  for (const char* s : bad) {
    const std::string spelling = s;
    INFO("spelling: " << spelling);
    bool threw = false;
    try {
      (void)parse_format(s);
    } catch (const FormatError& e) {
      threw = true;
      CHECK(std::string(e.what()).find("\"" + std::string(s) + "\"") != std::string::npos);
    }
    CHECK(threw);
  }
  try {
    (void)parse_format("");
    FAIL("empty spelling accepted");
  } catch (const FormatError& e) {
    CHECK(std::string(e.what()).find("\"\"") != std::string::npos);
  }
  for (const char* s : {"rn", "sr0", "sr65", "sr-1", "SR", "sr8x", ""}) {
    const std::string spelling = s;
    INFO("rounding: " << spelling);
    try {
      (void)parse_rounding(s);
      FAIL_CHECK("accepted");
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()).find("\"" + std::string(s) + "\"") != std::string::npos);
    }
  }
  CHECK(parse_rounding("sr12") == Rounding{Mode::SR, 12});
  CHECK(parse_rounding("sr") == Rounding{Mode::SR, 0});
}

TEST_CASE("NaN in: NaN out where the format has a NaN code") {
  for (const char* fmt : {"fp16", "bf16", "e4m3fn", "e5m2", "e4m3fnuz", "e5m2fnuz", "e5m2:sat", "e4m3fn:sat",
                          "e3m2fn:nosub", "fp32"})
    for (Mode m : {Mode::RNE, Mode::RNA, Mode::RZ, Mode::RU, Mode::RD, Mode::RO, Mode::SR}) {
      check_all_paths(fmt, kNaN, m, kNaN);
      check_all_paths(fmt, -kNaN, m, kNaN);
    }
}

TEST_CASE("NaN into a format without a NaN code is an error naming the index") {
  for (const char* fmt : {"fx8.4", "int16", "ufx8.3:wrap", "fp4e2m1", "fp6e3m2", "e5m0"}) {
    const Format f = parse_format(fmt);
    INFO(f.spelling);
    CHECK_FALSE(f.has_nan());
    CHECK_THROWS_AS((void)quantize(kNaN, f), std::domain_error);
    CHECK_THROWS_AS((void)quantize(std::numeric_limits<float>::quiet_NaN(), f), std::domain_error);
    try {
      (void)quantize(kNaN, f, Rounding{}, RandomKey{}, 4242);
      FAIL_CHECK("no exception");
    } catch (const std::domain_error& e) {
      CHECK(std::string(e.what()).find("index 4242") != std::string::npos);
    }
    std::string w = what_of_array_nan<double>(f, {1.0, 2.0, kNaN, 3.0, kNaN});
    CHECK(w.find("index 2") != std::string::npos);
    CHECK(w.find(f.spelling) != std::string::npos);
    w = what_of_array_nan<float>(f, {0.5f, std::numeric_limits<float>::quiet_NaN()});
    CHECK(w.find("index 1") != std::string::npos);
    // A large array runs in parallel blocks: still the first offending index.
    std::vector<double> big(200000, 0.25);
    big[150001] = kNaN;
    big[70003] = -kNaN;
    w = what_of_array_nan<double>(f, big);
    CHECK(w.find("index 70003") != std::string::npos);
    CHECK_THROWS_AS(quantize_golden(big.data(), big.data(), big.size(), f), std::domain_error);
  }
}

TEST_CASE("infinities") {
  for (Mode m : {Mode::RNE, Mode::RNA, Mode::RZ, Mode::RU, Mode::RD, Mode::RO, Mode::SR}) {
    // IEEE: infinity stays
    check_all_paths("e5m2", kInf, m, kInf);
    check_all_paths("e5m2", -kInf, m, -kInf);
    check_all_paths("fp16", -kInf, m, -kInf);
    check_all_paths("e5m0", kInf, m, kInf);
    // fn / fnuz: no infinity, it becomes NaN
    check_all_paths("e4m3fn", kInf, m, kNaN);
    check_all_paths("e4m3fnuz", -kInf, m, kNaN);
    // :sat: the largest finite value
    check_all_paths("e4m3fn:sat", kInf, m, 448);
    check_all_paths("e4m3fn:sat", -kInf, m, -448);
    check_all_paths("e5m2:sat", -kInf, m, -57344);
    check_all_paths("e4m3fnuz:sat", kInf, m, 240);
    // no NaN and no infinity: saturate
    check_all_paths("fp4e2m1", kInf, m, 6);
    check_all_paths("fp6e2m3", -kInf, m, -7.5);
    // fixed point saturates (also with :wrap: infinity has no residue)
    check_all_paths("fx8.4", kInf, m, 127.0 / 16);
    check_all_paths("fx8.4", -kInf, m, -8);
    check_all_paths("fx8.4:wrap", kInf, m, 127.0 / 16);
    check_all_paths("ufx8.4", -kInf, m, 0);
    check_all_paths("uint8:wrap", kInf, m, 255);
  }
}

TEST_CASE("zeros and their signs") {
  for (Mode m : {Mode::RNE, Mode::RNA, Mode::RZ, Mode::RU, Mode::RD, Mode::RO, Mode::SR}) {
    check_all_paths("e5m2", -0.0, m, -0.0);
    check_all_paths("e5m2", 0.0, m, 0.0);
    check_all_paths("e4m3fnuz", -0.0, m, 0.0);  // fnuz has no -0
    check_all_paths("e5m2fnuz:nosub", -0.0, m, 0.0);
    check_all_paths("fx8.4", -0.0, m, 0.0);
    check_all_paths("e4m3fn:nosub", -0.0, m, -0.0);
  }
  // Negative results that round to zero keep the sign, except in fnuz and fixed point.
  check_all_paths("e5m2", -0x1p-30, Mode::RNE, -0.0);
  check_all_paths("e5m2", -0x1p-30, Mode::RZ, -0.0);
  check_all_paths("e5m2", -0x1p-30, Mode::RU, -0.0);
  check_all_paths("e5m2", -0x1p-30, Mode::RD, -0x1p-16);
  check_all_paths("e4m3fnuz", -0x1p-30, Mode::RNE, 0.0);
  check_all_paths("e4m3fnuz", -0x1p-30, Mode::RU, 0.0);
  check_all_paths("fx8.4", -0x1p-30, Mode::RNE, 0.0);
  check_all_paths("fx8.4", -0x1p-30, Mode::RU, 0.0);
  check_all_paths("fx8.4", -0x1p-30, Mode::RD, -1.0 / 16);
  check_all_paths("e4m3fn:nosub", -0x1p-8, Mode::RNE, -0.0);
  check_all_paths("e4m3fnuz:nosub", -0x1p-9, Mode::RNE, 0.0);
}

TEST_CASE("overflow by mode: IEEE, fn, fnuz, :sat, :nonan") {
  // docs/formats.md: nearest modes and the directed mode pointing away from zero
  // give infinity (NaN without infinity, the largest value with :sat or
  // without NaN); RZ, RO and the directed mode toward zero give the largest
  // finite value. Each row: format, its largest value, the "infinite" result.
  struct Row {
    const char* fmt;
    double big, inf;
    double x1, x2;  // beyond the overflow threshold, exactly floats
  };
  const Row rows[] = {{"e5m2", 57344, kInf, 1e6, 0x1.8p100},
                      {"fp16", 65504, kInf, 1e6, 0x1.8p100},
                      {"e4m3fn", 448, kNaN, 1e6, 0x1.8p100},
                      {"e4m3fnuz", 240, kNaN, 1e6, 0x1.8p100},
                      {"e5m2fnuz", 57344, kNaN, 1e6, 0x1.8p100},
                      {"e5m2:sat", 57344, 57344, 1e6, 0x1.8p100},
                      {"e4m3fn:sat", 448, 448, 1e6, 0x1.8p100},
                      {"e4m3fnuz:sat", 240, 240, 1e6, 0x1.8p100},
                      {"fp4e2m1", 6, 6, 1e6, 0x1.8p100},
                      {"fp6e3m2", 28, 28, 1e6, 0x1.8p100},
                      {"bf16", 0x1.fep127, kInf, 0x1.fffffep127, 0x1.ff8p127}};  // float max; a tie (odd 0x7F7F)
  for (const Row& row : rows)
    for (double x : {row.x1, row.x2}) {
      for (int sign : {1, -1}) {
        const double s = sign;
        check_all_paths(row.fmt, s * x, Mode::RNE, s * row.inf);
        check_all_paths(row.fmt, s * x, Mode::RNA, s * row.inf);
        check_all_paths(row.fmt, s * x, Mode::RZ, s * row.big);
        check_all_paths(row.fmt, s * x, Mode::RO, s * row.big);
        check_all_paths(row.fmt, s * x, Mode::RU, sign > 0 ? row.inf : -row.big);
        check_all_paths(row.fmt, s * x, Mode::RD, sign > 0 ? row.big : -row.inf);
        if (x > 2 * row.big) check_all_paths(row.fmt, s * x, Mode::SR, s * row.inf);  // beyond the step: certain
      }
    }
  // Just above the largest value: nearest modes decide at the midpoint with
  // the step beyond (exponent unbounded above).
  check_all_paths("e4m3fn", 463, Mode::RNE, 448);   // below the midpoint 464
  check_all_paths("e4m3fn", 464, Mode::RNE, 448);   // tie: 448 has the even code 0x7E
  check_all_paths("e4m3fn", 464, Mode::RNA, kNaN);  // tie away: 480, beyond the largest value
  check_all_paths("e4m3fn", 465, Mode::RNE, kNaN);
  check_all_paths("e4m3fn", 449, Mode::RU, kNaN);
  check_all_paths("e4m3fn", 449, Mode::RO, 448);
  check_all_paths("e5m2", 61440, Mode::RNE, kInf);  // tie between 57344 (odd code 0x7B) and 65536
  check_all_paths("e5m2", 61439, Mode::RNE, 57344);
  check_all_paths("fp16", 65519, Mode::RNE, 65504);
  check_all_paths("fp16", 65520, Mode::RNE, kInf);
  check_all_paths("fp16:sat", 65520, Mode::RNE, 65504);
  check_all_paths("e4m3fnuz", 248, Mode::RNE, kNaN);  // tie: 240 = 0x7F odd
  check_all_paths("e4m3fnuz", 247, Mode::RNE, 240);
  // Fixed point: saturate or wrap.
  check_all_paths("fx8.4", 8.0, Mode::RNE, 127.0 / 16);
  check_all_paths("fx8.4", -8.03125, Mode::RNE, -8);      // tie: -8 has the even n = -128
  check_all_paths("fx8.4", -8.03125, Mode::RNA, -8);      // -128 - 1 saturates
  check_all_paths("fx8.4:wrap", -8.0625, Mode::RNE, 7.9375);
  check_all_paths("fx8.4:wrap", 8.0, Mode::RNE, -8);
  check_all_paths("fx8.4:wrap", 7.96875, Mode::RNE, -8);  // tie to even n = 128, wraps to -128
  check_all_paths("fx8.4:wrap", 7.96875, Mode::RZ, 7.9375);
  check_all_paths("int8:wrap", 300, Mode::RNE, 44);
  check_all_paths("uint8:wrap", -1, Mode::RNE, 255);
  check_all_paths("uint8", -1, Mode::RNE, 0);
  check_all_paths("uint8:wrap", 0x1p100, Mode::RNE, 0);  // a multiple of 2^8
  check_all_paths("int16:wrap", 65536.0 * 3 + 5, Mode::RNE, 5);
}

TEST_CASE("subnormal and :nosub boundaries") {
  // e4m3fn: min subnormal 2^-9, min normal 2^-6.
  check_all_paths("e4m3fn", 0x1p-10, Mode::RNE, 0.0);  // tie between 0 and 2^-9: 0 is even
  check_all_paths("e4m3fn", 0x1p-10, Mode::RNA, 0x1p-9);
  check_all_paths("e4m3fn", 0x1.000002p-10, Mode::RNE, 0x1p-9);
  check_all_paths("e4m3fn", 0x1p-20, Mode::RU, 0x1p-9);
  check_all_paths("e4m3fn", 0x1p-20, Mode::RO, 0x1p-9);
  check_all_paths("e4m3fn", -0x1p-20, Mode::RD, -0x1p-9);
  check_all_paths("e4m3fn", 3 * 0x1p-10, Mode::RNE, 0x1p-8);  // tie 1 (odd) vs 2 subnormal steps
  check_all_paths("e4m3fn", 15 * 0x1p-10, Mode::RNE, 0x1p-6);  // tie: 7 * 2^-9 (odd) vs 2^-6
  check_all_paths("e4m3fn", 14.75 * 0x1p-10, Mode::RNE, 7 * 0x1p-9);
  // :nosub: unbounded below, then results under 2^-6 become zero. The largest
  // such grid value below 2^-6 is 15 * 2^-10 (1.111b * 2^-7).
  check_all_paths("e4m3fn:nosub", 15.5 * 0x1p-10, Mode::RNE, 0x1p-6);  // tie: 2^-6 is even
  check_all_paths("e4m3fn:nosub", 15.25 * 0x1p-10, Mode::RNE, 0.0);
  check_all_paths("e4m3fn:nosub", 15.25 * 0x1p-10, Mode::RU, 0x1p-6);
  check_all_paths("e4m3fn:nosub", 15.0 * 0x1p-10, Mode::RU, 0.0);     // exactly on the grid, below 2^-6
  check_all_paths("e4m3fn:nosub", 0x1p-7, Mode::RU, 0.0);             // exact, below the smallest normal
  check_all_paths("e4m3fn:nosub", 0x1.000002p-7, Mode::RU, 0.0);  // rounds up to 2^-7 + 2^-10 only
  check_all_paths("e4m3fn:nosub", 0x1p-30, Mode::RU, 0.0);
  check_all_paths("e4m3fn:nosub", -15.25 * 0x1p-10, Mode::RD, -0x1p-6);
  check_all_paths("e4m3fn:nosub", -15.25 * 0x1p-10, Mode::RNE, -0.0);
  check_all_paths("e4m3fn:nosub", 15.25 * 0x1p-10, Mode::RO, 0.0);    // the odd neighbour is 15 * 2^-10
  check_all_paths("e4m3fn:nosub", 15.75 * 0x1p-10, Mode::RNE, 0x1p-6);
  // M = 0 (parity is the exponent's): e3m0:nosub, bias 3, min normal 2^-2.
  // Below it the unbounded grid is 2^-3, 2^-4, ...; 2^-3 has biased exponent 0 (even).
  check_all_paths("e3m0:nosub", 0.1875, Mode::RNE, 0.0);   // tie 2^-3 (even) vs 2^-2 (odd)
  check_all_paths("e3m0:nosub", 0.1875, Mode::RNA, 0.25);
  check_all_paths("e3m0:nosub", 0.1875 + 0x1p-20, Mode::RNE, 0.25);
  check_all_paths("e3m0:nosub", 0.15625, Mode::RO, 0.25);     // the odd one of 2^-3, 2^-2
  check_all_paths("e3m0:nosub", 0.09375, Mode::RO, 0.0);       // between 2^-4 (odd) and 2^-3: 2^-4, flushed
  check_all_paths("e3m0", 0.125, Mode::RNE, 0.0);          // with subnormals (none for M = 0): tie 0 vs 2^-2
  check_all_paths("e3m0", 0.126953125, Mode::RNE, 0.25);
  // fp16 subnormals, float input exactly at the boundary.
  check_all_paths("fp16", 0x1p-25, Mode::RNE, 0.0);
  check_all_paths("fp16", 0x1.8p-24, Mode::RNE, 0x1p-23);
  check_all_paths("fp16", 0x1.ffcp-15, Mode::RNE, 0x1p-14);  // 1023.5 * 2^-24: 1023 is odd
  check_all_paths("fp16", 0x1.ff8p-15, Mode::RU, 0x1.ff8p-15);  // the top subnormal itself
  // bf16:nosub reaches below float's normal range.
  check_all_paths("bf16:nosub", 0x1.ffp-127, Mode::RNE, 0x1p-126);
  check_all_paths("bf16:nosub", 0x1.fdp-127, Mode::RNE, 0.0);
  check_all_paths("bf16", 0x1p-134, Mode::RNE, 0.0);
  check_all_paths("bf16", 0x1.8p-134, Mode::RNE, 0x1p-133);
}

TEST_CASE("scaled formats are rejected by quantize, encode and decode") {
  for (const char* s : {"int8/absmax/tensor", "e4m3fn/minmax/channel", "fp4e2m1/pow2/block32", "mxfp8e4m3", "mxint8"}) {
    const Format f = parse_format(s);
    INFO(f.spelling);
    CHECK(f.kind == Kind::Scaled);
    CHECK_THROWS_AS((void)quantize(1.0, f), std::invalid_argument);
    CHECK_THROWS_AS((void)quantize(1.0f, f), std::invalid_argument);
    double d = 1, od;
    float x = 1, ox;
    CHECK_THROWS_AS(quantize(&d, &od, 1, f), std::invalid_argument);
    CHECK_THROWS_AS(quantize(&x, &ox, 1, f), std::invalid_argument);
    CHECK_THROWS_AS(quantize(&d, &od, 0, f), std::invalid_argument);
    CHECK_THROWS_AS((void)encode(1.0, f), std::invalid_argument);
    CHECK_THROWS_AS((void)decode(0, f), std::invalid_argument);
    try {
      (void)quantize(1.0, f);
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()).find(f.spelling) != std::string::npos);
    }
  }
  CHECK(parse_format("mxfp8e4m3").scaled.elem->spelling == "e4m3fn");
  CHECK(parse_format("mxfp8e4m3").scaled.block == 32);
  // A format whose values a float cannot hold is refused for float input.
  CHECK_THROWS_AS((void)quantize(1.0f, parse_format("e9m6")), std::invalid_argument);
  CHECK_THROWS_AS((void)quantize(1.0f, parse_format("fp64")), std::invalid_argument);
  CHECK_THROWS_AS((void)quantize(1.0f, parse_format("int32")), std::invalid_argument);
  CHECK_NOTHROW((void)quantize(1.0, parse_format("int32")));
}

TEST_CASE("codec: bad codes and values") {
  const Format f = parse_format("e4m3fn");
  CHECK_THROWS_AS((void)decode(0x100, f), std::invalid_argument);
  CHECK_THROWS_AS((void)encode(1.1, f), std::invalid_argument);
  CHECK_THROWS_AS((void)encode(480, f), std::invalid_argument);
  CHECK(encode(448, f) == 0x7E);
  CHECK(encode(-448, f) == 0xFE);
  CHECK(std::isnan(decode(0x7F, f)));
  CHECK(std::isnan(decode(0xFF, f)));
  CHECK(encode(-2.0, parse_format("e4m3fnuz")) == 0xC8);  // bias 8: 2 = 0x48; the sign bit is kept
  CHECK(encode(-0.0, parse_format("e4m3fnuz")) == 0x00);
  CHECK(std::isnan(decode(0x80, parse_format("e4m3fnuz"))));
  CHECK(encode(-0.0, parse_format("e5m2")) == 0x80);
  CHECK(decode(0x7C, parse_format("e5m2")) == kInf);
  CHECK(encode(-1.0, parse_format("fx8.4")) == 0xF0);
  CHECK(decode(0x80, parse_format("fx8.4")) == -8);
  CHECK(decode(0xFF, parse_format("ufx8.4")) == 255.0 / 16);
}

TEST_CASE("array path: in place equals out of place") {
  // The fast path falls back to the golden model for some elements (NaN,
  // infinity, fixed-point wrap overflow, exact-SR ties beyond 64 bits); with
  // in == out the fallback must still see the input, not the kernel's output.
  struct Case {
    const char* fmt;
    Rounding r;
    std::vector<double> x;
  };
  const Case cases[] = {
      {"fx8.4:wrap", {}, {9.0, -9.5, 100.25, 7.96875, -8.0625, 1e10, 3.0}},
      {"int8:wrap", {Mode::RZ, 0}, {300, -300, 1000.75, 127.5}},
      {"e4m3fn", {}, {kNaN, kInf, -kInf, 1.0, 500}},
      {"fp16", {Mode::SR, 0}, {kNaN, kInf, 0x1.8p-90, 1.0 + 0x1p-40}},
      {"e5m2", {Mode::RNE, 0}, {-kInf, kNaN}},
  };
  for (const Case& c : cases) {
    const Format f = parse_format(c.fmt);
    INFO(f.spelling << " " << c.r.spelling());
    std::vector<double> want(c.x.size());
    quantize_golden(c.x.data(), want.data(), c.x.size(), f, c.r);
    std::vector<double> sep(c.x.size()), inplace = c.x;
    quantize(c.x.data(), sep.data(), c.x.size(), f, c.r);
    quantize(inplace.data(), inplace.data(), inplace.size(), f, c.r);
    std::vector<float> xf(c.x.begin(), c.x.end()), inplace_f = xf;
    quantize(inplace_f.data(), inplace_f.data(), inplace_f.size(), f, c.r);
    for (std::size_t i = 0; i < c.x.size(); ++i) {
      INFO("element " << i << " in " << describe(c.x[i]) << " want " << describe(want[i]));
      CHECK(same(sep[i], want[i]));
      CHECK(same(inplace[i], want[i]));
      if (double(xf[i]) == c.x[i] || std::isnan(c.x[i])) CHECK(same(inplace_f[i], float(want[i])));
    }
  }
}

TEST_CASE("Philox4x32-10 known answers (Random123 kat_vectors)") {
  using lpsim::arith::philox4x32_10;
  CHECK(philox4x32_10({0, 0, 0, 0}, 0, 0) == Philox4x32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8});
  CHECK(philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, 0xffffffff, 0xffffffff) ==
        Philox4x32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd});
  CHECK(philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, 0xa4093822, 0x299f31d0) ==
        Philox4x32{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1});
  // random_word: counter (index lo, index hi, stream, word / 2), key = seed.
  const Philox4x32 o = philox4x32_10({5, 1, 7, 1}, 0x89abcdefu, 0x01234567u);
  CHECK(random_word(0x0123456789abcdefull, 7, (1ull << 32) | 5, 2) == ((std::uint64_t(o[1]) << 32) | o[0]));
  CHECK(random_word(0x0123456789abcdefull, 7, (1ull << 32) | 5, 3) == ((std::uint64_t(o[3]) << 32) | o[2]));
}

}  // TEST_SUITE
