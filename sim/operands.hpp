// Operands of a GEMM, packed row-major in double and rounded to their formats
// (op(A): m x k, op(B): k x n), plus the stream layout of gemm.hpp.
#pragma once

#include <cstdint>
#include <vector>

#include "sim/dot.hpp"
#include "sim/gemm.hpp"

namespace lpsim::sim {

enum Role : std::uint32_t { kRoleA = 0, kRoleB, kRoleProd, kRoleAcc, kRoleOuter, kRoleOut };
inline arith::RandomKey role_key(arith::RandomKey key, Role r) { return {key.seed, key.stream * 8 + r}; }

struct Operands {
  std::int64_t m = 0, n = 0, k = 0;
  std::vector<float> a, b;  // a[i*k + l], b[l*n + j]: values of the operand formats, exact in float
  std::vector<float> c;     // with add_c: the addend C as given on entry, c[i*n + j]; else empty
  std::vector<double> sa, sb;  // block scales: sa[i*(k/block) + q], sb[q*n + j]; else empty
  TermScales scales(std::int64_t i, std::int64_t j, int block) const {
    if (sa.empty()) return {};
    return {sa.data() + i * (k / block), sb.data() + j, n};
  }
  const TermScales* scales_or_null(const TermScales& s) const { return sa.empty() ? nullptr : &s; }
  const double* addend(std::int64_t i, std::int64_t j, double& slot) const {
    if (c.empty()) return nullptr;
    slot = c[std::size_t(i * n + j)];
    return &slot;
  }
};

void check_args(const GemmArgs& g);

// Once per process: keep freed blocks of up to 32 MiB in the heap (glibc's
// mmap and trim thresholds). Each product allocates and frees its operand
// copies and packed panels; above glibc's adaptive thresholds those go back to
// the system and come back as fresh zeroed pages on the next call, which cost
// an int8 GEMM of 1024 a third of its time (bench_gemm, 7.0 vs 4.4 ms).
void keep_freed_memory();
// Scales given to a MAC without scale= (pack_operands checks the rest).
void check_scale_args(const MacConfig& cfg, const GemmArgs& g);

// golden: element by element through the scalar golden rounding; otherwise
// through the vectorised array path (bit-identical by arith's contract).
Operands pack_operands(const MacConfig& cfg, const GemmArgs& g, arith::RandomKey key, bool golden);

// Usage frequencies, depth and tag of the product; counts are added by the caller.
GemmStats shape_stats(const GemmArgs& g, const StatsRequest& req);

// Fills the error fields of `s` comparing C with an fp64 product of the
// rounded operands (with their block scales; plus the addend with add_c).
void error_stats(const MacConfig& cfg, const Operands& ops, const GemmArgs& g, GemmStats& s);

}  // namespace lpsim::sim
