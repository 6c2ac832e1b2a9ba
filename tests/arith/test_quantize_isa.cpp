// The array quantizer at the ISA level in use against the golden model, bit
// for bit (NaN bits too): ctest's label `isa` runs this suite at every level
// the host has (LPSIM_ISA), so scalar, AVX2 and AVX-512 paths are each
// checked. Float inputs: every top half of the fp32 pattern (sign, exponent,
// 7 mantissa bits) with low halves at and around the tie points of 8- and
// 16-bit formats, plus random ones; double inputs: those, and one double ulp
// either side. Every mode (sr and sr<k> on the same random bits), specials,
// ragged lengths, misaligned and in-place arrays, thread counts.
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "arith/arith.hpp"
#include "arith/golden.hpp"
#include "arith/isa.hpp"

using namespace lpsim::arith;

namespace {

template <class T>
using UBits = std::conditional_t<std::is_same_v<T, float>, std::uint32_t, std::uint64_t>;

template <class T>
bool same(T a, T b) {
  return std::bit_cast<UBits<T>>(a) == std::bit_cast<UBits<T>>(b);
}

// Every top half with these low halves: for 1..10 mantissa bits the dropped
// bits' tie, tie +- 1, zero and all ones are among them (bf16's tie is bit 15,
// fp16's bit 12); the rest of the ties fall in the top half.
std::vector<float> float_patterns() {
  const std::uint32_t lows[] = {0x0000, 0x0001, 0x0FFF, 0x1000, 0x1001, 0x7FFF, 0x8000, 0x8001, 0xFFFF};
  std::mt19937 gen(2024);
  std::vector<float> v;
  v.reserve(65536 * 11);
  for (std::uint32_t t = 0; t < 65536; ++t) {
    for (std::uint32_t l : lows) v.push_back(std::bit_cast<float>(t << 16 | l));
    v.push_back(std::bit_cast<float>(std::uint32_t(t << 16 | (gen() & 0xFFFF))));
    v.push_back(std::bit_cast<float>(std::uint32_t(t << 16 | (gen() & 0xFFFF))));
  }
  return v;
}

// As doubles, with one double ulp either side of every other pattern (ties of
// the wider double fraction; exact doubles for the rest).
std::vector<double> double_patterns(const std::vector<float>& fl) {
  std::vector<double> v;
  v.reserve(fl.size() * 2);
  for (std::size_t i = 0; i < fl.size(); ++i) {
    const double d = fl[i];
    v.push_back(d);
    if (i % 2 == 0 && std::isfinite(d)) v.push_back(std::nextafter(d, i % 4 ? -INFINITY : INFINITY));
  }
  return v;
}

template <class T>
std::vector<T> drop_nans(std::vector<T> v, const Format& f) {
  if (f.has_nan()) return v;
  std::erase_if(v, [](T x) { return std::isnan(x); });
  return v;
}

// Mismatches of the array path against golden_quantize over `in` (no NaN
// unless the format holds one); the first few printed in full.
template <class T>
std::size_t mismatches(const std::vector<T>& in, const Format& fast, const Format& gold, Rounding r, RandomKey key,
                       std::uint64_t index0, int show = 4) {
  std::vector<T> out(in.size());
  quantize(in.data(), out.data(), in.size(), fast, r, key, index0);
  // The golden model (the slow part) on every thread, compared after.
  std::vector<double> want(in.size());
  std::vector<char> ok(in.size());
  const std::int64_t count = std::int64_t(in.size());
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < count; ++i)
    ok[std::size_t(i)] = golden_quantize(double(in[std::size_t(i)]), gold, r, key, index0 + std::uint64_t(i),
                                         want[std::size_t(i)]);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < in.size(); ++i) {
    const double g = want[i];
    if (ok[i] && same(T(g), out[i])) continue;
    if (bad++ < std::size_t(show)) {
      char b[200];
      std::snprintf(b, sizeof b, "%s %s %s input %a (0x%llx) index %llu: fast %a golden %a", fast.spelling.c_str(),
                    r.spelling().c_str(), std::is_same_v<T, float> ? "float" : "double", double(in[i]),
                    (unsigned long long)std::bit_cast<UBits<T>>(in[i]), (unsigned long long)(index0 + i),
                    double(out[i]), g);
      FAIL_CHECK(b);
    }
  }
  return bad;
}

const char* const kFloatFormats[] = {
    "bf16", "fp16", "e4m3fn", "e5m2", "e4m3fnuz", "e5m2fnuz", "e4m3", "e4m3fn:sat", "e5m2:sat", "e3m2fn:nonan",
    "e2m1fn:nonan", "e5m10:nosub", "e8m7:nosub", "e4m3fn:nosub", "e5m0", "e8m0", "e6m9", "e8m23"};
const char* const kFixedFormats[] = {"int8",  "uint8",   "int8:wrap", "fx8.4:wrap", "fx16.8", "ufx16.16",
                                     "fx12.4", "fx8.10", "int16",     "fx24.0",     "fx20.12:wrap", "fx8.-2"};
const char* const kDoubleOnly[] = {"e8m31", "e11m50:nosub", "e5m33fn", "int32", "uint32:wrap", "fx48.16", "fx51.51"};

const Rounding kModes[] = {{Mode::RNE, 0}, {Mode::RNA, 0}, {Mode::RZ, 0}, {Mode::RU, 0}, {Mode::RD, 0},
                           {Mode::RO, 0},  {Mode::SR, 0},  {Mode::SR, 8}};
const Rounding kSrBits[] = {{Mode::SR, 1}, {Mode::SR, 3}, {Mode::SR, 31}, {Mode::SR, 32}, {Mode::SR, 33}, {Mode::SR, 64}};

// Restores the ISA level on leaving a test that changes it.
struct IsaGuard {
  Isa saved = isa();
  ~IsaGuard() { set_isa(saved); }
};

}  // namespace

TEST_SUITE("isa") {

TEST_CASE("array quantize at this ISA level == golden: float bit patterns, 8- and 16-bit formats, every mode") {
  INFO("ISA level " << isa_name(isa()));
  const std::vector<float> all = float_patterns();
  std::size_t checked = 0;
  for (const char* const* list : {kFloatFormats, kFixedFormats}) {
    const std::size_t count = list == kFloatFormats ? std::size(kFloatFormats) : std::size(kFixedFormats);
    for (std::size_t k = 0; k < count; ++k) {
      const Format f = parse_format(list[k]);
      const std::vector<float> in = drop_nans(all, f);
      for (const Rounding& r : kModes) {
        // index0 just below 2^32: Philox's counter carries into its second word mid-array.
        const std::size_t bad = mismatches(in, f, f, r, RandomKey{0x0123456789ABCDEFull, 5}, (1ull << 32) - 1000);
        INFO(f.spelling << " " << r.spelling());
        CHECK(bad == 0);
        checked += in.size();
      }
    }
  }
  MESSAGE("float inputs checked: " << checked);
}

TEST_CASE("array quantize at this ISA level == golden: shuffled patterns (vectors mixing zero, subnormal and normal lanes)") {
  // float_patterns() runs in order of magnitude, so a vector's lanes share a
  // range; shuffled, most vectors mix ranges (the AVX-512 RNE kernel's
  // normal/subnormal blend, its general fallback).
  INFO("ISA level " << isa_name(isa()));
  std::vector<float> all = float_patterns();
  std::shuffle(all.begin(), all.end(), std::mt19937(7));
  std::size_t checked = 0;
  for (const char* name : kFloatFormats) {
    const Format f = parse_format(name);
    const std::vector<float> in = drop_nans(all, f);
    for (const Rounding& r : {Rounding{Mode::RNE, 0}, Rounding{Mode::RZ, 0}, Rounding{Mode::SR, 0}}) {
      INFO(f.spelling << " " << r.spelling());
      CHECK(mismatches(in, f, f, r, RandomKey{99, 1}, 0) == 0);
      checked += in.size();
    }
  }
  // Small magnitudes only, where e4m3-like formats are subnormal: vectors with no NaN or
  // overflow lanes, so they take the blend rather than the fallback.
  std::vector<float> small;
  for (float x : all)
    if (std::fabs(x) < 0.5f) small.push_back(x);
  for (const char* name : kFloatFormats) {
    const Format f = parse_format(name);
    INFO(f.spelling);
    CHECK(mismatches(small, f, f, Rounding{Mode::RNE, 0}, RandomKey{}, 0) == 0);
    checked += small.size();
  }
  MESSAGE("float inputs checked: " << checked);
}

TEST_CASE("array quantize at this ISA level == golden: sr<k> for k across the word boundaries") {
  const std::vector<float> all = float_patterns();
  std::vector<float> some;
  for (std::size_t i = 0; i < all.size(); i += 3) some.push_back(all[i]);
  for (const char* name : {"bf16", "e4m3fn", "fx8.4:wrap", "fx16.8"}) {
    const Format f = parse_format(name);
    const std::vector<float> in = drop_nans(some, f);
    const std::vector<double> ind = drop_nans(double_patterns(in), f);
    for (const Rounding& r : kSrBits) {
      INFO(f.spelling << " " << r.spelling());
      CHECK(mismatches(in, f, f, r, RandomKey{~0ull, 0xFFFFFFFFu}, 12345) == 0);
      CHECK(mismatches(ind, f, f, r, RandomKey{42, 1}, (1ull << 33) - 77) == 0);
    }
  }
}

TEST_CASE("array quantize at this ISA level == golden: double inputs, every mode") {
  const std::vector<float> all = float_patterns();
  std::vector<float> some;  // a third of the patterns: the doubles cost more golden time
  for (std::size_t i = 0; i < all.size(); i += 3) some.push_back(all[i]);
  const std::vector<double> base = double_patterns(some);
  std::vector<const char*> names(std::begin(kFloatFormats), std::end(kFloatFormats));
  names.insert(names.end(), std::begin(kFixedFormats), std::end(kFixedFormats));
  names.insert(names.end(), std::begin(kDoubleOnly), std::end(kDoubleOnly));
  std::mt19937_64 gen(7);
  for (const char* name : names) {
    const Format f = parse_format(name);
    std::vector<double> in = base;
    // Wide formats: values around their own range and ties of their fraction too.
    if (!f.fits_in_float())
      for (int i = 0; i < 20000; ++i)
        in.push_back(std::ldexp(double(std::int64_t(gen() >> 8)), -int(gen() % 70)));
    in = drop_nans(in, f);
    for (const Rounding& r : kModes) {
      INFO(f.spelling << " " << r.spelling());
      CHECK(mismatches(in, f, f, r, RandomKey{99, 2}, 3) == 0);
    }
  }
}

TEST_CASE("array quantize at this ISA level: ragged lengths, misaligned and in place, specials") {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = INFINITY;
  const float specials[] = {nan, -nan, inf, -inf, 0.0f, -0.0f, 1e-45f, -3e-39f, 1e38f, -448.0f, 464.0f, 0.0625f,
                            std::bit_cast<float>(0x7FC12345u), 1.0f + 0x1p-23f, 0x1.1p-9f, -0x1.8p-10f};
  std::mt19937 gen(5);
  std::normal_distribution<float> d(0, 8);
  std::vector<float> pool(160);
  for (std::size_t i = 0; i < pool.size(); ++i) pool[i] = i % 3 == 0 ? specials[i / 3 % std::size(specials)] : d(gen);
  for (const char* name : {"e4m3fn", "bf16", "e5m2fnuz", "fx8.4:wrap", "e2m1fn:nonan", "int8"}) {
    const Format f = parse_format(name);
    const std::vector<float> src = drop_nans(pool, f);
    for (const Rounding& r : {Rounding{Mode::RNE, 0}, Rounding{Mode::RO, 0}, Rounding{Mode::SR, 0}, Rounding{Mode::SR, 5}}) {
      for (std::size_t n = 0; n <= 40; ++n) {
        for (std::size_t off = 0; off < 3; ++off) {
          INFO(f.spelling << " " << r.spelling() << " n " << n << " offset " << off);
          const RandomKey key{n * 31 + off, 9};
          const std::uint64_t index0 = (1ull << 32) - 8 - off;
          std::vector<float> buf(src.begin() + std::ptrdiff_t(off), src.begin() + std::ptrdiff_t(off + n + 1));
          std::vector<float> in(buf.begin(), buf.begin() + std::ptrdiff_t(n)), out(n + 1, 7.0f);
          quantize(in.data(), out.data() + 1, n, f, r, key, index0);  // out misaligned by one float
          quantize(buf.data(), buf.data(), n, f, r, key, index0);     // in place
          std::vector<double> ind(in.begin(), in.end()), outd(n + 2, 7.0);
          quantize(ind.data(), outd.data() + 1, n, f, r, key, index0);
          for (std::size_t i = 0; i < n; ++i) {
            double g = 0;
            REQUIRE(golden_quantize(double(in[i]), f, r, key, index0 + i, g));
            CHECK(same(out[i + 1], float(g)));
            CHECK(same(buf[i], float(g)));
            CHECK(same(outd[i + 1], g));
          }
          CHECK(out[0] == 7.0f);  // nothing written outside [0, n)
          CHECK(same(buf[n], src[off + n]));
          CHECK(outd[0] == 7.0);
          CHECK(outd[n + 1] == 7.0);
        }
      }
    }
  }
}

TEST_CASE("array quantize at this ISA level: same bits for 1 and 2 threads; NaN error names the first index") {
  const int saved = omp_get_max_threads();
  std::mt19937 gen(11);
  std::normal_distribution<float> d(0, 100);
  const std::size_t n = (1 << 17) + 13;
  std::vector<float> in(n);
  for (float& x : in) x = d(gen);
  std::vector<double> ind(in.begin(), in.end());
  for (const char* name : {"fp16", "e4m3fn", "fx8.4:wrap"}) {
    const Format f = parse_format(name);
    for (const Rounding& r : {Rounding{Mode::RNE, 0}, Rounding{Mode::SR, 0}}) {
      std::vector<float> one(n), two(n);
      std::vector<double> oned(n), twod(n);
      omp_set_num_threads(1);
      quantize(in.data(), one.data(), n, f, r, {3, 4}, 5);
      quantize(ind.data(), oned.data(), n, f, r, {3, 4}, 5);
      omp_set_num_threads(2);
      quantize(in.data(), two.data(), n, f, r, {3, 4}, 5);
      quantize(ind.data(), twod.data(), n, f, r, {3, 4}, 5);
      std::size_t diff = 0;
      for (std::size_t i = 0; i < n; ++i) diff += !same(one[i], two[i]) + !same(oned[i], twod[i]);
      INFO(f.spelling << " " << r.spelling());
      CHECK(diff == 0);
    }
  }
  omp_set_num_threads(saved);
  // A NaN into a format without a NaN code: the first such position is named.
  for (const char* name : {"int8", "e2m1fn:nonan"}) {
    const Format f = parse_format(name);
    std::vector<float> x(in.begin(), in.end());
    x[70001] = NAN;
    x[40007] = -NAN;
    std::vector<float> out(n);
    std::vector<double> xd(x.begin(), x.end()), outd(n);
    CHECK_THROWS_WITH_AS(quantize(x.data(), out.data(), n, f), doctest::Contains("index 40007"), std::domain_error);
    CHECK_THROWS_WITH_AS(quantize(xd.data(), outd.data(), n, f), doctest::Contains("index 40007"), std::domain_error);
    CHECK_THROWS_WITH_AS(quantize(x.data() + 40007, out.data(), 20, f), doctest::Contains("index 0"), std::domain_error);
  }
}

TEST_CASE("every ISA level up to this one gives the same bits") {
  IsaGuard guard;
  const std::vector<float> all = float_patterns();
  std::vector<float> in;
  for (std::size_t i = 0; i < all.size(); i += 7) in.push_back(all[i]);
  for (const char* name : {"bf16", "e4m3fnuz", "fx16.8"}) {
    const Format f = parse_format(name);
    const std::vector<float> x = drop_nans(in, f);
    const std::vector<double> xd(x.begin(), x.end());
    for (const Rounding& r : {Rounding{Mode::RNE, 0}, Rounding{Mode::RD, 0}, Rounding{Mode::SR, 0}}) {
      std::vector<float> ref(x.size());
      std::vector<double> refd(x.size());
      set_isa(guard.saved);
      quantize(x.data(), ref.data(), x.size(), f, r, {8, 8}, 8);
      quantize(xd.data(), refd.data(), x.size(), f, r, {8, 8}, 8);
      for (Isa level : isa_levels()) {
        if (level > guard.saved) continue;
        REQUIRE(set_isa(level) == level);
        std::vector<float> got(x.size());
        std::vector<double> gotd(x.size());
        quantize(x.data(), got.data(), x.size(), f, r, {8, 8}, 8);
        quantize(xd.data(), gotd.data(), x.size(), f, r, {8, 8}, 8);
        std::size_t diff = 0;
        for (std::size_t i = 0; i < x.size(); ++i) diff += !same(got[i], ref[i]) + !same(gotd[i], refd[i]);
        INFO(f.spelling << " " << r.spelling() << " at " << isa_name(level) << " vs " << isa_name(guard.saved));
        CHECK(diff == 0);
      }
    }
  }
}

TEST_CASE("the ISA comparison can fail") {
  // The fast path of one format against the golden model of a neighbour must
  // count mismatches, else a zero above means nothing.
  const std::vector<float> all = float_patterns();
  std::vector<float> in;
  for (std::size_t i = 0; i < all.size(); i += 97)
    if (!std::isnan(all[i])) in.push_back(all[i]);
  CHECK(mismatches(in, parse_format("e4m3fn"), parse_format("e4m3fnuz"), {}, {}, 0, 0) > 0);
  CHECK(mismatches(in, parse_format("bf16"), parse_format("bf16"), Rounding{Mode::SR, 0}, {1, 0}, 0, 0) == 0);
  // Random bits of the wrong element: SR results shifted by one index differ.
  std::vector<float> a(in.size()), b(in.size());
  quantize(in.data(), a.data(), in.size(), parse_format("e4m3fn"), Rounding{Mode::SR, 0}, {1, 0}, 0);
  quantize(in.data(), b.data(), in.size(), parse_format("e4m3fn"), Rounding{Mode::SR, 0}, {1, 0}, 1);
  std::size_t diff = 0;
  for (std::size_t i = 0; i < in.size(); ++i) diff += !same(a[i], b[i]);
  CHECK(diff > 0);
}

}  // TEST_SUITE
