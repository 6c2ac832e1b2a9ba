#include "data/counter_random.hpp"

#include <numeric>
#include <utility>

namespace lpsim::data {

std::vector<std::int32_t> random_permutation(std::int32_t n, std::uint64_t seed, RandomStream stream, std::uint64_t epoch) {
  std::vector<std::int32_t> p(static_cast<std::size_t>(n > 0 ? n : 0));
  std::iota(p.begin(), p.end(), 0);
  for (std::int32_t i = n - 1; i > 0; --i)
    std::swap(p[i], p[scale_below(random_word(seed, stream, epoch, std::uint64_t(i)), std::uint64_t(i) + 1)]);
  return p;
}

}  // namespace lpsim::data
