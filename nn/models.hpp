// The model zoo: MLP, LeNet-5, CIFAR-style ResNets (He et al. 2016,
// 3 stages of 16/32/64 channels, depth 6n+2) and MobileNetV2 for small
// images with a width multiplier (stage table in models.cpp). Layer names are stable and
// readable ("stage2.block1.conv2"); Conv2d/Linear depth is their index in
// forward order.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "nn/model.hpp"

namespace lpsim::nn {

struct ModelSpec {
  std::string arch = "lenet5";  // mlp, lenet5, resnet<6n+2> (resnet20, resnet38, resnet56, ...),
                                // mobilenetv2, mobilenetv2_<alpha> (mobilenetv2_0.5)
  std::int64_t channels = 1, height = 28, width = 28, classes = 10;
  std::int64_t hidden = 256;    // mlp
  std::string norm = "batch";   // the normalisation layers: batch, range (Range BN, Banner et al. 2018)
  std::uint64_t seed = 0;       // parameter initialisation
};

// Throws std::invalid_argument naming the architecture for unknown names or
// shapes it cannot take.
std::unique_ptr<Model> make_model(const ModelSpec& spec);

}  // namespace lpsim::nn
