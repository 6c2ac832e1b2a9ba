// The engine against its exact oracle (golden model) and against its golden
// model (fast paths), with event counts and thread-count invariance.
#include <doctest/doctest.h>
#include <omp.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "arith/golden.hpp"
#include "arith/isa.hpp"
#include "arith/quantize.hpp"
#include "mac_oracle.hpp"
#include "sim/dot.hpp"
#include "sim/float_lanes.hpp"
#include "sim/gemm.hpp"

using namespace lpsim;
using sim::GemmArgs;
using sim::MacConfig;

namespace {

// Deterministic configurations of every order, accumulator kind and edge.
const char* kOracleConfigs[] = {
    "acc=fp32",
    "in=fp16,acc=fp16",
    "in=bf16,acc=bf16,acc_round=rz",
    "in=fp8e4m3,acc=e5m10,acc_round=ro",
    "acc=e8m13,acc_round=rz,order=chunk16,outer=fp32",
    "in=fp16,acc=e5m7,order=pairwise",
    "in=fp16,acc=e5m7:nosub,acc_round=ru",
    "in=fp16,acc=e5m10:sat,acc_round=rd",
    "in=fp16,acc=e5m6,acc_round=rna,order=chunk5,outer=e5m10,outer_round=rz",
    "in=int8,acc=int16",
    "in=int8,acc=int16:wrap",
    "in=fx8.4,acc=fx16.6",
    "in=fx8.4,acc=fx12.3:wrap,acc_round=rna",
    "acc=fx24.12,acc_round=rd",
    "in=fp16,prod=bf16,acc=fp32",
    "in=fp16,prod=e5m4,prod_round=rz,acc=e6m9,order=pairwise",
    "volta.fp16",
    "ampere.fp16",
    "hopper.fp8",
    "h800.fp8",
    "hopper.fp8.mma.f16out",
    "blackwell.fp8e5m2.mma",
    "in=fp16,acc=e5m10,order=fused4,align=12,promote=12,interleave=2,outer=fp32",  // 3 steps, ragged last chunk
    "in=fp16,acc=fp32,order=fused4,align=10,promote=8,outer=fp32",
    "in=fp16,acc=e5m10,order=fused3,align=8,acc_round=rne",
    "in=fp16,acc=fp32,out=fp8e4m3",
    "in=fp8e5m2,acc=e4m3fn",
    "in=e4m3fnuz,acc=e5m2fnuz:sat,acc_round=ru,out=int8",
    "in=e4m3fnuz,acc=e5m2fnuz,acc_round=ru",
    // AMD CDNA steps: exact fused sum, pairwise trees with promotion, flush to zero, late C (+ split, c_drop)
    "in=fp16,acc=fp32,order=fused4,align=exact",
    "in=fp16,acc=e5m10,acc_round=rz,order=fused3,align=exact,promote=6,outer=fp32",
    "in=bf16,acc=fp32,order=pairwise,promote=2",
    "in=fp16:nosub,prod=fp32:nosub,acc=e5m10:nosub,order=pairwise,promote=4,outer=e5m10:nosub,outer_round=rd",
    "in=fp16,acc=fp32,order=fused8,align=24,c_late=31,zero_exp=-126",
    "in=bf16,acc=fp32,order=fused8,align=24,c_late=31",
    "in=fp8e5m2,acc=e5m10,order=fused8,align=12,c_late=16,split=2,c_drop=13,zero_exp=-20",
    "in=e4m3fnuz,acc=fp32,order=fused16,align=24,c_late=31,split=2,c_drop=25,zero_exp=-126",
    "in=fp16,acc=e5m10,order=fused4,align=12,c_late=14,prod_overflow=inf",
    "in=bf16,acc=e5m10,order=fused4,align=12,prod_overflow=inf",
    // edge semantics (MacConfig: overflow, nan, zero_exp, zero_sign)
    "hopper.fp16,zero_exp=-126,zero_sign=pos",
    "in=fp16,acc=e5m10,acc_round=rz,overflow=inf,nan=0x7fffffff",
    "in=fp16,acc=e5m7,acc_round=rd,order=pairwise,overflow=inf,nan=0x7fc00001",
    "in=bf16,acc=fp32,acc_round=rz,order=fused8,align=24,overflow=inf,zero_exp=-126,out=fp16,out_round=rz",
    "in=fp16,acc=e5m10,acc_round=ru,order=fused4,align=14,promote=8,outer=e5m10,outer_round=rz,overflow=inf,zero_sign=pos",
};

// Operand vectors that provoke each hazard of accumulation.
std::vector<float> draw(std::mt19937_64& g, int kind, std::size_t k, bool left) {
  std::normal_distribution<float> nd;
  std::uniform_int_distribution<int> wide(-30, 30);
  std::vector<float> v(k);
  for (std::size_t l = 0; l < k; ++l) {
    float x = nd(g);
    switch (kind) {
      case 0: x = std::ldexp(x, wide(g) / 8); break;                          // ordinary
      case 1: x = std::ldexp(x, wide(g)); break;                              // wide range
      case 2: x = (l % 2 && left) ? -v[l - 1] : x; break;                      // cancellation
      case 3: x = l == 0 ? 4096.f : std::ldexp(x, -12); break;               // swamping
      case 4: x = std::ldexp(x, 7) + (left ? 200.f : 150.f); break;          // overflow of narrow accumulators
      case 5: x = std::ldexp(x, -12 - int(l % 4)); break;                    // subnormal sums
      case 6: x = std::round(x * 40.f); break;                               // integers, fixed-point ranges
      default: x = (l % 7 == 3) ? INFINITY : x;                              // specials
    }
    v[l] = x;
  }
  return v;
}

void in_format(std::vector<float>& v, const std::optional<sim::Rounded>& f) {
  if (!f) return;
  for (auto& x : v) {
    double q;
    if (!arith::golden_quantize(x, f->format, f->rounding, {}, 0, q)) q = 0;  // NaN into fixed point: use 0
    x = float(q);
  }
}

// Zeros of the same sign; NaNs with the same float bits when nan= fixes them (any NaN otherwise).
bool same(double x, double y, bool nan_bits = false) {
  if (std::isnan(x) || std::isnan(y))
    return std::isnan(x) && std::isnan(y) &&
           (!nan_bits || std::bit_cast<std::uint32_t>(float(x)) == std::bit_cast<std::uint32_t>(float(y)));
  return x == y && std::signbit(x) == std::signbit(y);
}

std::string show(const std::vector<float>& v) {
  std::string s;
  for (float x : v) s += std::to_string(x) + " ";
  return s;
}

// The golden model and the exact oracle on one dot product (addend: D = A.B + C).
// A NaN that reaches a fixed-point format is an error in both models.
struct Both {
  double got = 0, want = 0;
  bool got_error = false, want_error = false;
  bool nan_bits = false;
  bool agree() const { return got_error == want_error && (got_error || same(got, want, nan_bits)); }
};

Both golden_and_oracle(const MacConfig& c, const std::vector<double>& a, const std::vector<double>& b,
                       const double* addend = nullptr) {
  Both r;
  r.nan_bits = c.nan_bits.has_value();
  sim::MacCounts counts;
  try {
    r.got = sim::dot_golden(c, a.data(), b.data(), 1, std::int64_t(a.size()), {}, {}, counts, addend);
  } catch (const std::domain_error&) {
    r.got_error = true;
  }
  try {
    r.want = simtest::mac_oracle(c, a, b, addend).d;
  } catch (const std::domain_error&) {
    r.want_error = true;
  }
  return r;
}

}  // namespace

TEST_CASE("golden model matches the exact rational oracle on random and adversarial dot products") {
  std::mt19937_64 g(2024);
  std::size_t checked = 0, mismatches = 0;
  for (const char* spelling : kOracleConfigs) {
    const MacConfig c = sim::parse_mac(spelling);
    for (int kind = 0; kind < 8; ++kind) {
      for (int trial = 0; trial < 40; ++trial) {
        const std::size_t k = std::size_t(1 + (trial * 37 + kind * 11) % 70);
        auto a = draw(g, kind, k, true), b = draw(g, kind, k, false);
        in_format(a, c.a);
        in_format(b, c.b);
        const Both r = golden_and_oracle(c, {a.begin(), a.end()}, {b.begin(), b.end()});
        ++checked;
        if (!r.agree()) {
          ++mismatches;
          if (mismatches <= 5)
            FAIL_CHECK(std::string(spelling) << " kind " << kind << " k " << k << ": golden " << r.got << " oracle " << r.want
                                             << " errors " << r.got_error << r.want_error << "\n a: " << show(a)
                                             << "\n b: " << show(b));
        }
      }
    }
  }
  MESSAGE("golden vs oracle: " << checked << " dot products, " << mismatches << " mismatches");
  CHECK(mismatches == 0);
}

namespace {

const char* kFastConfigs[] = {
    "blackwell.fp8.mma", "hopper.fp8e5m2.mma.f16out", "in=fp16,acc=fp32,order=fused2,align=30,promote=8,interleave=1,outer=e5m10",
    "fp32", "int8.int32", "fp16.fp32", "bf16.fp32", "fp16.fp16", "h800.fp8", "volta.fp16", "hopper.fp8",
    "in=fp16,acc=e5m7,order=pairwise",
    "in=fp16,acc=e5m10:sat,acc_round=rd,out=fp8e5m2",
    "in=int8,acc=int16:wrap",
    "in=fx8.4,acc=fx12.3:wrap,acc_round=rna",
    "acc=fx24.12,acc_round=rd",
    // integer accumulators in int32 lanes (int_gemm.hpp int32_rows): saturating, wrapping, unsigned
    "in=int8,acc=int16",
    "a=int4,b=uint4,acc=int10:wrap,out=fp32",
    "a=uint4,b=uint4,acc=uint10",
    "a=uint4,b=uint4,acc=uint9:wrap",
    "in=fx8.4,acc=fx16.8",
    "in=fp16,prod=bf16,acc=fp32",
    "in=bf16,in_round=sr,acc=bf16,acc_round=sr8",
    "in=fp16,acc=e5m10,acc_round=sr4,order=chunk32,outer=fp32,outer_round=sr8,out=bf16,out_round=sr",
    "in=fp16,prod=e5m4,prod_round=sr3,acc=e6m9,order=pairwise,acc_round=sr5",
    "in=fp8e5m2,acc=e4m3fn",
    "acc=fp32,out=fp16",
    // float-lanes, every rounding mode and special-value variant
    "in=fp8e4m3,acc=e5m10,acc_round=ro",
    "in=fp16,acc=e5m7:nosub,acc_round=ru",
    "in=fp16,acc=e5m6,acc_round=rna,order=chunk5,outer=e5m10,outer_round=rz",
    "in=e4m3fnuz,acc=e5m2fnuz:sat,acc_round=rd,order=chunk3,outer=e6m9,outer_round=ru,out=bf16",
    "in=int8,acc=fp16,order=chunk7,outer=fp32",
    // AMD CDNA steps (per-output and fused paths)
    "in=fp16,acc=fp32,order=fused4,align=exact",
    "in=bf16,acc=fp32,order=pairwise,promote=2",
    "in=fp16:nosub,prod=fp32:nosub,acc=fp32:nosub,order=pairwise,promote=4,outer=fp32:nosub",
    "in=fp8e5m2,acc=e5m10,order=fused8,align=12,c_late=16,split=2,c_drop=13,zero_exp=-20",
    // edge semantics on every path kind: tiled, fused-lanes, fused
    "in=fp16,acc=e5m10,acc_round=rz,overflow=inf,nan=0x7fffffff",
    "in=fp16,acc=e5m7,acc_round=rd,order=pairwise,overflow=inf,nan=0x7fc00001",
    "hopper.fp16,zero_exp=-126,zero_sign=pos",
    "in=fp16,acc=e5m10,acc_round=ru,order=fused4,align=14,promote=8,outer=e5m10,outer_round=rz,overflow=inf,zero_sign=pos",
    "in=bf16,acc=fp32,acc_round=rz,order=fused8,align=24,overflow=inf,out=fp16,out_round=rz,nan=0x7fffffff",
    "acc=fp32,out=e5m10,out_round=rz,overflow=inf,nan=0x7fffffff",
};

// Configurations and the path each takes (checked), on adversarial data.
const char* kLaneConfigs[][2] = {
    {"fp16.fp16", "float-lanes"},
    {"in=fp8e4m3,acc=e8m13,acc_round=rz,order=chunk128,outer=fp32", "float-lanes"},  // h800.fp8 before 2026-12
    {"h800.fp8", "fused-lanes"},
    {"in=fp8e4m3,acc=e5m10,acc_round=ro", "float-lanes"},
    {"in=fp16,acc=e5m7:nosub,acc_round=ru", "float-lanes"},
    {"in=fp16,acc=e5m10:sat,acc_round=rd,out=fp8e5m2", "float-lanes"},
    {"in=fp8e5m2,acc=e4m3fn", "float-lanes"},
    {"in=fp16,acc=e5m6,acc_round=rna,order=chunk5,outer=e5m10,outer_round=rz", "float-lanes"},
    {"in=e4m3fnuz,acc=e5m2fnuz:sat,acc_round=rd,order=chunk3,outer=e6m9,outer_round=ru,out=bf16", "float-lanes"},
    {"in=e4m3fnuz,acc=e5m2fnuz,acc_round=ru", "float-lanes"},
    {"in=int8,acc=fp16,order=chunk7,outer=fp32", "float-lanes"},
    {"in=fp16,acc=e5m10,acc_round=rz,out=e4m3fn", "float-lanes"},
    {"volta.fp16", "fused-lanes"},
    {"ampere.bf16", "fused-lanes"},
    {"ada.fp8", "fused-lanes"},
    {"hopper.fp8", "fused-lanes"},
    {"hopper.fp16.f16out", "fused-lanes"},
    {"in=fp16,acc=fp32,order=fused4,align=10,promote=8,outer=fp32", "fused-lanes"},
    {"in=fp16,acc=e5m10:sat,order=fused4,align=12,acc_round=rd", "fused-lanes"},
    {"in=e4m3fnuz,acc=e5m2fnuz,order=fused2,align=5,acc_round=ru", "fused-lanes"},
    {"in=fp8e5m2,acc=e6m9,order=fused8,align=11,acc_round=rna,promote=16,outer=e5m10,outer_round=ro", "fused-lanes"},
    {"acc=e8m13,order=fused3,align=30,acc_round=ro,out=fp16", "fused-lanes"},
    // edge semantics (overflow, nan, zero_exp, zero_sign) on the path each takes
    {"in=fp16,acc=e5m10,acc_round=rz,overflow=inf,nan=0x7fffffff", "tiled"},
    {"in=fp16,acc=e5m7,acc_round=rd,order=pairwise,overflow=inf,nan=0x7fc00001", "tiled"},
    {"acc=fp32,out=e5m10,out_round=rz,overflow=inf,nan=0x7fffffff", "tiled"},
    {"hopper.fp16,zero_sign=pos", "fused-lanes"},
    {"hopper.fp16,zero_exp=-126", "fused"},
    {"in=fp16,acc=e5m10,acc_round=ru,order=fused4,align=14,promote=8,outer=e5m10,outer_round=rz,overflow=inf,zero_sign=pos",
     "fused-lanes"},
    {"in=bf16,acc=fp32,acc_round=rz,order=fused8,align=24,overflow=inf,out=fp16,out_round=rz,nan=0x7fffffff", "fused-lanes"},
};

// The path a configuration takes at the ISA level in use (arith/isa.hpp): below AVX2 (LPSIM_ISA=scalar)
// the vector lanes give way to the golden arithmetic's paths.
std::string at_level(const std::string& path) {
  if (arith::use_avx2()) return path;
  return path == "fused-lanes" ? "fused" : path == "float-lanes" ? "tiled" : path;
}

struct Shape {
  std::int64_t m, n, k;
  bool ta, tb;
};

std::vector<float> matrix(std::mt19937_64& g, std::int64_t rows, std::int64_t cols, double scale) {
  std::normal_distribution<float> nd;
  std::vector<float> v(std::size_t(rows * cols));
  for (auto& x : v) x = float(nd(g) * scale);
  return v;
}

struct Run {
  std::vector<float> c;
  sim::GemmStats stats;
};

// addend: D = A.B + C with that C (m x n), else C's -7 fill must be overwritten.
Run run(bool golden, const MacConfig& cfg, const Shape& s, const std::vector<float>& a, const std::vector<float>& b,
        int threads, bool with_stats = true, const std::vector<float>* addend = nullptr) {
  Run r;
  r.c.assign(std::size_t(s.m * s.n), -7.f);
  if (addend) r.c = *addend;
  GemmArgs g{s.m, s.n, s.k, a.data(), s.ta ? s.m : s.k, s.ta, b.data(), s.tb ? s.k : s.n, s.tb, r.c.data(), s.n,
             addend != nullptr};
  omp_set_num_threads(threads);
  (golden ? sim::gemm_golden : sim::gemm)(cfg, g, {99, 3}, with_stats ? &r.stats : nullptr, {});
  omp_set_num_threads(2);
  return r;
}

}  // namespace

TEST_CASE("fast GEMM is bit-identical to the golden model, counts included, for any thread count") {
  const Shape shapes[] = {{1, 1, 1, false, false}, {3, 5, 7, false, true},   {17, 70, 33, true, false},
                          {9, 130, 129, true, true}, {4, 3, 0, false, false}, {2, 65, 300, false, false},
                          {13, 37, 600, false, false},
                          // one panel of B (A read in place, ragged rows packed), several k blocks
                          {14, 16, 1100, true, true}, {20, 9, 700, false, false}};
  std::mt19937_64 g(7);
  std::size_t outputs = 0, mismatches = 0;
  for (const char* spelling : kFastConfigs) {
    const MacConfig cfg = sim::parse_mac(spelling);
    for (const auto& s : shapes) {
      const double scale = cfg.acc.format.kind == arith::Kind::Fixed ? 30.0 : 3.0;
      const auto a = matrix(g, s.m, s.k, scale), b = matrix(g, s.k, s.n, scale);
      const Run want = run(true, cfg, s, a, b, 1);
      for (int threads : {1, 2}) {
        const Run got = run(false, cfg, s, a, b, threads);
        INFO(std::string(spelling) << " path " << sim::gemm_path(cfg) << " m=" << s.m << " n=" << s.n << " k=" << s.k
                      << " threads=" << threads);
        std::size_t bad = 0;
        for (std::size_t q = 0; q < want.c.size(); ++q)
          bad += std::memcmp(&want.c[q], &got.c[q], sizeof(float)) != 0;
        outputs += want.c.size();
        mismatches += bad;
        CHECK(bad == 0);
        CHECK(got.stats.counts == want.stats.counts);
        // Without statistics some paths take other kernels: the values must not change.
        const Run plain = run(false, cfg, s, a, b, threads, false);
        CHECK(std::memcmp(plain.c.data(), want.c.data(), want.c.size() * sizeof(float)) == 0);
      }
    }
  }
  MESSAGE("fast vs golden: " << outputs << " outputs compared, " << mismatches << " mismatches");
}

TEST_CASE("vector-lane GEMM paths match the golden model on adversarial data") {
  // A's rows and B's columns drawn as the oracle test's hazards: swamping,
  // cancellation, overflow, subnormal sums, infinities; m and n not multiples
  // of the 4 x 16 block.
  std::mt19937_64 g(11);
  const std::int64_t m = 6, n = 21, k = 70;
  std::size_t outputs = 0, mismatches = 0;
  for (const auto& entry : kLaneConfigs) {
    const char *spelling = entry[0], *path = entry[1];
    const MacConfig cfg = sim::parse_mac(spelling);
    REQUIRE_MESSAGE(std::string(sim::gemm_path(cfg)) == at_level(path), spelling);
    for (int kind = 0; kind < 8; ++kind) {
      std::vector<float> a(std::size_t(m * k)), b(std::size_t(k * n));
      for (std::int64_t i = 0; i < m; ++i) {
        const auto row = draw(g, kind, std::size_t(k), true);
        std::copy(row.begin(), row.end(), a.begin() + i * k);
      }
      for (std::int64_t j = 0; j < n; ++j) {
        const auto col = draw(g, kind, std::size_t(k), false);
        for (std::int64_t l = 0; l < k; ++l) b[std::size_t(l * n + j)] = col[std::size_t(l)];
      }
      const Shape s{m, n, k, false, false};
      // Without and with an adversarial C (D = A.B + C: fused-lanes starts from it).
      std::vector<float> addend = draw(g, kind, std::size_t(m * n), true);
      if (cfg.acc.format.kind == arith::Kind::Fixed) in_format(addend, sim::Rounded{cfg.acc.format, {}});
      const std::vector<float>* none = nullptr;
      for (const std::vector<float>* c : {none, static_cast<const std::vector<float>*>(&addend)}) {
        const Run want = run(true, cfg, s, a, b, 1, true, c);
        const Run got = run(false, cfg, s, a, b, 2, false, c);
        std::size_t bad = 0;
        for (std::size_t q = 0; q < want.c.size(); ++q) bad += std::memcmp(&want.c[q], &got.c[q], sizeof(float)) != 0;
        INFO(std::string(spelling) << " kind " << kind << std::string(c ? " with C" : ""));
        CHECK(bad == 0);
        outputs += want.c.size();
        mismatches += bad;
      }
    }
  }
  MESSAGE("vector lanes vs golden on adversarial data: " << outputs << " outputs, " << mismatches << " mismatches");
}

TEST_CASE("statistics report K, usage frequency, depth, events and error") {
  std::mt19937_64 g(1);
  const Shape s{8, 12, 4096, false, false};
  const auto a = matrix(g, s.m, s.k, 1.0), b = matrix(g, s.k, s.n, 1.0);
  std::vector<float> c(std::size_t(s.m * s.n));
  GemmArgs args{s.m, s.n, s.k, a.data(), s.k, false, b.data(), s.n, false, c.data(), s.n};
  sim::GemmStats wide, narrow;
  sim::gemm(sim::parse_mac("fp16.fp32"), args, {}, &wide, {true, true, 5, "fc1/fwd"});
  sim::gemm(sim::parse_mac("fp16.fp16"), args, {}, &narrow, {true, true, 5, "fc1/fwd"});
  CHECK(wide.k == 4096);
  CHECK(wide.usage_a == 12);
  CHECK(wide.usage_b == 8);
  CHECK(wide.depth == 5);
  CHECK(wide.tag == "fc1/fwd");
  CHECK(wide.counts.additions == std::uint64_t(8 * 12 * 4096));
  // A 4096-term fp16 accumulation loses far more than an fp32 one, and swamps addends.
  CHECK(narrow.mean_rel_error > 20 * wide.mean_rel_error);
  CHECK(narrow.sqnr_db < wide.sqnr_db - 20);
  CHECK(narrow.counts.swamped > wide.counts.swamped);
  CHECK(wide.sqnr_db > 100);
  // Overflow of an fp16 accumulator: large operands overflow to infinity.
  std::vector<float> big(std::size_t(s.k * std::max(s.m, s.n)), 300.f);
  sim::GemmStats ov;
  sim::gemm(sim::parse_mac("fp16.fp16"), {s.m, s.n, s.k, big.data(), s.k, false, big.data(), s.n, false, c.data(), s.n}, {}, &ov, {});
  CHECK(ov.counts.overflows > 0);
}

TEST_CASE("bad GEMM arguments name the problem") {
  std::vector<float> a(6), b(6), c(4);
  const MacConfig cfg = sim::parse_mac("fp32");
  CHECK_THROWS_WITH_AS(sim::gemm(cfg, {2, 2, 3, a.data(), 2, false, b.data(), 2, false, c.data(), 2}),
                       doctest::Contains("lda=2 < 3"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(sim::gemm(cfg, {2, 2, 3, nullptr, 3, false, b.data(), 2, false, c.data(), 2}),
                       doctest::Contains("A is null"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(sim::gemm(cfg, {-1, 2, 3, a.data(), 3, false, b.data(), 2, false, c.data(), 2}),
                       doctest::Contains("negative size"), std::invalid_argument);
}

TEST_CASE("operands without a format take float lanes when their values multiply exactly in float") {
  std::mt19937_64 g(3);
  std::uniform_int_distribution<int> q(-128, 127);
  const std::int64_t m = 7, n = 19, k = 150;
  // Values a power-of-two-scaled int8 quantizer (pow2, MX) produces: 8 significant bits at most.
  std::vector<float> a(std::size_t(m * k)), b(std::size_t(k * n));
  for (auto& x : a) x = std::ldexp(float(q(g)), -6);
  for (auto& x : b) x = std::ldexp(float(q(g)), -3);
  CHECK(sim::float_products_exact(a.data(), a.size(), b.data(), b.size()));
  for (const char* spelling : {"acc=e5m10,acc_round=rz", "acc=e8m13,order=chunk16,outer=fp32", "acc=e6m9:sat,acc_round=rna"}) {
    const MacConfig cfg = sim::parse_mac(spelling);
    REQUIRE(sim::float_lanes_accumulation(cfg) == arith::use_avx2());  // AVX2 lanes (arith/isa.hpp)
    const Shape s{m, n, k, false, false};
    const Run want = run(true, cfg, s, a, b, 1), got = run(false, cfg, s, a, b, 2, false);
    CHECK_MESSAGE(std::memcmp(want.c.data(), got.c.data(), want.c.size() * sizeof(float)) == 0, spelling);
  }
  // Too many bits, products below float's grid, or beyond its range: not exact.
  std::vector<float> wide{1.0f + 0x1p-20f}, narrow{1.5f}, tiny{0x1p-100f}, huge{0x1p100f};
  CHECK_FALSE(sim::float_products_exact(wide.data(), 1, wide.data(), 1));
  CHECK(sim::float_products_exact(wide.data(), 1, narrow.data(), 1));
  CHECK_FALSE(sim::float_products_exact(tiny.data(), 1, tiny.data(), 1));
  CHECK_FALSE(sim::float_products_exact(huge.data(), 1, huge.data(), 1));
  CHECK(sim::float_products_exact(tiny.data(), 1, huge.data(), 1));
}

TEST_CASE("D = A.B + C: the golden model matches the exact oracle, and every path the golden model") {
  // C as given (not rounded first) is the accumulator's initial value, the
  // outer accumulator's with promotion, one more addition for pairwise.
  std::mt19937_64 g(515);
  std::size_t checked = 0, mismatches = 0;
  for (const char* spelling : kOracleConfigs) {
    const MacConfig c = sim::parse_mac(spelling);
    for (int kind = 0; kind < 8; ++kind)
      for (int trial = 0; trial < 20; ++trial) {
        const std::size_t k = std::size_t((trial * 37 + kind * 11) % 70);  // k = 0 included: D = C
        auto a = draw(g, kind, std::max<std::size_t>(k, 1), true), b = draw(g, kind, std::max<std::size_t>(k, 1), false);
        a.resize(k), b.resize(k);
        in_format(a, c.a);
        in_format(b, c.b);
        const double addend = double(draw(g, kind, 1, trial % 2 == 0)[0]);
        const Both r = golden_and_oracle(c, {a.begin(), a.end()}, {b.begin(), b.end()}, &addend);
        ++checked;
        if (!r.agree()) {
          ++mismatches;
          if (mismatches <= 5)
            FAIL_CHECK(std::string(spelling) << " kind " << kind << " k " << k << " c " << addend << ": golden " << r.got
                                             << " oracle " << r.want << "\n a: " << show(a) << "\n b: " << show(b));
        }
      }
  }
  MESSAGE("golden vs oracle with C: " << checked << " dot products, " << mismatches << " mismatches");
  CHECK(mismatches == 0);

  const Shape shapes[] = {{3, 5, 7, false, true}, {17, 70, 33, true, false}, {4, 3, 0, false, false}, {13, 37, 300, false, false}};
  std::size_t outputs = 0;
  for (const char* spelling : kFastConfigs) {
    const MacConfig cfg = sim::parse_mac(spelling);
    for (const auto& s : shapes) {
      const double scale = cfg.acc.format.kind == arith::Kind::Fixed ? 30.0 : 3.0;
      const auto a = matrix(g, s.m, s.k, scale), b = matrix(g, s.k, s.n, scale);
      auto c0 = matrix(g, s.m, s.n, scale * scale);
      if (cfg.acc.format.kind == arith::Kind::Fixed) {  // C on the accumulator's grid (small values: exact in float)
        std::vector<double> cd(c0.begin(), c0.end());
        arith::quantize(cd.data(), cd.data(), cd.size(), cfg.acc.format, {}, {}, 0);
        c0.assign(cd.begin(), cd.end());
      }
      const Run want = run(true, cfg, s, a, b, 1, true, &c0);
      for (int threads : {1, 2}) {
        INFO(std::string(spelling) << " m=" << s.m << " n=" << s.n << " k=" << s.k << " threads=" << threads);
        const Run got = run(false, cfg, s, a, b, threads, true, &c0);
        CHECK(std::memcmp(got.c.data(), want.c.data(), want.c.size() * sizeof(float)) == 0);
        CHECK(got.stats.counts == want.stats.counts);
        const Run plain = run(false, cfg, s, a, b, threads, false, &c0);
        CHECK(std::memcmp(plain.c.data(), want.c.data(), want.c.size() * sizeof(float)) == 0);
        outputs += want.c.size();
      }
      // C = 0 gives A.B (seq and fused orders start from zero anyway).
      if (cfg.order != sim::Order::Pairwise) {
        const std::vector<float> zeros(std::size_t(s.m * s.n), 0.f);
        const Run with_zero = run(false, cfg, s, a, b, 2, false, &zeros), without = run(false, cfg, s, a, b, 2, false);
        CHECK(std::memcmp(with_zero.c.data(), without.c.data(), without.c.size() * sizeof(float)) == 0);
      }
    }
  }
  MESSAGE("fast vs golden with C: " << outputs << " outputs");
}

TEST_CASE("D = A.B + C in fp32 is the FMA chain started from C; a fused step aligns C with the products") {
  // fp32: fmaf(a_l, b_l, acc) from acc = C, the textbook chain.
  const MacConfig fp32 = sim::parse_mac("fp32");
  const std::vector<double> a = {1.5, -0x1p-30, 3.0}, b = {0x1p-3, 1.0, 0.25};
  const double c = 0x1p24;
  float chain = float(c);
  for (int l = 0; l < 3; ++l) chain = std::fma(float(a[std::size_t(l)]), float(b[std::size_t(l)]), chain);
  sim::MacCounts counts;
  CHECK(sim::dot_golden(fp32, a.data(), b.data(), 1, 3, {}, {}, counts, &c) == double(chain));
  // volta.fp16 (fused4, 23 bits kept below the largest exponent): C = 2^24
  // sets that exponent, so a product of 2^-1 falls below the grid of 2 and is lost.
  const MacConfig volta = sim::parse_mac("volta.fp16");
  const std::vector<double> x = {0.5, 0.0, 0.0, 0.0}, y = {1.0, 1.0, 1.0, 1.0};
  CHECK(sim::dot_golden(volta, x.data(), y.data(), 1, 4, {}, {}, counts, &c) == 0x1p24);
  const double c2 = 0x1p20;  // grid 2^-3: kept exactly
  CHECK(sim::dot_golden(volta, x.data(), y.data(), 1, 4, {}, {}, counts, &c2) == 0x1p20 + 0.5);
}

TEST_CASE("edge semantics: overflow=inf, nan=, zero_exp and zero_sign as the tensor-core models define them") {
  sim::MacCounts counts;
  auto dot = [&](const char* spelling, std::vector<double> a, std::vector<double> b, const double* c = nullptr) {
    return sim::dot_golden(sim::parse_mac(spelling), a.data(), b.data(), 1, std::int64_t(a.size()), {}, {}, counts, c);
  };
  auto bits = [](double x) { return std::bit_cast<std::uint32_t>(float(x)); };
  const double inf = INFINITY;

  // overflow=inf: beyond the largest finite value once rounded with the exponent unbounded.
  CHECK(dot("in=fp16,acc=fp16,acc_round=rz", {60000, 60000}, {1, 1}) == 65504);  // IEEE 754: RZ keeps max
  CHECK(dot("in=fp16,acc=fp16,acc_round=rz,overflow=inf", {60000, 60000}, {1, 1}) == inf);
  CHECK(dot("in=fp16,acc=fp16,acc_round=rz,overflow=inf", {-60000, -60000}, {1, 1}) == -inf);
  CHECK(dot("in=fp16,acc=fp16,acc_round=rz,overflow=inf", {65504, 16}, {1, 1}) == 65504);  // 65520 truncates to max
  CHECK(dot("in=fp16,acc=fp16,acc_round=ru,overflow=inf", {-65504, -16}, {1, 1}) == -65504);
  CHECK(dot("in=fp16,acc=fp16,acc_round=rd,overflow=inf", {-65504, -16}, {1, 1}) == -inf);  // IEEE already
  // A tensor-core step: C = FLT_MAX plus 2^104 truncates to exactly 2^128.
  const double fmax = double(std::numeric_limits<float>::max());
  CHECK(dot("hopper.bf16,overflow=ieee", {0x1p60}, {0x1p44}, &fmax) == fmax);
  CHECK(dot("hopper.bf16", {0x1p60}, {0x1p44}, &fmax) == inf);
  // The same through the fast path (fused-lanes) and without C: 1.5*2^127 twice.
  {
    const MacConfig hb = sim::parse_mac("hopper.bf16");
    REQUIRE(std::string(sim::gemm_path(hb)) == at_level("fused-lanes"));
    std::vector<float> a = {0x1.8p127f, 0x1.8p127f}, b(2 * 9, 1.f), c(9, 0.f);
    GemmArgs g{1, 9, 2, a.data(), 2, false, b.data(), 9, false, c.data(), 9};
    sim::gemm(hb, g);
    for (float x : c) CHECK(x == INFINITY);
    sim::gemm(sim::parse_mac("hopper.bf16,overflow=ieee"), g);
    for (float x : c) CHECK(double(x) == fmax);
  }

  // nan=: the hardware's NaN bits (NVIDIA 0x7fffffff; fp16 0x7fff held in a float: 0x7fffe000).
  CHECK(bits(dot("hopper.fp16", {inf, 1}, {0, 1})) == 0x7fffffffu);
  CHECK(bits(dot("hopper.fp16.f16out", {inf, -inf}, {1, 1})) == 0x7fffe000u);
  CHECK(std::isnan(dot("hopper.fp16,nan=ieee", {inf, 1}, {0, 1})));
  for (const char* spelling : {"hopper.fp16", "fp32,nan=0x7fffffff", "in=fp16,acc=e5m7,order=pairwise,nan=0x7fffffff"}) {
    const MacConfig cfg = sim::parse_mac(spelling);
    std::vector<float> a = {INFINITY, 1, 2, 3}, b(4 * 5, 1.f), c(5, 0.f);
    b[0] = 0;  // inf * 0 in column 0
    GemmArgs g{1, 5, 4, a.data(), 4, false, b.data(), 5, false, c.data(), 5};
    sim::gemm(cfg, g);
    INFO(spelling);
    CHECK(std::bit_cast<std::uint32_t>(c[0]) == 0x7fffffffu);
    CHECK(c[1] == INFINITY);
  }

  // zero_exp=-126 (MMA-Sim): zeros take part in the alignment. The zero factor of 0 * 2^127 gives
  // exponent -126 + 127 = 1, so 2^-100 falls below the grid 2^(1-24) and the step is +0.
  CHECK(dot("hopper.bf16", {0, 0x1p-100}, {0x1p127, 1}) == 0x1p-100);
  const double r = dot("hopper.bf16,zero_exp=-126", {0, 0x1p-100}, {0x1p127, 1});
  CHECK((r == 0 && !std::signbit(r)));
  // zero_sign=pos: a step that underflows to zero (RZ) or sums zeros gives +0.
  CHECK(std::signbit(dot("hopper.bf16", {-0x1p-100}, {0x1p-60})));  // -2^-160 truncates to -0
  CHECK(!std::signbit(dot("hopper.bf16,zero_sign=pos", {-0x1p-100}, {0x1p-60})));
  const double nz = -0.0;
  CHECK(std::signbit(dot("hopper.bf16", {-0.0}, {1}, &nz)));
  CHECK(!std::signbit(dot("hopper.bf16,zero_sign=pos", {-0.0}, {1}, &nz)));
  // zero_exp with C = 0: the grid is at most 2^(-126-25), so -2^-160 is truncated to an integer 0: +0.
  CHECK(!std::signbit(dot("hopper.bf16,zero_exp=-126", {-0x1p-100}, {0x1p-60})));

  // Spelled and refused.
  CHECK(sim::parse_mac("hopper.fp16").spelling().find("overflow=inf,nan=0x7fffffff") != std::string::npos);
  for (const char* bad : {"acc=fp32,zero_exp=-126", "acc=fp32,zero_sign=pos", "acc=fp32,nan=0x7f800000",
                          "acc=fp32,nan=0x7f800001", "acc=fp32,nan=7fffffff", "acc=fp32,overflow=max",
                          "hopper.fp16,zero_exp=400", "hopper.fp16,zero_sign=neg"}) {
    INFO(bad);
    CHECK_THROWS_AS(sim::parse_mac(bad), std::invalid_argument);
  }
}

TEST_CASE("AMD CDNA presets: exact blocks (MI100), flush to zero (MI250), late C rounded down (MI300)") {
  sim::MacCounts counts;
  auto dot = [&](const char* spelling, std::vector<double> a, std::vector<double> b, double c = 0) {
    return sim::dot_golden(sim::parse_mac(spelling), a.data(), b.data(), 1, std::int64_t(a.size()), {}, {}, counts, &c);
  };
  // 1 + 2^-24 + 2^-24: exact and rounded once (MI100, Khattak-Mikaitis) keeps 2^-23; a pairwise
  // tree of fp32 additions (MMA-Sim CDNA1) loses each 2^-24 to a tie rounded to even.
  CHECK(dot("cdna1.fp16", {1, 0x1p-24, 0x1p-24, 0}, {1, 1, 1, 1}) == 1 + 0x1p-23);
  CHECK(dot("cdna1.fp16.pairwise", {1, 0x1p-24, 0x1p-24, 0}, {1, 1, 1, 1}) == 1);
  // MI250 flushes subnormal inputs (2^-24 is an fp16 subnormal) and results below 2^-126; MI100 keeps them.
  auto gemm1 = [](const char* spelling, std::vector<float> a, std::vector<float> b) {
    float c = -7;
    sim::gemm(sim::parse_mac(spelling), GemmArgs{1, 1, std::int64_t(a.size()), a.data(), std::int64_t(a.size()), false,
                                                 b.data(), 1, false, &c, 1});
    return c;
  };
  CHECK(gemm1("cdna2.fp16", {0x1p-24f, 1}, {1, 0}) == 0);
  CHECK(gemm1("cdna1.fp16", {0x1p-24f, 1}, {1, 0}) == 0x1p-24f);
  CHECK(gemm1("cdna2.bf16", {0x1p-70f}, {0x1p-70f}) == 0);  // a product below 2^-126
  CHECK(gemm1("cdna1.bf16", {0x1p-70f}, {0x1p-70f}) == 0x1p-140f);
  // MI300: C joins late, floored to 24 bits below the products' exponent: a tiny negative C takes
  // one unit 2^-24 off (round down), where an exact sum would round back to 1.
  CHECK(dot("cdna3.fp16", {1}, {1}, -0x1p-40) == 1 - 0x1p-24);
  CHECK(dot("cdna1.fp16", {1}, {1}, -0x1p-40) == 1);
  CHECK(dot("cdna3.fp16", {1}, {1}, 0x1p-40) == 1);  // floored up to nothing
  // fp8: a C more than 25 binades below is left out (c_drop=25); 24 below still takes its unit off.
  CHECK(dot("cdna3.fp8", {1}, {1}, -0x1p-40) == 1);
  CHECK(dot("cdna3.fp8", {1}, {1}, -0x1p-24) == 1 - 0x1p-24);
}

namespace {

// A random value of the scale kind: powers of two across a wide range (ue8m0), or e4m3 values >= 0 (ue4m3),
// with some zeros for ue4m3.
double draw_scale(std::mt19937_64& g, sim::ScaleKind kind) {
  std::uniform_int_distribution<int> e8(-40, 40), code(0, 126);
  if (kind == sim::ScaleKind::UE8M0) return std::ldexp(1.0, e8(g));
  double v;
  arith::golden_quantize(std::ldexp(1.0 + (code(g) % 8) / 8.0, code(g) % 16 - 9), arith::parse_format("e4m3fn"), {}, {}, 0, v);
  return code(g) < 6 ? 0.0 : v;
}

}  // namespace

TEST_CASE("block-scaled MMA: golden against the exact oracle, every path against golden, bad scales refused") {
  const char* configs[] = {
      "blackwell.mxfp8", "blackwell.mxfp8e5m2", "blackwell.mxfp6e2m3", "blackwell.mxfp4", "blackwell.nvfp4",
      "blackwell.mxfp4,block=16", "blackwell.nvfp4,zero_exp=-126,zero_sign=pos", "blackwell.mxfp8,a=fp8e5m2",
      "blackwell.mxfp8,zero_exp=-126,promote=64,outer=fp32",
      "in=fp8e4m3,acc=e8m13,acc_round=rz,order=fused16,align=13,scale=ue8m0,block=32",  // block > step
  };
  std::mt19937_64 g(77);
  std::size_t checked = 0, mismatches = 0, outputs = 0;
  for (const char* spelling : configs) {
    const MacConfig cfg = sim::parse_mac(spelling);
    INFO(spelling);
    const std::int64_t m = 5, n = 7, k = 128, kb = k / cfg.block;
    for (int kind = 0; kind < 8; ++kind) {
      std::vector<float> a(std::size_t(m * k)), b(std::size_t(k * n)), sa(std::size_t(m * kb)), sb(std::size_t(kb * n));
      for (std::int64_t i = 0; i < m; ++i) {
        auto row = draw(g, kind % 7, std::size_t(k), true);  // no infinities: the formats lack them
        std::copy(row.begin(), row.end(), a.begin() + i * k);
      }
      for (std::int64_t j = 0; j < n; ++j) {
        const auto col = draw(g, kind % 7, std::size_t(k), false);
        for (std::int64_t l = 0; l < k; ++l) b[std::size_t(l * n + j)] = col[std::size_t(l)];
      }
      in_format(a, cfg.a);
      in_format(b, cfg.b);
      for (auto& s : sa) s = float(draw_scale(g, cfg.scale));
      for (auto& s : sb) s = float(draw_scale(g, cfg.scale));
      if (kind == 7) sa[1] = NAN;  // a NaN scale: NaN results in that row
      std::vector<float> c0 = matrix(g, m, n, 2.0);
      // Golden against the oracle, output by output.
      for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t j = 0; j < n; ++j) {
          const std::vector<double> ar(a.begin() + i * k, a.begin() + (i + 1) * k);
          std::vector<double> bc(static_cast<std::size_t>(k)), sar, sbc;
          for (std::int64_t l = 0; l < k; ++l) bc[std::size_t(l)] = b[std::size_t(l * n + j)];
          for (std::int64_t q = 0; q < kb; ++q) sar.push_back(sa[std::size_t(i * kb + q)]), sbc.push_back(sb[std::size_t(q * n + j)]);
          const double addend = c0[std::size_t(i * n + j)];
          const sim::TermScales ts{sar.data(), sbc.data(), 1};
          sim::MacCounts counts;
          const double got = sim::dot_golden(cfg, ar.data(), bc.data(), 1, k, {}, {}, counts, &addend, &ts);
          const double want = cfg.promote ? got : simtest::scaled_oracle(cfg, ar, bc, sar, sbc, &addend).d;
          ++checked;
          if (!same(got, want, true)) {
            ++mismatches;
            if (mismatches <= 3) FAIL_CHECK("kind " << kind << " (" << i << "," << j << "): golden " << got << " oracle " << want);
          }
        }
      // The fast GEMM against the golden one, with and without C, 1 and 2 threads.
      for (bool add_c : {false, true})
        for (int threads : {1, 2}) {
          std::vector<float> want = c0, got = c0;
          GemmArgs ga{m, n, k, a.data(), k, false, b.data(), n, false, want.data(), n, add_c, sa.data(), sb.data()};
          sim::gemm_golden(cfg, ga);
          ga.c = got.data();
          omp_set_num_threads(threads);
          sim::gemm(cfg, ga);
          omp_set_num_threads(2);
          CHECK(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)) == 0);
          outputs += want.size();
        }
    }
  }
  MESSAGE("block-scaled: " << checked << " outputs golden vs oracle, " << mismatches << " mismatches; " << outputs
                           << " fast vs golden");
  CHECK(mismatches == 0);

  // A scale puts its exponent into the alignment: 1 * 2^20 (scaled) next to 1 (unscaled block) keeps
  // 25 bits below 2^20, so 1 * 2^-10 in the second block is lost; without the first scale it is kept.
  {
    std::vector<double> a = {1, 0x1p-10}, b = {1, 1};
    std::vector<double> sa = {0x1p20, 1}, sb = {1, 1};
    const sim::TermScales ts{sa.data(), sb.data(), 1};
    sim::MacCounts counts;
    CHECK(sim::dot_golden(sim::parse_mac("in=fp8e4m3,acc=fp32,acc_round=rz,order=fused2,align=25,scale=ue8m0,block=1"),
                          a.data(), b.data(), 1, 2, {}, {}, counts, nullptr, &ts) == 0x1p20);
    sa[0] = 0x1p10;
    CHECK(sim::dot_golden(sim::parse_mac("in=fp8e4m3,acc=fp32,acc_round=rz,order=fused2,align=25,scale=ue8m0,block=1"),
                          a.data(), b.data(), 1, 2, {}, {}, counts, nullptr, &ts) == 0x1p10 + 0x1p-10);
  }
  // Bad scales and arguments name the problem.
  const MacConfig nv = sim::parse_mac("blackwell.nvfp4"), m8 = sim::parse_mac("blackwell.mxfp8");
  std::vector<float> a(64, 1.f), b(64, 1.f), c(1), s4(4, 1.f), s2(2, 1.f);
  auto refused = [&](const MacConfig& cfg, std::int64_t k, const float* sa, const float* sb, const char* what) {
    GemmArgs ga{1, 1, k, a.data(), k, false, b.data(), 1, false, c.data(), 1, false, sa, sb};
    try {
      sim::gemm(cfg, ga);
      FAIL("accepted: " << std::string(what));
    } catch (const std::invalid_argument& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(what) != std::string::npos);
    }
  };
  refused(nv, 64, nullptr, nullptr, "needs both scale arrays");
  refused(nv, 40, s4.data(), s4.data(), "not a multiple of the scale block");
  refused(sim::parse_mac("fp32"), 64, s4.data(), s4.data(), "has no scale=");
  s4[2] = -1;
  refused(nv, 64, s4.data(), s4.data(), "scale_a[0, 2] = -1 is not a ue4m3");
  s2[1] = 3;
  refused(m8, 64, s2.data(), s2.data(), "scale_a[0, 1] = 3 is not a ue8m0");
  for (const char* bad : {"blackwell.mxfp8,block=24", "in=fp8e4m3,acc=fp32,scale=ue8m0,block=32", "blackwell.mxfp8,scale=e8m0",
                          "in=fp16,acc=fp32,order=fused16,align=25,scale=ue8m0,block=16,subsum=16",
                          "blackwell.mxfp4,subsum=12", "in=fp8e4m3,acc=fp32,order=fused32,align=25,block=32"}) {
    INFO(bad);
    CHECK_THROWS_AS(sim::parse_mac(bad), std::invalid_argument);
  }
}
