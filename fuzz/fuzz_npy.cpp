// The .npy / text matrix reader (experiments/npy.hpp read_matrix), on an
// in-memory file. An std::exception naming the file is a fine answer; a
// crash, a sanitizer report, a hang or a huge allocation is a finding.
// Invariant: what it returns has rows * cols values.
#include <cstdint>
#include <exception>
#include <string>

#include "experiments/npy.hpp"
#include "fuzz_util.hpp"

using namespace lpsim;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static fuzz::MemFile file;
  const std::string& path = file.write(data, size);
  try {
    const cli::Matrix m = cli::read_matrix(path);
    if (m.rows < 0 || m.cols < 0 || std::uint64_t(m.rows) * std::uint64_t(m.cols) != m.data.size())
      fuzz::finding("read_matrix returned " + std::to_string(m.rows) + "x" + std::to_string(m.cols) + " with " +
                    std::to_string(m.data.size()) + " values");
  } catch (const std::exception&) {
  }
  return 0;
}
