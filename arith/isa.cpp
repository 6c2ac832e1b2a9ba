#include "arith/isa.hpp"

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace lpsim::arith {

namespace {

constexpr std::uint8_t kUnset = 0xff;
std::atomic<std::uint8_t> g_level{kUnset};

// AMX tiles need the kernel's permission (Linux 5.16+): ARCH_REQ_XCOMP_PERM for
// XFEATURE_XTILEDATA, asked once per process (it covers every thread). Refused
// (an older kernel, a VM or kernel that does not enable the tile state) or not
// Linux: no AMX level, the host stays at avx512.
bool amx_permitted() {
#if defined(__linux__) && defined(SYS_arch_prctl)
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

Isa detect() {
  __builtin_cpu_init();
  if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) return Isa::Scalar;
  if (!(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl")))
    return Isa::AVX2;
  if (__builtin_cpu_supports("amx-tile") && __builtin_cpu_supports("amx-int8") &&
      __builtin_cpu_supports("avx512vnni") && amx_permitted())
    return Isa::AMX;
  return Isa::AVX512;
}

Isa lower(Isa a, Isa b) { return a < b ? a : b; }

}  // namespace

Isa host_isa() {
  static const Isa host = detect();
  return host;
}

const char* isa_name(Isa level) {
  switch (level) {
    case Isa::Scalar: return "scalar";
    case Isa::AVX2: return "avx2";
    case Isa::AVX512: return "avx512";
    default: return "amx";
  }
}

Isa parse_isa(std::string_view name) {
  for (Isa l : {Isa::Scalar, Isa::AVX2, Isa::AVX512, Isa::AMX})
    if (name == isa_name(l)) return l;
  throw std::invalid_argument("unknown ISA level \"" + std::string(name) + "\" (expected scalar, avx2, avx512 or amx)");
}

Isa isa() {
  std::uint8_t v = g_level.load(std::memory_order_relaxed);
  if (v != kUnset) return Isa(v);
  Isa level = host_isa();
  if (const char* env = std::getenv("LPSIM_ISA"); env && *env) {
    try {
      level = lower(level, parse_isa(env));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string("LPSIM_ISA: ") + e.what() + "; this host supports up to " +
                                  isa_name(host_isa()));
    }
  }
  g_level.store(std::uint8_t(level), std::memory_order_relaxed);
  return level;
}

Isa set_isa(Isa level) {
  const Isa l = lower(level, host_isa());
  g_level.store(std::uint8_t(l), std::memory_order_relaxed);
  return l;
}

std::vector<Isa> isa_levels() {
  std::vector<Isa> out;
  for (Isa l : {Isa::Scalar, Isa::AVX2, Isa::AVX512, Isa::AMX})
    if (l <= host_isa()) out.push_back(l);
  return out;
}

std::string cpu_flags() {
  // /proc/cpuinfo's flags line, the vector features only (Linux; empty elsewhere).
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::string w, s;
    while (words >> w)
      if (w == "avx2" || w == "fma" || w.rfind("avx512", 0) == 0 || w == "avx_vnni" || w.rfind("amx", 0) == 0)
        s += (s.empty() ? "" : " ") + w;
    return s;
  }
  return {};
}

}  // namespace lpsim::arith
