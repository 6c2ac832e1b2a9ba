// The IDX reader (data/idx.hpp read_idx: raw or gzip), on an in-memory file.
// A DataError (any std::exception) is a fine answer; a crash, a sanitizer
// report, a hang or a huge allocation is a finding. Invariant: the values
// are the product of the dimensions.
#include <cstdint>
#include <exception>
#include <string>

#include "data/idx.hpp"
#include "fuzz_util.hpp"

using namespace lpsim;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static fuzz::MemFile file;
  const std::string& path = file.write(data, size);
  try {
    const data::IdxArray a = data::read_idx(path);
    std::uint64_t n = 1;
    for (const std::uint32_t d : a.dims) n *= d;
    if (a.dims.empty() || n != a.values.size())
      fuzz::finding("read_idx returned " + std::to_string(a.values.size()) + " values for " +
                    std::to_string(a.dims.size()) + " dimensions of product " + std::to_string(n));
  } catch (const std::exception&) {
  }
  return 0;
}
