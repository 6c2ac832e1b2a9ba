#include <doctest/doctest.h>

#include "arith/arith.hpp"

using namespace lpsim::arith;

TEST_CASE("smoke") {
  Format f = parse_format("e4m3fn");
  CHECK(f.max_finite() == 448.0);
  CHECK(quantize(1.3f, f) == 1.25f);
}
