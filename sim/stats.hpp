// What a matrix product reports (docs/design.md): the study's three factors
// (accumulation length, usage frequency, depth), event counts and, on request,
// error against an fp64 reference.
#pragma once

#include <cstdint>
#include <string>

namespace lpsim::sim {

// Events of the accumulation, summed over every output.
struct MacCounts {
  std::uint64_t additions = 0;    // rounded additions (a fused step counts once)
  std::uint64_t swamped = 0;      // nonzero addends lost: the sum equalled the other addend, or
                                  // a product truncated to zero when aligned in a fused step
  std::uint64_t overflows = 0;    // exact result beyond the format's range that became inf/NaN or wrapped
  std::uint64_t saturations = 0;  // exact result beyond the range, clamped to the largest finite value
  MacCounts& operator+=(const MacCounts& o) {
    additions += o.additions;
    swamped += o.swamped;
    overflows += o.overflows;
    saturations += o.saturations;
    return *this;
  }
  bool operator==(const MacCounts&) const = default;
};

struct GemmStats {
  std::int64_t m = 0, n = 0, k = 0;  // C (m x n) = A (m x k) . B (k x n); k is the accumulation length
  double usage_a = 0, usage_b = 0;   // outputs reading each element of A (= n) and of B (= m), on average
  double usage_a_max = 0, usage_b_max = 0;
  int depth = -1;                    // the caller's tag: the layer's position in its model
  std::string tag;                   // the caller's name for the product (e.g. "stage2.block1.conv2/fwd")
  MacCounts counts;
  // Error against an fp64 reference (exact products, fp64 sums); only when asked.
  bool has_error = false;
  double max_rel_error = 0, mean_rel_error = 0, sqnr_db = 0;
};

// What to measure. Counting is cheap; the error needs a second, fp64 product.
struct StatsRequest {
  bool counts = true;
  bool error = false;
  int depth = -1;
  std::string tag;
};

}  // namespace lpsim::sim
