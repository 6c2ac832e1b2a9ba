// Random choices as pure functions of their keys (seed, stream, epoch, index):
// a shuffle or an augmentation never depends on what was drawn before, on the
// thread count or on the batch size, so a run resumes at any epoch bit for bit.
// SplitMix64's finaliser chained over the keys; self-contained so that data/
// stays a leaf layer.
#pragma once

#include <cstdint>
#include <vector>

namespace lpsim::data {

// Streams keep the shuffles and the augmentations of one seed independent.
enum class RandomStream : std::uint64_t { Shuffle = 1, Augment = 2, Subset = 3 };

inline std::uint64_t mix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

inline std::uint64_t random_word(std::uint64_t seed, RandomStream stream, std::uint64_t epoch, std::uint64_t index) {
  std::uint64_t h = mix64(seed);
  h = mix64(h ^ static_cast<std::uint64_t>(stream));
  h = mix64(h ^ epoch);
  return mix64(h ^ index);
}

// r scaled to [0, n): multiply-high, bias below n / 2^64.
inline std::uint64_t scale_below(std::uint64_t r, std::uint64_t n) {
  return static_cast<std::uint64_t>((static_cast<unsigned __int128>(r) * n) >> 64);
}

// A permutation of 0..n-1 (Fisher-Yates), a pure function of (seed, stream, epoch).
std::vector<std::int32_t> random_permutation(std::int32_t n, std::uint64_t seed, RandomStream stream, std::uint64_t epoch);

}  // namespace lpsim::data
