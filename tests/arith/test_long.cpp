// The long check (ctest label "long"): the fast array path with float input
// against the golden model for every one of the 2^32 float bit patterns,
// NaNs included, for fp16, bf16, e4m3fn (fp8e4m3) and e5m2 with RNE.
#include <doctest/doctest.h>
#include <omp.h>

#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "arith/arith.hpp"

using namespace lpsim::arith;

namespace {

// Elements of in[0, n) where the fast path for `fast` differs from the golden
// model for `gold` (NaN matching NaN, otherwise the same bits).
std::uint64_t count_mismatches(const float* in, float* out, std::uint64_t n, const Format& fast, const Format& gold,
                               std::uint64_t base, std::string& first) {
  quantize(in, out, n, fast, Rounding{Mode::RNE, 0});
  std::uint64_t bad = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    double g = 0;
    const bool ok = golden_quantize(double(in[i]), gold, Rounding{Mode::RNE, 0}, {}, 0, g);
    const float want = float(g);
    const bool same = ok && (std::isnan(want) ? std::isnan(out[i])
                                              : std::bit_cast<std::uint32_t>(want) == std::bit_cast<std::uint32_t>(out[i]));
    if (!same && bad++ == 0) {
      char b[160];
      std::snprintf(b, sizeof b, "input 0x%08x (%a): fast %a golden %a", unsigned(base + i), double(in[i]),
                    double(out[i]), g);
      first = b;
    }
  }
  return bad;
}

}  // namespace

TEST_CASE("fast path == golden model over all 2^32 floats (RNE)") {
  const char* names[] = {"fp16", "bf16", "fp8e4m3", "e5m2"};
  constexpr int kFormats = 4;
  Format formats[kFormats];
  for (int k = 0; k < kFormats; ++k) formats[k] = parse_format(names[k]);
  constexpr std::uint64_t kChunk = std::uint64_t(1) << 20, kTotal = std::uint64_t(1) << 32;
  const std::int64_t chunks = std::int64_t(kTotal / kChunk);
  std::atomic<std::uint64_t> mismatches[kFormats] = {};
  std::atomic<std::uint64_t> nan_inputs{0}, checked{0};
  std::mutex report;
  std::string first[kFormats];
  const auto t0 = std::chrono::steady_clock::now();

  // One chunk per iteration; the array quantize inside runs serially
  // (nested parallelism is off), the chunks are spread over the threads.
#pragma omp parallel
  {
    std::vector<float> in(kChunk), out(kChunk);
#pragma omp for schedule(dynamic)
    for (std::int64_t c = 0; c < chunks; ++c) {
      const std::uint64_t base = std::uint64_t(c) * kChunk;
      std::uint64_t nans = 0;
      for (std::uint64_t i = 0; i < kChunk; ++i) {
        in[i] = std::bit_cast<float>(std::uint32_t(base + i));
        nans += std::isnan(in[i]);
      }
      nan_inputs += nans;
      for (int k = 0; k < kFormats; ++k) {
        std::string msg;
        const std::uint64_t bad = count_mismatches(in.data(), out.data(), kChunk, formats[k], formats[k], base, msg);
        if (bad) {
          std::lock_guard<std::mutex> lock(report);
          if (first[k].empty()) first[k] = msg;
        }
        mismatches[k] += bad;
      }
      checked += kChunk;
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("all 2^32 floats, %d formats, RNE, %d threads: %.1f s; NaN inputs %llu\n", kFormats,
              omp_get_max_threads(), secs, (unsigned long long)nan_inputs.load());
  CHECK(checked.load() == kTotal);
  CHECK(nan_inputs.load() == 2 * ((std::uint64_t(1) << 23) - 1));  // 2^24 - 2 NaN patterns
  for (int k = 0; k < kFormats; ++k) {
    std::printf("  %-8s mismatches: %llu%s%s\n", names[k], (unsigned long long)mismatches[k].load(),
                first[k].empty() ? "" : "; first: ", first[k].c_str());
    INFO(names[k] << ": " << first[k]);
    CHECK(mismatches[k].load() == 0);
  }
}

TEST_CASE("the long comparison can fail") {
  // Same comparison, fast path of one format against the golden model of a
  // neighbouring one: it must report mismatches (else a zero above means nothing).
  const std::uint64_t n = 1 << 16;
  std::vector<float> in(n), out(n);
  for (std::uint64_t i = 0; i < n; ++i) in[i] = std::bit_cast<float>(std::uint32_t(0x3F800000u + i * 4096));  // 1 .. 2^32
  std::string first;
  CHECK(count_mismatches(in.data(), out.data(), n, parse_format("fp16"), parse_format("bf16"), 0x3F800000u, first) > 0);
  CHECK(count_mismatches(in.data(), out.data(), n, parse_format("e4m3fn"), parse_format("e4m3fnuz"), 0x3F800000u,
                         first) > 0);
  CHECK(count_mismatches(in.data(), out.data(), n, parse_format("fp16"), parse_format("fp16"), 0x3F800000u, first) == 0);
}
