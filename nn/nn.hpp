// One include for the layer library of the training stack.
#pragma once

#include "nn/init.hpp"
#include "nn/layer.hpp"
#include "nn/layers/activation.hpp"
#include "nn/layers/batchnorm2d.hpp"
#include "nn/layers/conv2d.hpp"
#include "nn/layers/flatten.hpp"
#include "nn/layers/linear.hpp"
#include "nn/layers/pool.hpp"
#include "nn/layers/residual.hpp"
#include "nn/layers/softmax_cross_entropy.hpp"
#include "nn/precision.hpp"
#include "nn/quantizer.hpp"
#include "nn/tensor.hpp"
