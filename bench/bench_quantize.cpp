// Array quantize throughput against a plain memory copy of the same bytes
// (the floor any elementwise pass pays), for common formats and modes.
// Usage: bench_quantize [elements]   (default 1<<24 floats = 64 MiB)
#include <fmt/core.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "arith/arith.hpp"
#include "arith/isa.hpp"

namespace {

template <class F>
double best_seconds(F&& f, int reps = 5) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? std::stoull(argv[1]) : (std::size_t(1) << 24);
  std::vector<float> in(n), out(n);
  std::mt19937 gen(1);
  std::normal_distribution<float> d;
  for (auto& x : in) x = d(gen);

  const double t_copy = best_seconds([&] {
#pragma omp parallel for schedule(static)
    for (std::size_t b = 0; b < n; b += 4096) std::memcpy(&out[b], &in[b], sizeof(float) * std::min<std::size_t>(4096, n - b));
  });
  const double gb = 2.0 * double(n) * sizeof(float) / 1e9;
  fmt::print("quantize {} float32 elements, {} threads\n", n, omp_get_max_threads());
  fmt::print("ISA level {} (host {}; LPSIM_ISA lowers it); CPU flags: {}\n", lpsim::arith::isa_name(lpsim::arith::isa()),
             lpsim::arith::isa_name(lpsim::arith::host_isa()), lpsim::arith::cpu_flags());
  // Out of place, the stores' cache lines are first read (read for ownership), 12 bytes of traffic an
  // element where memcpy (rep movsb) moves 8; in place the lines are already there, as in memcpy.
  fmt::print("{:<22} {:>10} {:>10} {:>14}  {}\n", "case", "ms", "GB/s", "time vs copy", "speed vs copy (lpsim/memcpy)");
  fmt::print("{:<22} {:>10.2f} {:>10.2f} {:>14.2f}  {:.2f}\n", "memcpy (baseline)", t_copy * 1e3, gb / t_copy, 1.0, 1.0);
  const std::pair<const char*, const char*> cases[] = {
      {"bf16", "rne"}, {"fp16", "rne"}, {"fp8e4m3", "rne"}, {"fp8e5m2", "rne"}, {"fp4e2m1", "rne"},
      {"int8", "rne"}, {"fx16.8", "rz"},  {"bf16", "sr"},     {"fp8e4m3", "sr"},  {"fp8e4m3", "sr8"}};
  for (const bool in_place : {false, true})
    for (const auto& [fmtname, mode] : cases) {
      const auto f = lpsim::arith::parse_format(fmtname);
      const auto r = lpsim::arith::parse_rounding(mode);
      // In place: out holds the inputs once, then is rounded again each time (the same work per element).
      if (in_place) std::copy(in.begin(), in.end(), out.begin());
      const float* src = in_place ? out.data() : in.data();
      const double t = best_seconds([&] { lpsim::arith::quantize(src, out.data(), n, f, r, {1, 0}); });
      fmt::print("{:<22} {:>10.2f} {:>10.2f} {:>14.2f}  {:.2f}\n",
                 std::string(fmtname) + " " + mode + (in_place ? " in place" : ""), t * 1e3, gb / t, t / t_copy,
                 t_copy / t);
    }
}
