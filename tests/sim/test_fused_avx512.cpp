// fused_lanes_avx512 (sim/fused_lanes_avx512.cpp): fused<N> tensor-core steps
// in int32 lanes, against the golden model bit for bit, on the data that
// reaches each of its redone lanes (int32 overflow of C's term, accumulator
// overflow to infinity and then an infinite C, subnormal results, zero steps,
// sums past 2^24 that need the sticky bit, steps of signed zeros only), and the calls it must refuse.
#include <doctest/doctest.h>
#include <omp.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "arith/golden.hpp"
#include "arith/isa.hpp"
#include "sim/fused_lanes.hpp"
#include "sim/gemm.hpp"
#include "sim/mac_config.hpp"

using namespace lpsim;

namespace {

struct IsaGuard {
  arith::Isa saved = arith::isa();
  ~IsaGuard() { arith::set_isa(saved); }
};

void in_format(std::vector<float>& v, const std::optional<sim::Rounded>& f) {
  if (!f) return;
  for (auto& x : v) {
    double q;
    if (!arith::golden_quantize(x, f->format, f->rounding, {}, 0, q) || !std::isfinite(q)) q = 0;
    x = float(q);
  }
}

// Hazards, all finite: ordinary, wide range, cancellation, swamping, narrow overflow, subnormal sums, zeros;
// signed zeros only (kind 7: a = +0, b < 0, C = -0: every addend -0; kind 8: some +0 among them).
// role: 0 A, 1 B, 2 C.
std::vector<float> draw(std::mt19937_64& g, int kind, std::size_t count, int role) {
  std::normal_distribution<float> nd;
  std::uniform_int_distribution<int> wide(-30, 30);
  std::vector<float> v(count);
  for (std::size_t l = 0; l < count; ++l) {
    float x = nd(g);
    switch (kind) {
      case 0: x = std::ldexp(x, wide(g) / 8); break;
      case 1: x = std::ldexp(x, wide(g)); break;
      case 2: x = l % 2 ? -v[l - 1] : x; break;
      case 3: x = l % 37 == 0 ? 4096.f : std::ldexp(x, -12); break;
      case 4: x = std::ldexp(x, 7) + 200.f; break;
      case 5: x = std::ldexp(x, -12 - int(l % 4)); break;
      case 6: x = l % 3 ? 0.f : x; break;
      case 7: x = role == 0 ? 0.f : role == 1 ? -std::abs(x) - 0.5f : -0.f; break;
      default: x = role == 0 ? (l % 5 == 2 ? -0.f : 0.f) : role == 1 ? -std::abs(x) - 0.5f : -0.f;
    }
    v[l] = x;
  }
  return v;
}

struct Result {
  bool taken = false;
  std::vector<float> c;
};

// The kernel alone (values before any output rounding: the configurations here have no out=).
Result kernel(const sim::MacConfig& cfg, const std::vector<float>& a, const std::vector<float>& b,
              const std::vector<float>* c, std::int64_t m, std::int64_t n, std::int64_t k) {
  Result r;
  r.c.assign(std::size_t(m * n), -7.f);
  r.taken = sim::fused_lanes_avx512(cfg, a.data(), b.data(), c ? c->data() : nullptr, m, n, k,
                                    [&](std::int64_t i, std::int64_t j0, std::int64_t w, double* row) {
                                      for (std::int64_t j = 0; j < w; ++j) r.c[std::size_t(i * n + j0 + j)] = float(row[j]);
                                    });
  return r;
}

std::vector<float> golden(const sim::MacConfig& cfg, const std::vector<float>& a, const std::vector<float>& b,
                          const std::vector<float>* c, std::int64_t m, std::int64_t n, std::int64_t k) {
  std::vector<float> out = c ? *c : std::vector<float>(std::size_t(m * n), -7.f);
  sim::gemm_golden(cfg, {m, n, k, a.data(), k, false, b.data(), n, false, out.data(), n, c != nullptr});
  return out;
}

std::size_t mismatches(const std::vector<float>& x, const std::vector<float>& y) {
  std::size_t bad = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const bool both_nan = std::isnan(x[i]) && std::isnan(y[i]);
    bad += !both_nan && std::bit_cast<std::uint32_t>(x[i]) != std::bit_cast<std::uint32_t>(y[i]);
  }
  return bad;
}

const bool kHas = arith::host_isa() >= arith::Isa::AVX512;

}  // namespace

TEST_CASE("fused_lanes_avx512: int32 lanes equal the golden fused steps on every hazard") {
  IsaGuard guard;
  if (!kHas) MESSAGE("no AVX-512 on this host: fused_lanes_avx512 is not exercised");
  arith::set_isa(arith::Isa::AVX512);
  const char* configs[] = {
      "h800.fp8", "hopper.fp8", "ada.fp8.f16out", "volta.fp16", "ampere.bf16", "hopper.fp16", "hopper.fp16.f16out",
      "ampere.tf32",
      "in=fp16,acc=e5m10:sat,order=fused4,align=12,acc_round=rd",
      "in=e4m3fnuz,acc=e5m2fnuz,order=fused2,align=5,acc_round=ru",
      "in=fp8e5m2,acc=e6m9,order=fused8,align=11,acc_round=rna,promote=16,outer=fp32",
      "in=fp16,acc=e8m13,order=fused4,align=22",             // RNE from sums past 2^24: the sticky bit
      "in=fp16,acc=e8m13,order=fused8,align=24,acc_round=rna,zero_sign=pos",
      "in=e4m3fnuz,acc=e5m2fnuz,order=fused8,align=5,acc_round=rz",  // no -0 in the accumulator
  };
  struct Shape {
    std::int64_t m, n, k;
  };
  const Shape shapes[] = {{1, 1, 1}, {5, 17, 33}, {9, 40, 130}, {4, 16, 300}};
  std::mt19937_64 g(2026);
  std::size_t outputs = 0, bad_total = 0;
  for (const char* spelling : configs) {
    const sim::MacConfig cfg = sim::parse_mac(spelling);
    for (const Shape& s : shapes)
      for (int kind = 0; kind < 9; ++kind) {
        auto a = draw(g, kind, std::size_t(s.m * s.k), 0), b = draw(g, kind, std::size_t(s.k * s.n), 1);
        auto c = draw(g, kind, std::size_t(s.m * s.n), 2);
        in_format(a, cfg.a), in_format(b, cfg.b);
        for (const std::vector<float>* addend : {static_cast<const std::vector<float>*>(nullptr), static_cast<const std::vector<float>*>(&c)})
          for (int threads : {1, 2}) {
            omp_set_num_threads(threads);
            const Result got = kernel(cfg, a, b, addend, s.m, s.n, s.k);
            omp_set_num_threads(2);
            INFO(spelling << " kind " << kind << " m=" << s.m << " n=" << s.n << " k=" << s.k << (addend ? " with C" : "")
                          << " threads=" << threads);
            CHECK(got.taken == kHas);
            if (!got.taken) continue;
            const std::size_t bad = mismatches(got.c, golden(cfg, a, b, addend, s.m, s.n, s.k));
            CHECK(bad == 0);
            outputs += got.c.size(), bad_total += bad;
          }
      }
  }
  MESSAGE("fused_lanes_avx512 vs golden: " << outputs << " outputs, " << bad_total << " mismatches");
}

TEST_CASE("fused_lanes_avx512: C's term past int32, overflow to infinity and an infinite C are redone exactly") {
  IsaGuard guard;
  arith::set_isa(arith::Isa::AVX512);
  // hopper.fp16 (fused16, align 25): 16 products 1.999^2 each truncate to just below 2^27; C = 1.5 at the
  // same exponent adds 1.5 * 2^25, which leaves int32.
  const sim::MacConfig hop = sim::parse_mac("hopper.fp16");
  const float big = 2.f - 0x1p-10f;
  std::vector<float> a(16, big), b(16 * 16, big), c(16, 1.5f);
  const Result got = kernel(hop, a, b, &c, 1, 16, 16);
  CHECK(got.taken == kHas);
  if (got.taken) CHECK(mismatches(got.c, golden(hop, a, b, &c, 1, 16, 16)) == 0);
  // fp16 accumulator: 4 products of 255 * 255 overflow it; with overflow=inf the next step starts from inf.
  const sim::MacConfig f16 = sim::parse_mac("in=fp16,acc=fp16,order=fused4,align=12,acc_round=rz,overflow=inf");
  std::vector<float> x(12, 255.f), y(12 * 16, 255.f);
  for (int j = 0; j < 16; ++j) y[std::size_t(4 * 16 + j)] = j % 2 ? -255.f : 1.f;  // then inf + finite, inf
  const Result o = kernel(f16, x, y, nullptr, 1, 16, 12);
  CHECK(o.taken == kHas);
  if (o.taken) {
    CHECK(mismatches(o.c, golden(f16, x, y, nullptr, 1, 16, 12)) == 0);
    CHECK(std::isinf(o.c[0]));
  }
}

TEST_CASE("fused_lanes_avx512 refuses what its int32 lanes cannot do") {
  IsaGuard guard;
  arith::set_isa(arith::Isa::AVX512);
  std::vector<float> a(8, 1.f), b(8 * 3, 1.f);
  auto taken = [&](const char* spelling, const std::vector<float>& x, const std::vector<float>& y) {
    return kernel(sim::parse_mac(spelling), x, y, nullptr, 1, 3, 8).taken;
  };
  CHECK(taken("h800.fp8", a, b) == kHas);
  std::vector<float> inf = a;
  inf[3] = INFINITY;
  CHECK_FALSE(taken("h800.fp8", inf, b));                                        // a value not finite
  CHECK_FALSE(taken("acc=e8m13,order=fused4,align=13", a, b));                   // fp32 operands: 48-bit products
  CHECK_FALSE(taken("in=fp16,acc=fp32,order=fused4,align=20", a, b));            // RNE into 24 bits
  CHECK_FALSE(taken("in=fp16,acc=e8m13,order=fused4,align=13,acc_round=ro", a, b));
  CHECK_FALSE(taken("in=fp16,acc=fp32,acc_round=rz,order=fused32,align=25", a, b));  // 32 terms of 2^27: past int32
  CHECK_FALSE(taken("in=fp8e4m3,acc=e8m13,acc_round=rz,order=fused32,align=13,promote=128,outer=e5m10", a, b));
  std::vector<float> huge = a;
  huge[0] = 0x1p100f;  // bf16: |a||b| = 2^200 is not a float
  CHECK_FALSE(taken("ampere.bf16", huge, huge));
  arith::set_isa(arith::Isa::AVX2);
  CHECK_FALSE(taken("h800.fp8", a, b));  // below the level
}
