// C = op(A) . op(B) on emulated hardware: every output is a dot product
// following the MacConfig literally. Two implementations with one contract:
// gemm_golden (scalar, written to be read) and gemm (tiled, vectorised,
// OpenMP-parallel), bit-identical for every configuration and thread count.
//
// Layout: row-major. op(A) is m x k: A[i*lda + l], or A[l*lda + i] when
// trans_a. op(B) is k x n: B[l*ldb + j], or B[j*ldb + l] when trans_b.
// C[i*ldc + j] receives the result (in the config's result format).
// With add_c, C on entry is the addend: D = op(A).op(B) + C, written over C
// (as BLAS with beta = 1; dot.hpp says where C enters the accumulation).
//
// Randomness (stochastic rounding anywhere in the MAC): role r of
// {a, b, prod, acc, outer, out} = {0..5} draws from stream key.stream*8 + r.
// Operand element (i, l) of op(A) has index i*k + l, (l, j) of op(B) index
// l*n + j; the s-th rounding of output o = i*n + j has index s*m*n + o
// (s counts that output's roundings of the role from 0).
#pragma once

#include <cstdint>

#include "arith/rounding.hpp"
#include "sim/mac_config.hpp"
#include "sim/stats.hpp"

namespace lpsim::sim {

struct GemmArgs {
  std::int64_t m = 0, n = 0, k = 0;
  const float* a = nullptr;
  std::int64_t lda = 0;
  bool trans_a = false;
  const float* b = nullptr;
  std::int64_t ldb = 0;
  bool trans_b = false;
  float* c = nullptr;
  std::int64_t ldc = 0;
  bool add_c = false;
  // Block scales (MacConfig::scale, block=<n>): scale_a[i*(k/n) + q] for row i of op(A) and
  // scale_b[q*n_cols + j] for column j of op(B), block q = l / n; k a multiple of n.
  const float* scale_a = nullptr;
  const float* scale_b = nullptr;
};

// Throws std::invalid_argument naming the bad argument (null pointer,
// negative size, leading dimension too small, block scales missing, given
// without scale=, or not values of the scale kind).
void gemm(const MacConfig& cfg, const GemmArgs& g, arith::RandomKey key = {}, GemmStats* stats = nullptr,
          const StatsRequest& req = {});
void gemm_golden(const MacConfig& cfg, const GemmArgs& g, arith::RandomKey key = {}, GemmStats* stats = nullptr,
                 const StatsRequest& req = {});

// Which implementation gemm() picks for a configuration, and why it is exact
// (for benchmarks and tests): "fma-fp32", "integer", "float-lanes", "tiled",
// "fused-lanes", "fused", "per-output" (the golden dot product per output, in parallel).
// add_c: with D = A.B + C (paths that cannot start from C give way).
const char* gemm_path(const MacConfig& cfg, bool add_c = false);

}  // namespace lpsim::sim
