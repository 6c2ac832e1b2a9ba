// Tensor basics and the shape errors every layer relies on.
#include <doctest/doctest.h>

#include <string>

#include "nn/nn.hpp"

using namespace lpsim::nn;

namespace {

std::string error_of(auto&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("tensor holds its shape and values") {
  Tensor<float> t({2, 3, 4}, 1.5f);
  CHECK(t.numel() == 24);
  CHECK(t.rank() == 3);
  CHECK(t.dim(1) == 3);
  CHECK(t[23] == 1.5f);
  const Tensor<double> d = cast<double>(t);
  CHECK(d.shape == t.shape);
  CHECK(d[5] == 1.5);
  CHECK(shape_str({2, -1, 4}) == "[2, *, 4]");
  CHECK_THROWS_AS(Tensor<float>({2, -3}), std::invalid_argument);
}

TEST_CASE("shape errors name the layer, the tensor and both shapes") {
  const std::string msg = error_of([] { check_shape("stage1.conv1", "input", {8, 1, 28, 28}, {-1, 3, -1, -1}); });
  CHECK(msg == "stage1.conv1: input has shape [8, 1, 28, 28], expected [*, 3, *, *]");
  CHECK_NOTHROW(check_shape("x", "input", {8, 3, 5, 5}, {-1, 3, -1, -1}));

  Conv2d<float> conv(3, 4, 3);
  conv.name = "stage2.block1.conv2";
  const std::string c = error_of([&] { conv.forward(Tensor<float>({2, 1, 8, 8}), true); });
  CHECK(c.find("stage2.block1.conv2: input has shape [2, 1, 8, 8], expected [*, 3, *, *]") != std::string::npos);
  CHECK(error_of([&] { conv.forward(Tensor<float>({2, 3, 2, 2}), true); }).find("stage2.block1.conv2") == 0);

  Linear<double> fc(10, 5);
  fc.name = "fc";
  CHECK(error_of([&] { fc.forward(Tensor<double>({4, 3, 2, 2}), true); }).find("fc: input (flatten images first) has shape [4, 3, 2, 2], expected [*, 10]") == 0);
  fc.forward(Tensor<double>({4, 10}), true);
  CHECK(error_of([&] { fc.backward(Tensor<double>({4, 6})); }) ==
        "fc: output gradient has shape [4, 6], expected [4, 5]");

  ResidualAdd<float> add;
  add.name = "stage1.block0.add";
  CHECK(error_of([&] { add.forward(Tensor<float>({1, 2}), Tensor<float>({1, 3})); }) ==
        "stage1.block0.add: shortcut has shape [1, 3], expected [1, 2]");
}

TEST_CASE("a shape whose element count overflows 64 bits or has a negative size is refused, never wrapped") {
  const Shape huge{std::int64_t(1) << 62, 4};  // 2^64 elements: wraps to 0 in 64 bits
  CHECK_THROWS_WITH_AS(numel(huge), "shape [4611686018427387904, 4]: element count overflows 64 bits",
                       std::length_error);
  CHECK_THROWS_AS(Tensor<float>::uninitialized(huge), std::length_error);
  CHECK_THROWS_AS(Tensor<float>(Shape{3037000500, 3037000500}), std::length_error);  // just over 2^63
  CHECK(numel(Shape{3037000499, 3037000499}) == std::int64_t(3037000499) * 3037000499);  // just under
  CHECK(error_of([] { Tensor<float>::uninitialized(Shape{2, -1}); }).find("negative dimension") != std::string::npos);
}
