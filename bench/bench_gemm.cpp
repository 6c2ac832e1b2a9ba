// Engine GEMM throughput next to the best fp32 GEMM of the machine, measured in
// the same run: Eigen (-march=native, OpenMP) and the system BLAS that NumPy
// uses (OpenBLAS where installed), whichever is faster at each size.
// Usage: bench_gemm [max_size] [config,config,...]   (default 1024, the six below)
// GFLOP/s counts 2·m·n·k operations for every configuration. Each ratio is
// the median of three rounds that time the baseline and the engine back to back.
#include <fmt/core.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "arith/isa.hpp"
#include "bench/blas_sgemm.hpp"
#include "bench/eigen_sgemm.hpp"
#include "sim/conv.hpp"
#include "sim/conv_direct.hpp"
#include "sim/gemm.hpp"

namespace {

template <class F>
double seconds(F&& f) {
  // Best of up to 3 runs, stopping early when one run takes over a second.
  double best = 1e30;
  for (int r = 0; r < 3; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::min(best, t);
    if (t > 1.0) break;
  }
  return best;
}

// The baseline and the subject timed alternately, three rounds: on a shared
// machine whose speed drifts, each round's ratio compares neighbours in time.
// Returns {best baseline seconds, best subject seconds, median ratio}.
struct Paired {
  double base, subject, ratio;
};
template <class B, class S>
Paired paired(B&& base, S&& subject) {
  std::vector<double> ratios;
  Paired p{1e30, 1e30, 0};
  for (int r = 0; r < 3; ++r) {
    const double tb = seconds(base), ts = seconds(subject);
    p.base = std::min(p.base, tb), p.subject = std::min(p.subject, ts);
    ratios.push_back(tb / ts);
  }
  std::sort(ratios.begin(), ratios.end());
  p.ratio = ratios[1];
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  const int max_size = argc > 1 ? std::stoi(argv[1]) : 1024;
  const int threads = omp_get_max_threads();
  lpsim::bench::eigen_threads(threads);
  const lpsim::bench::Blas blas = lpsim::bench::load_blas(threads);
  std::vector<std::string> configs = {"fp32", "bf16.fp32", "fp16.fp16", "h800.fp8", "int8.int32", "volta.fp16"};
  if (argc > 2) {  // a comma-separated subset (or other MAC spellings)
    configs.clear();
    for (std::string rest = argv[2]; !rest.empty();) {
      const auto comma = rest.find(',');
      configs.push_back(rest.substr(0, comma));
      rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
    }
  }
  fmt::print("lpsim GEMM vs the best fp32 GEMM here (Eigen -march=native, {}), {} threads\n",
             blas ? "BLAS " + blas.name : std::string("no BLAS found"), threads);
  fmt::print("ISA level {} (host {}; LPSIM_ISA lowers it); CPU flags: {}\n", lpsim::arith::isa_name(lpsim::arith::isa()),
             lpsim::arith::isa_name(lpsim::arith::host_isa()), lpsim::arith::cpu_flags());
  std::mt19937 gen(1);
  std::normal_distribution<float> nd;
  // The baseline of one shape: Eigen and the BLAS timed, the faster kept.
  struct Baseline {
    std::function<void()> run;
    std::string name;
    double eigen_s, blas_s;
  };
  auto best = [&](std::int64_t m, std::int64_t n, std::int64_t k, const float* a, const float* b, float* c) {
    Baseline r{[=] { lpsim::bench::eigen_sgemm(m, n, k, a, b, c); }, "Eigen", seconds([&] { lpsim::bench::eigen_sgemm(m, n, k, a, b, c); }), 0};
    if (!blas) return r;
    r.blas_s = seconds([&] { blas(m, n, k, a, b, c); });
    if (r.blas_s < r.eigen_s) r.run = [=, &blas] { blas(m, n, k, a, b, c); }, r.name = "BLAS";
    return r;
  };
  auto gflops = [](double flops, double s) { return s > 0 ? fmt::format("{:.2f}", flops / s / 1e9) : std::string("-"); };
  fmt::print("{:<22} {:>6} {:>10} {:>12} {:>10} {:>10}  {}\n", "config", "size", "ms", "GFLOP/s", "Eigen", "BLAS",
             "ratio (lpsim/best baseline) [path]");
  for (int n = 256; n <= max_size; n *= 2) {
    std::vector<float> A(std::size_t(n) * n), B(A.size()), C(A.size());
    for (std::size_t i = 0; i < A.size(); ++i) A[i] = nd(gen), B[i] = nd(gen);
    const double flops = 2.0 * n * n * double(n);
    std::vector<float> c(std::size_t(n) * n);
    const Baseline base = best(n, n, n, A.data(), B.data(), C.data());
    for (const std::string& name : configs) {
      const auto cfg = lpsim::sim::parse_mac(name);
      // The baselines are column-major: A's storage is op(A)^T row-major, so pass it transposed.
      const lpsim::sim::GemmArgs g{n, n, n, A.data(), n, true, B.data(), n, true, c.data(), n};
      const Paired p = paired(base.run, [&] { lpsim::sim::gemm(cfg, g); });
      fmt::print("{:<22} {:>6} {:>10.1f} {:>12.2f} {:>10} {:>10}  {:.4f} vs {} [{}]\n", name, n, p.subject * 1e3,
                 flops / p.subject / 1e9, gflops(flops, base.eigen_s), gflops(flops, base.blas_s), p.ratio, base.name,
                 lpsim::sim::gemm_path(cfg));
    }
  }
  // A conv-shaped product: ResNet stage-2 3x3 conv, 32 -> 32 channels, 14x14, batch 32 (K = 288).
  const lpsim::sim::ConvShape s{32, 32, 14, 14, 32, 3, 3, 1, 1, 1, 1, 1};
  std::vector<float> x(std::size_t(s.batch * s.cin * s.h * s.w)), w(std::size_t(s.cout * s.cin * 9)),
      y(std::size_t(s.batch * s.cout * s.out_h() * s.out_w()));
  for (auto& v : x) v = nd(gen);
  for (auto& v : w) v = nd(gen);
  const std::int64_t M = s.cout, K = s.cin * 9, N = s.batch * s.out_h() * s.out_w();
  std::vector<float> Wm(std::size_t(M * K)), Xm(std::size_t(K * N)), Ym(std::size_t(M * N));
  for (auto& v : Wm) v = nd(gen);
  for (auto& v : Xm) v = nd(gen);
  const double flops = 2.0 * double(M) * double(N) * double(K);
  // Baseline: the lowered GEMM alone, im2col not counted.
  const Baseline base = best(M, N, K, Wm.data(), Xm.data(), Ym.data());
  for (const std::string& name : configs) {
    const auto cfg = lpsim::sim::parse_mac(name);
    const Paired p = paired(base.run, [&] { lpsim::sim::conv2d(cfg, s, x.data(), w.data(), y.data()); });
    const bool direct = lpsim::sim::conv_direct_applies(cfg, s, nullptr, {});
    fmt::print("{:<22} {:>6} {:>10.1f} {:>12.2f} {:>10} {:>10}  {:.4f} vs {} [conv {}x{}x{}, {}]\n", name, "conv",
               p.subject * 1e3, flops / p.subject / 1e9, gflops(flops, base.eigen_s), gflops(flops, base.blas_s), p.ratio,
               base.name, M, N, K, direct ? "direct, no lowering" : "im2col included");
  }
}
