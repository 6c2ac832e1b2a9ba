// Scaled formats on the engine: integer codes into fixed-point forward MACs
// (checked against exact integer sums with wrap and saturation), and the
// running activation ranges of QuantMeasure.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "conv_reference.hpp"
#include "nn/product.hpp"
#include "nn_test_util.hpp"

using namespace lpsim;
using namespace lpsim::nn;
using namespace nn_test;
namespace {

// The integer codes of `t` under `spec` (nn/quantizer.hpp ScaledCodes).
ScaledCodes codes_of(const char* spec, const Tensor<float>& t, Shape view, int axis) {
  ScaledCodes c;
  Tensor<float> values = t;
  quantize_tensor(parse_quant(spec), t.ptr(), values.ptr(), view, axis, {}, &c);
  return c;
}

// A two's complement register of `bits` after wrapping.
std::int64_t wrap(std::int64_t v, int bits) {
  const std::int64_t m = std::int64_t(1) << bits, r = ((v % m) + m) % m;
  return r >= m / 2 ? r - m : r;
}

}  // namespace

TEST_CASE("integer codes reproduce the quantized values and stay in their range") {
  const Tensor<float> x = randn<float>({4, 3, 5}, 70);
  for (const char* spec : {"int4/absmax/tensor", "int4/absmax/channel", "uint4/absmax/tensor", "int3/minmax/tensor",
                           "int5/minmax/channel", "int6/pow2/tensor", "int8"}) {
    CAPTURE(spec);
    ScaledCodes c;
    Tensor<float> v = x;
    quantize_tensor(parse_quant(spec), x.ptr(), v.ptr(), x.shape, 1, {}, &c);
    const auto range = code_range(parse_quant(spec).format);
    REQUIRE(range);
    CHECK(c.scale.size() == (std::string(spec).find("channel") != std::string::npos ? 3u : 1u));
    for (std::int64_t i = 0; i < x.numel(); ++i) {
      const double code = c.code[std::size_t(i)], s = c.scale[c.scale.size() == 1 ? 0 : std::size_t((i / 5) % 3)];
      CHECK(code == std::nearbyint(code));
      CHECK(code >= range->first);
      CHECK(code <= range->second);
      CHECK(v[i] == float(code * s));
    }
  }
  CHECK(!code_range(parse_quant("mxfp4").format));
  CHECK(!code_range(parse_quant("e4m3fn/absmax/tensor").format));
  CHECK_THROWS_AS(codes_of("e4m3fn/absmax/tensor", x, x.shape, 1), std::invalid_argument);
}

TEST_CASE("a fixed-point forward MAC multiplies integer codes and rescales after the accumulator") {
  // Linear 40 -> 5, W int4 per channel, A uint4 per tensor: 40 products of
  // up to 7 * 15 overflow an 8-bit accumulator, which wraps or saturates on
  // the codes after every addition, as integer hardware does.
  const std::int64_t in = 40, out = 5, n = 3;
  Tensor<float> x = randn<float>({n, in}, 71);
  for (auto& v : x.data) v = std::fabs(v);  // post-ReLU activations
  for (const std::string acc : {"int32", "int8:wrap", "int8:sat"}) {
    CAPTURE(acc);
    Linear<float> fc(in, out);
    fc.reset_parameters(72);
    fc.precision.w = parse_quant("int4/absmax/channel");
    fc.precision.a = parse_quant("uint4/absmax/tensor");
    fc.precision.fwd = sim::parse_mac("a=int4,b=uint4,acc=" + acc + ",out=fp32");
    CHECK(code_product_problem(fc.precision.fwd, fc.precision.w, fc.precision.a).empty());
    const Tensor<float> y = fc.forward(x, true);
    const ScaledCodes wc = codes_of("int4/absmax/channel", fc.weight.value, {out, in}, 0);
    const ScaledCodes xc = codes_of("uint4/absmax/tensor", x, x.shape, 1);
    Tensor<float> want({n, out});
    bool clipped = false;
    for (std::int64_t b = 0; b < n; ++b)
      for (std::int64_t o = 0; o < out; ++o) {
        std::int64_t s = 0, exact = 0;
        for (std::int64_t i = 0; i < in; ++i) {
          const auto p = std::int64_t(wc.code[std::size_t(o * in + i)]) * std::int64_t(xc.code[std::size_t(b * in + i)]);
          exact += p;
          s += p;
          if (acc == "int8:wrap") s = wrap(s, 8);
          if (acc == "int8:sat") s = std::clamp<std::int64_t>(s, -128, 127);
        }
        clipped |= s != exact;
        want[b * out + o] = float(double(s) * (wc.scale[std::size_t(o)] * xc.scale[0])) + fc.bias.value[o];
      }
    CHECK(bitwise_equal(y, want));
    CHECK(clipped == (acc != "int32"));  // the narrow accumulator did overflow
  }
}

TEST_CASE("a fixed-point conv MAC on codes equals the exact integer convolution, rescaled") {
  for (const auto& c : kConvCases) {
    ConvPair pair(c, 80);
    pair.f.precision.w = parse_quant("int3/absmax/channel");
    pair.f.precision.a = parse_quant("int4/minmax/tensor");  // codes q + zero point: 5 bits signed
    pair.f.precision.fwd = sim::parse_mac("a=int3,b=int5,acc=int32,out=fp32");
    const Tensor<float> x = randn<float>(c.x, 81);
    const Tensor<float> y = pair.f.forward(x, true);
    const std::int64_t k = c.cin / c.groups * c.k * c.k;
    const ScaledCodes wc = codes_of("int3/absmax/channel", pair.f.weight.value, {c.cout, k}, 0);
    const ScaledCodes xc = codes_of("int4/minmax/tensor", x, x.shape, 1);
    // The codes through the fp32 reference convolution (exact: small integers), rescaled.
    Conv2d<float> ref(c.cin, c.cout, c.k, c.stride, c.pad, c.groups);
    ref.weight.value.data.assign(wc.code.begin(), wc.code.end());
    ref.bias.value.data.assign(std::size_t(c.cout), 0.f);
    Tensor<float> xcodes(x.shape);
    xcodes.data.assign(xc.code.begin(), xc.code.end());
    Tensor<float> want = direct_conv(ref, xcodes);
    const std::int64_t plane = want.dim(2) * want.dim(3);
    for (std::int64_t i = 0; i < want.numel(); ++i) {
      const std::int64_t o = (i / plane) % c.cout;
      want[i] = float(double(want[i]) * (wc.scale[std::size_t(o)] * xc.scale[0])) + pair.f.bias.value[o];
    }
    CAPTURE(c.groups);
    CHECK(bitwise_equal(y, want));
  }
}

TEST_CASE("running activation ranges: the batch's range in training, folded in as QuantMeasure; the running one in eval") {
  Linear<float> fc(6, 3);
  fc.reset_parameters(90);
  fc.precision.a = parse_quant("int4/minmax/tensor");
  fc.precision.a_running_range = true;
  const Tensor<float> x1 = randn<float>({4, 6}, 91), x2 = randn<float>({4, 6}, 92, 3.0);
  auto range_of = [](const Tensor<float>& x) {
    return std::pair{*std::min_element(x.data.begin(), x.data.end()), *std::max_element(x.data.begin(), x.data.end())};
  };
  // Training: the output is the batch's own quantization, and the state moves.
  Linear<float> plain(6, 3);
  plain.reset_parameters(90);
  plain.precision.a = fc.precision.a;
  CHECK(bitwise_equal(fc.forward(x1, true), plain.forward(x1, true)));
  const auto [mn1, mx1] = range_of(x1);
  float zp = 0.f * 0.1f + mn1 * 0.9f, r = 0.f * 0.1f + (mx1 - mn1) * 0.9f;
  CHECK(fc.a_range.state[0] == zp);
  CHECK(fc.a_range.state[1] == r);
  fc.forward(x2, true);
  const auto [mn2, mx2] = range_of(x2);
  zp = zp * 0.1f + mn2 * 0.9f, r = r * 0.1f + (mx2 - mn2) * 0.9f;
  CHECK(fc.a_range.state[0] == zp);
  CHECK(fc.a_range.state[1] == r);
  // Evaluation: quantized with [zp, zp + r], which clips x2's extremes; the state stays.
  const Tensor<float> y = fc.forward(x2, false);
  Tensor<float> xq = x2;
  const TensorRange given{double(zp), double(zp) + double(r)};
  quantize_tensor(fc.precision.a.value(), x2.ptr(), xq.ptr(), x2.shape, 1, {}, nullptr, &given);
  Linear<float> ref(6, 3);
  ref.reset_parameters(90);
  CHECK(bitwise_equal(y, ref.forward(xq, false)));
  CHECK(!bitwise_equal(y, plain.forward(x2, false)));  // not the batch's own range
  CHECK(fc.a_range.state[1] == r);
  // A range needs per-tensor scales.
  fc.precision.a = parse_quant("int4/minmax/channel");
  CHECK_THROWS_WITH_AS(fc.forward(x2, false), doctest::Contains("a given range needs per-tensor scaling"),
                       std::invalid_argument);
}
