// The MAC configuration parser (sim::parse_mac), then a small product with
// what it accepted through both implementations: std::invalid_argument (any
// std::exception) is a fine answer; a crash, a sanitizer report or a broken
// invariant is a finding. Invariants: the canonical spelling reads back to
// the same configuration; gemm (fast paths) and gemm_golden give the same
// bits and the same event counts (sim/gemm.hpp: "bit-identical for every
// configuration").
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.hpp"
#include "sim/gemm.hpp"
#include "sim/mac_config.hpp"

using namespace lpsim;
using lpsim::fuzz::finding;

namespace {

bool same(float a, float b) {
  return (std::isnan(a) && std::isnan(b)) || std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b);
}

void product(const sim::MacConfig& cfg, const std::uint8_t* data, std::size_t size) {
  if (size < 4) return;
  const std::int64_t m = 1 + data[0] % 3, n = 1 + data[1] % 3, k = 1 + (data[2] | (data[3] & 1) << 8) % 300;
  data += 4;
  size -= 4;
  // Operands from the input: small integers scaled by a power of two (so
  // that products land on every format's grid and off it), or raw float bits.
  std::vector<float> a(std::size_t(m * k)), b(std::size_t(k * n));
  std::size_t at = 0;
  auto next = [&]() -> float {
    if (size == 0) return 1.0f;
    const std::uint8_t c = data[at++ % size];
    if (c & 0x80 && at + 3 < size) {
      std::uint32_t u;
      std::memcpy(&u, data + at, 4);
      at += 4;
      return std::bit_cast<float>(u);
    }
    return std::ldexp(float(int(c & 0x0f) - 8), int((c >> 4) & 7) - 3);
  };
  for (float& x : a) x = next();
  for (float& x : b) x = next();
  std::vector<float> c_fast(std::size_t(m * n)), c_gold(std::size_t(m * n));
  sim::GemmArgs g;
  g.m = m;
  g.n = n;
  g.k = k;
  g.a = a.data();
  g.lda = k;
  g.b = b.data();
  g.ldb = n;
  g.ldc = n;
  const arith::RandomKey key{size, 7};
  sim::GemmStats s_fast, s_gold;
  bool fast_threw = false, gold_threw = false;
  std::string fast_what, gold_what;
  try {
    g.c = c_fast.data();
    sim::gemm(cfg, g, key, &s_fast);
  } catch (const std::exception& e) {
    fast_threw = true;
    fast_what = e.what();
  }
  try {
    g.c = c_gold.data();
    sim::gemm_golden(cfg, g, key, &s_gold);
  } catch (const std::exception& e) {
    gold_threw = true;
    gold_what = e.what();
  }
  const std::string which = "\"" + cfg.spelling() + "\" (path " + sim::gemm_path(cfg) + ")";
  if (fast_threw != gold_threw)
    finding("gemm and gemm_golden disagree on throwing for " + which + ": " + fast_what + " / " + gold_what);
  if (fast_threw) return;
  for (std::size_t i = 0; i < c_fast.size(); ++i)
    if (!same(c_fast[i], c_gold[i]))
      finding("gemm and gemm_golden differ at output " + std::to_string(i) + " for " + which);
  if (!(s_fast.counts == s_gold.counts)) {
    auto text = [](const sim::MacCounts& c) {
      return "additions " + std::to_string(c.additions) + " swamped " + std::to_string(c.swamped) + " overflows " +
             std::to_string(c.overflows) + " saturations " + std::to_string(c.saturations);
    };
    finding("gemm and gemm_golden count different events for " + which + " (m n k " + std::to_string(m) + " " +
            std::to_string(n) + " " + std::to_string(k) + "): gemm " + text(s_fast.counts) + ", gemm_golden " +
            text(s_gold.counts));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The spelling is the input up to the first newline; the bytes after it
  // shape the product and give its operands.
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  const std::size_t nl = all.find('\n');
  const std::string_view spelling = all.substr(0, nl);
  sim::MacConfig cfg;
  try {
    cfg = sim::parse_mac(spelling);
  } catch (const std::invalid_argument&) {
    return 0;
  } catch (const std::exception& e) {
    finding(std::string("parse_mac threw other than invalid_argument: ") + e.what());
  }
  const std::string canonical = cfg.spelling();
  try {
    if (!(sim::parse_mac(canonical) == cfg) || sim::parse_mac(canonical).spelling() != canonical)
      finding("canonical spelling \"" + canonical + "\" reads back differently");
  } catch (const std::exception& e) {
    finding("canonical spelling \"" + canonical + "\" does not read back: " + e.what());
  }
  (void)sim::gemm_path(cfg);
  if (nl != std::string_view::npos) product(cfg, data + nl + 1, size - nl - 1);
  return 0;
}
