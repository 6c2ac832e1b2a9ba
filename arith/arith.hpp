// One include for the whole arith layer.
#pragma once

#include "arith/codec.hpp"
#include "arith/format.hpp"
#include "arith/golden.hpp"
#include "arith/quantize.hpp"
#include "arith/rounding.hpp"
