// Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy
// as 1, 2, 3", SC'11): a counter-based generator, so the random bits of element
// i are a pure function of (seed, stream, i) and identical for any thread count.
#pragma once

#include <array>
#include <cstdint>

namespace lpsim::arith {

using Philox4x32 = std::array<std::uint32_t, 4>;

inline Philox4x32 philox4x32_10(Philox4x32 ctr, std::uint32_t k0, std::uint32_t k1) {
  constexpr std::uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
  constexpr std::uint32_t W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int r = 0; r < 10; ++r) {
    const std::uint64_t p0 = std::uint64_t(M0) * ctr[0];
    const std::uint64_t p1 = std::uint64_t(M1) * ctr[2];
    ctr = {std::uint32_t(p1 >> 32) ^ ctr[1] ^ k0, std::uint32_t(p1),
           std::uint32_t(p0 >> 32) ^ ctr[3] ^ k1, std::uint32_t(p0)};
    k0 += W0;
    k1 += W1;
  }
  return ctr;
}

// 64-bit random word `word` (0, 1, 2, ...) of element `index`. The counter is
// (index low, index high, stream, word / 2); each Philox call yields two words.
// Word 0 decides stochastic rounding except when it ties with the fraction.
inline std::uint64_t random_word(std::uint64_t seed, std::uint32_t stream, std::uint64_t index,
                                 std::uint32_t word = 0) {
  const Philox4x32 out = philox4x32_10(
      {std::uint32_t(index), std::uint32_t(index >> 32), stream, word / 2},
      std::uint32_t(seed), std::uint32_t(seed >> 32));
  const unsigned h = (word % 2) * 2;
  return (std::uint64_t(out[h + 1]) << 32) | out[h];
}

}  // namespace lpsim::arith
