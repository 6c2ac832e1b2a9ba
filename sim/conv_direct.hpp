// Direct (unlowered) convolution kernels for the engine's "fma-fp32" MAC
// model (fp32 accumulator, RNE, sequential; operands and output in any
// format with a deterministic rounding, e.g. bf16.fp32): the forward product and the weight gradient (any stride; the input
// split into stride phases) and the data gradient (stride 1) read
// zero-padded copies of the tensors in place instead of materialising
// im2col's K x (batch·pixels) matrix (9x the input for a 3x3 kernel) and
// scattering it back (col2im). Each result is
// bit-identical to the lowered computation it replaces, because it performs
// the same IEEE operations in the same order:
//  - forward:  y = one fma chain over k = (ci, r, c), from +0 (conv2d's GEMM);
//  - data gradient: per tap (r, c) in order, the fma chain over output
//    channels from +0 (the product W^T . dY), added in fp32 into dx from +0
//    (col2im_add). A tap that falls into the padding, skipped by col2im,
//    adds a chain of 0·w = +0 here, which changes nothing: a sum that starts
//    at +0 is never -0. (With a non-finite weight 0·w is NaN: the function
//    then declines and the lowered path runs.)
//  - weight gradient: one fma chain over (b, oy, ox) from +0 (dY . im2col^T).
// Operand formats round copies of the tensors (zero padding stays zero), the
// values the lowered GEMM's operand rounding gives, and an output format
// rounds the results (the data gradient declines one: col2im adds the
// rounded values of each tap). Stochastic roundings decline, as their random
// bits follow the lowered matrices' element indices.
// Every output is computed by one thread, so any thread count gives the same bits.
// The kernels are AVX2; at the AVX-512 level (arith::isa()) wider tiles run
// the same chains lane by lane, so every level gives the same bits too.
#pragma once

#include "sim/conv.hpp"
#include "sim/mac_config.hpp"
#include "sim/stats.hpp"

namespace lpsim::sim {

// True when the direct kernels compute `cfg`'s product for shape `s`: the
// fma-fp32 model with deterministic operand and output roundings, neither event counts nor
// error statistics requested (into `stats`, if not null), one group, and a
// CPU with AVX2 and FMA. Otherwise the lowered path runs.
bool conv_direct_applies(const MacConfig& cfg, const ConvShape& s, const GemmStats* stats, const StatsRequest& req);

// y (batch x cout x oh x ow) = conv(x, weights), as conv2d.
void conv2d_direct(const MacConfig& cfg, const ConvShape& s, const float* x, const float* weights, float* y);

// dx (batch x cin x h x w) = the data gradient of dy (batch x cout x oh x ow),
// written, not added. Returns false, writing nothing, for a stride above 1,
// padding not smaller than the kernel, an output format, or a weight that is
// not finite once rounded into its operand format.
bool conv2d_data_grad_direct(const MacConfig& cfg, const ConvShape& s, const float* weights, const float* dy,
                             float* dx);

// dw (cout x cin x kh x kw) = dY . im2col(x)^T, written.
void conv2d_weight_grad_direct(const MacConfig& cfg, const ConvShape& s, const float* x, const float* dy, float* dw);

// The shape statistics of the lowered product C (m x n) = A (m x k) . B (k x n)
// (accumulation length k, each element of A used n times, of B m times).
GemmStats lowered_stats(std::int64_t m, std::int64_t n, std::int64_t k, const StatsRequest& req);

}  // namespace lpsim::sim
