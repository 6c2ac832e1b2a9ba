// The one ISA-dispatch switch: every vector path asks isa() which level it may
// use. The level is the host's (host_isa), lowered for the whole process by
// LPSIM_ISA=scalar|avx2|avx512|amx or by set_isa(), so that every level the host
// supports is tested on that host against the golden models (tests loop over
// isa_levels()). Paths written for AVX2 run at every level >= AVX2.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lpsim::arith {

enum class Isa : std::uint8_t {
  Scalar = 0,  // no vector path: the golden arithmetic
  AVX2 = 1,    // AVX2 + FMA
  AVX512 = 2,  // AVX-512 F, BW, DQ, VL
  AMX = 3,     // AVX512 + AMX-TILE, AMX-INT8, and the kernel's permission to use the tiles (Linux arch_prctl)
};

Isa host_isa();
// The level in use. Throws std::invalid_argument naming LPSIM_ISA when it holds no level name.
Isa isa();
// Lowers (or restores, up to the host's level) the level for the whole process; returns the level set.
Isa set_isa(Isa level);
// Every level from scalar up to the host's.
std::vector<Isa> isa_levels();

const char* isa_name(Isa level);
// "scalar", "avx2", "avx512", "amx"; throws std::invalid_argument quoting the name.
Isa parse_isa(std::string_view name);
// The host's vector feature flags, for benches: "avx2 fma avx512f ... amx_tile".
std::string cpu_flags();

// At least AVX2 in use: the test of every AVX2 path.
inline bool use_avx2() { return isa() >= Isa::AVX2; }

}  // namespace lpsim::arith
