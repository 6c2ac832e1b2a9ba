// Regressions found by fuzz/fuzz_mac (scripts/fuzz.sh): gemm against
// gemm_golden on configurations with an output format.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "sim/gemm.hpp"

using namespace lpsim;

namespace {

struct Run {
  std::vector<float> c;
  sim::MacCounts counts;
};

Run run(bool golden, const sim::MacConfig& cfg, const std::vector<float>& a, const std::vector<float>& b,
        std::int64_t m, std::int64_t n, std::int64_t k, bool with_stats) {
  Run r;
  r.c.assign(std::size_t(m * n), -1.f);
  sim::GemmArgs g{m, n, k, a.data(), k, false, b.data(), n, false, r.c.data(), n};
  sim::GemmStats st;
  (golden ? sim::gemm_golden : sim::gemm)(cfg, g, {}, with_stats ? &st : nullptr, {});
  r.counts = st.counts;
  return r;
}

}  // namespace

TEST_CASE("an out= conversion's overflows and saturations are counted by every path, as by the golden model") {
  // round_row checked the range after rounding in place, so it saw the
  // rounded value (inf, NaN or the largest finite one) and counted nothing.
  struct Case {
    const char* mac;
    float big;  // with b0, one product beyond the out format's range
    float b0;
    std::uint64_t overflows, saturations;
  };
  const Case cases[] = {
      {"acc=fp32,out=fp16", 70000.f, 1.f, 1, 0},                     // fma-fp32
      {"acc=fp32,out=e5m2:sat", 70000.f, 1.f, 0, 1},                 // fma-fp32, saturating out
      {"in=fp16,acc=fp16,acc_round=rz,out=fp8e4m3", 1000.f, 1.f, 1, 0},  // e4m3fn has no inf: NaN, an overflow
      {"in=fp16,acc=e5m10:sat,acc_round=rd,out=e5m2", 60000.f, 1.f, 0, 1},  // to nearest: 57344, finite
      {"acc=e8m31fn,out=fp32", 3e38f, 1.f, 1, 0},                    // tiled; two products of 3e38 exceed FLT_MAX
      {"in=fp16,acc=fp32,acc_round=rz,order=fused4,align=23,out=fp16", 60000.f, 2.f, 1, 0},  // fused
  };
  for (const Case& cs : cases) {
    INFO("mac " << std::string(cs.mac));
    const sim::MacConfig cfg = sim::parse_mac(cs.mac);
    const std::int64_t m = 3, n = 5, k = 2;
    std::vector<float> a(std::size_t(m * k), 0.5f), b(std::size_t(k * n), 0.25f);
    a[0] = cs.big;  // output (0, 0): big * 1 + 0.5 * 1
    a[1] = cs.mac == std::string("acc=e8m31fn,out=fp32") ? cs.big : 0.5f;
    b[0] = cs.b0;
    b[std::size_t(n)] = 1.f;
    const Run want = run(true, cfg, a, b, m, n, k, true);
    const Run got = run(false, cfg, a, b, m, n, k, true);
    const Run plain = run(false, cfg, a, b, m, n, k, false);  // the non-counting fast paths
    for (std::size_t i = 0; i < want.c.size(); ++i) {
      INFO("output " << i);
      CHECK((got.c[i] == want.c[i] || (std::isnan(got.c[i]) && std::isnan(want.c[i]))));
      CHECK((plain.c[i] == want.c[i] || (std::isnan(plain.c[i]) && std::isnan(want.c[i]))));
    }
    CHECK(got.counts == want.counts);
    CHECK(want.counts.overflows == cs.overflows);
    CHECK(want.counts.saturations == cs.saturations);
  }
}

TEST_CASE("a NaN reaching a fixed-point out= format throws from every path instead of terminating") {
  // The exception left the fast paths' OpenMP regions: std::terminate.
  const char* macs[] = {
      "acc=fp32,out=int8",                                                // fma-fp32
      "in=fp16,acc=fp16,out=int8",                                        // float lanes
      "in=fp16,acc=fp32,acc_round=rz,order=fused4,align=23,out=int8",     // fused lanes
      "in=e4m3fnuz,acc=e5m2fnuz:sat,acc_round=ru,out=int8",               // tiled
      "acc=e8m31fn,out=fx16.4",                                           // tiled
  };
  const int saved = omp_get_max_threads();
  omp_set_num_threads(2);
  for (const char* mac : macs) {
    const sim::MacConfig cfg = sim::parse_mac(mac);
    const std::int64_t m = 16, n = 40, k = 8;
    std::vector<float> a(std::size_t(m * k), 1.f), b(std::size_t(k * n), 0.5f);
    a[std::size_t(5 * k + 3)] = std::numeric_limits<float>::quiet_NaN();
    for (const bool golden : {true, false})
      for (const bool with_stats : {true, false}) {
        INFO("mac " << std::string(mac) << (golden ? " golden" : " gemm") << (with_stats ? " with stats" : ""));
        CHECK_THROWS_AS(run(golden, cfg, a, b, m, n, k, with_stats), std::domain_error);
      }
  }
  omp_set_num_threads(saved);
}
