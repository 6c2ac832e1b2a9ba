// The fma-fp32 GEMM (sim/fma_gemm.hpp) and the direct convolutions
// (sim/conv_direct.hpp) at every ISA level the host has (arith::isa_levels():
// scalar, AVX2 and AVX-512 kernels), each against the golden model bit for
// bit, and the levels against each other: shapes off the register tiles, k
// past the k blocks, every layout, leading dimensions past the matrix, NaN,
// infinities, subnormals and signed zeros, several thread counts.
#include <doctest/doctest.h>
#include <omp.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "arith/isa.hpp"
#include "sim/conv.hpp"
#include "sim/conv_direct.hpp"
#include "sim/gemm.hpp"

using namespace lpsim;

namespace {

// Restores the ISA level in use when the test leaves.
struct IsaGuard {
  arith::Isa saved = arith::isa();
  ~IsaGuard() { arith::set_isa(saved); }
};

// Mismatches: bits differ, unless both are NaN (the model leaves a NaN's payload open).
std::size_t mismatches(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return a.size() + b.size();
  std::size_t bad = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    bad += std::bit_cast<std::uint32_t>(a[i]) != std::bit_cast<std::uint32_t>(b[i]) &&
           !(std::isnan(a[i]) && std::isnan(b[i]));
  return bad;
}

// Values of one hazard: 0 ordinary, 1 wide exponents (overflow to inf), 2
// subnormal operands and sums, 3 signed zeros and exact cancellations, 4 a
// sprinkling of inf and NaN.
std::vector<float> values(std::mt19937_64& g, std::size_t n, int kind) {
  std::normal_distribution<float> nd;
  std::uniform_int_distribution<int> e(-60, 60), pick(0, 19);
  std::vector<float> v(n);
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (auto& x : v) {
    x = nd(g);
    const int p = pick(g);
    switch (kind) {
      case 1: x = std::ldexp(x, e(g)); break;
      case 2: x = p < 10 ? std::ldexp(x, -130 + p) : std::ldexp(x, -10); break;
      case 3: x = p < 5 ? 0.f : p < 10 ? -0.f : std::round(x * 4.f); break;
      case 4: x = p == 0 ? inf : p == 1 ? -inf : p == 2 && g() % 8 == 0 ? nan : x; break;
      default: break;
    }
  }
  return v;
}

struct Shape {
  std::int64_t m, n, k;
};

// Tiles are 6x16 (AVX2) and 12x32 (AVX-512); k blocks 512 and 384; AVX-512
// column blocks 512 wide.
const Shape kShapes[] = {{1, 1, 1},    {1, 40, 3},     {13, 1, 7},    {12, 32, 384},  {11, 31, 385},
                         {25, 65, 770}, {37, 17, 1200}, {5, 600, 50},  {130, 530, 41}, {64, 64, 64},
                         {3, 1100, 9},  {200, 3, 100},  {24, 96, 1025}};

}  // namespace

TEST_CASE("fma-fp32 GEMM: every ISA level equals the golden model bit for bit") {
  IsaGuard guard;
  const sim::MacConfig cfg = sim::parse_mac("fp32");
  std::mt19937_64 g(2026);
  std::size_t outputs = 0, bad_total = 0;
  const int threads = omp_get_max_threads();
  int shape_index = 0;
  for (const Shape& s : kShapes) {
    const int kind = shape_index++ % 5;
    for (int layout = 0; layout < 4; ++layout) {
      const bool ta = layout & 1, tb = layout & 2;
      // Leading dimensions past the matrix: the kernels must read only op(A)'s and op(B)'s elements.
      const std::int64_t lda = (ta ? s.m : s.k) + 3, ldb = (tb ? s.k : s.n) + 5, ldc = s.n + 2;
      const auto a = values(g, std::size_t((ta ? s.k : s.m) * lda), kind);
      const auto b = values(g, std::size_t((tb ? s.n : s.k) * ldb), kind);
      std::vector<float> want(std::size_t(s.m * ldc), -7.f);
      sim::gemm_golden(cfg, {s.m, s.n, s.k, a.data(), lda, ta, b.data(), ldb, tb, want.data(), ldc});
      std::vector<std::vector<float>> by_level;
      for (arith::Isa level : arith::isa_levels()) {
        arith::set_isa(level);
        REQUIRE(std::string(sim::gemm_path(cfg)) == "fma-fp32");
        for (int t : {1, 2, 3}) {
          omp_set_num_threads(t);
          std::vector<float> got(want.size(), -7.f);  // the -7 past column n must survive
          sim::gemm(cfg, {s.m, s.n, s.k, a.data(), lda, ta, b.data(), ldb, tb, got.data(), ldc});
          omp_set_num_threads(threads);
          const std::size_t bad = mismatches(got, want);
          INFO("level " << arith::isa_name(level) << " m=" << s.m << " n=" << s.n << " k=" << s.k << " trans_a=" << ta
                        << " trans_b=" << tb << " kind " << kind << " threads " << t);
          CHECK(bad == 0);
          outputs += got.size(), bad_total += bad;
          if (t == 1 && level >= arith::Isa::AVX2) by_level.push_back(got);
        }
      }
      // The vector levels agree with each other, NaN bits included (both keep the
      // accumulator as the fma's addend; the scalar level's libm fma may pick another NaN).
      for (const auto& v : by_level)
        CHECK(std::memcmp(v.data(), by_level[0].data(), v.size() * sizeof(float)) == 0);
    }
  }
  MESSAGE("fma-fp32 at " << arith::isa_levels().size() << " ISA levels: " << outputs << " outputs, " << bad_total
                         << " mismatches");
}

TEST_CASE("fma-fp32 GEMM: the AVX-512 level runs where the host has it") {
  IsaGuard guard;
  // The ISA ladder itself: isa_levels() ends at the host's level, set_isa never rises above it.
  const auto levels = arith::isa_levels();
  REQUIRE(!levels.empty());
  CHECK(levels.back() == arith::host_isa());
  CHECK(arith::set_isa(arith::Isa::AMX) == arith::host_isa());  // the top level
  if (arith::host_isa() < arith::Isa::AVX512) MESSAGE("no AVX-512 on this host: its kernels are not exercised");
}

namespace {

std::vector<float> conv_values(std::mt19937_64& g, std::size_t n, bool specials) {
  auto v = values(g, n, 0);
  std::uniform_int_distribution<int> e(-20, 20), pick(0, 9);
  for (auto& x : v) {
    const int p = pick(g);
    x = p == 0 ? 0.f : p == 1 ? -0.f : std::ldexp(x, e(g));
  }
  if (specials && n > 10) v[3] = std::numeric_limits<float>::infinity(), v[n / 2] = std::ldexp(1.f, -140);
  return v;
}

// dY (batch x cout x pixels) as the lowered products see it: cout x (batch, pixels).
std::vector<float> gathered(const sim::ConvShape& s, const std::vector<float>& dy) {
  const std::int64_t plane = s.out_h() * s.out_w(), ncol = s.batch * plane;
  std::vector<float> d(std::size_t(s.cout * ncol));
  for (std::int64_t b = 0; b < s.batch; ++b)
    for (std::int64_t o = 0; o < s.cout; ++o)
      for (std::int64_t p = 0; p < plane; ++p)
        d[std::size_t(o * ncol + b * plane + p)] = dy[std::size_t((b * s.cout + o) * plane + p)];
  return d;
}

}  // namespace

TEST_CASE("direct convolutions: every ISA level equals the lowered golden products bit for bit") {
  IsaGuard guard;
  std::mt19937_64 g(17);
  const sim::ConvShape shapes[] = {
      // batch cin h w cout kh kw stride_h stride_w pad_h pad_w groups
      {2, 3, 7, 6, 5, 3, 3, 1, 1, 1, 1, 1},      // channels off every tile
      {2, 16, 14, 14, 32, 3, 3, 1, 1, 1, 1, 1},  // ResNet-like widths
      {1, 9, 13, 23, 13, 3, 3, 1, 1, 1, 1, 1},   // positions past two 48-lane tiles per row
      {2, 5, 11, 10, 7, 5, 3, 3, 2, 2, 1, 1},    // strides 3 and 2, rectangular kernel
      {1, 33, 7, 7, 70, 3, 3, 1, 1, 1, 1, 1},    // cout past 64
      {3, 2, 1, 1, 3, 3, 3, 1, 1, 1, 1, 1},      // one pixel
  };
  for (const char* spelling : {"fp32", "in=bf16,acc=fp32"})
    for (const auto& s : shapes)
      for (bool specials : {false, true}) {
        const sim::MacConfig cfg = sim::parse_mac(spelling);
        const auto x = conv_values(g, std::size_t(s.batch * s.cin * s.h * s.w), specials);
        const auto w = conv_values(g, std::size_t(s.cout * s.cin * s.kh * s.kw), false);
        const auto dy = conv_values(g, std::size_t(s.batch * s.cout * s.out_h() * s.out_w()), specials);
        const std::int64_t k = s.cin * s.kh * s.kw, ncol = s.batch * s.out_h() * s.out_w();
        std::vector<float> y_want(dy.size()), dw_want(w.size()), dx_want(x.size(), 0.f);
        sim::conv2d(cfg, s, x.data(), w.data(), y_want.data(), {}, nullptr, {}, /*golden=*/true);
        std::vector<float> cols(std::size_t(k * ncol)), dcols(cols.size());
        sim::im2col(s, x.data(), 0, cols.data());
        const std::vector<float> d = gathered(s, dy);
        sim::gemm_golden(cfg, {s.cout, k, ncol, d.data(), ncol, false, cols.data(), ncol, true, dw_want.data(), k});
        const bool data_grad = s.stride_h == 1 && s.stride_w == 1 && s.pad_h < s.kh && s.pad_w < s.kw;
        if (data_grad) {
          sim::gemm_golden(cfg, {k, ncol, s.cout, w.data(), k, true, d.data(), ncol, false, dcols.data(), ncol});
          sim::col2im_add(s, dcols.data(), 0, dx_want.data());
        }
        for (arith::Isa level : arith::isa_levels()) {
          arith::set_isa(level);
          INFO(std::string(spelling) << " level " << std::string(arith::isa_name(level)) << " cin " << s.cin << " cout " << s.cout << " "
                        << s.h << "x" << s.w << " stride " << s.stride_h << " specials " << specials);
          if (!sim::conv_direct_applies(cfg, s, nullptr, {})) {
            CHECK(level < arith::Isa::AVX2);  // the kernels need AVX2 at least
            continue;
          }
          for (int t : {1, 2}) {
            const int threads = omp_get_max_threads();
            omp_set_num_threads(t);
            std::vector<float> y(dy.size(), 1.f), dw(w.size(), 1.f), dx(x.size(), 1.f);
            sim::conv2d_direct(cfg, s, x.data(), w.data(), y.data());
            sim::conv2d_weight_grad_direct(cfg, s, x.data(), dy.data(), dw.data());
            const bool took = sim::conv2d_data_grad_direct(cfg, s, w.data(), dy.data(), dx.data());
            omp_set_num_threads(threads);
            CHECK(mismatches(y, y_want) == 0);
            CHECK(mismatches(dw, dw_want) == 0);
            CHECK(took == data_grad);
            if (took) CHECK(mismatches(dx, dx_want) == 0);
          }
        }
      }
}
