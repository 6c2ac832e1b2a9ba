// Seeded, platform-independent parameter initialisation (a counter-based
// generator: element i depends only on the seed and i).
#pragma once

#include <cstdint>

#include "nn/tensor.hpp"

namespace lpsim::nn {

// splitmix64's finaliser: a bijective mix with good avalanche.
inline std::uint64_t mix64(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// t[i] uniform in [-bound, bound).
template <class T>
void fill_uniform(Tensor<T>& t, double bound, std::uint64_t seed) {
  const std::uint64_t base = mix64(seed);
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    const double u = double(mix64(base + std::uint64_t(i)) >> 11) * 0x1p-53;  // [0, 1)
    t[i] = T((2 * u - 1) * bound);
  }
}

}  // namespace lpsim::nn
