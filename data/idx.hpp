// IDX files (the MNIST / Fashion-MNIST format): magic 00 00 <type> <ndims>,
// ndims big-endian uint32 dimensions, then the values in row-major order.
// Only type 0x08 (unsigned byte) is read: it is what every image data set in
// the format uses. Raw or gzip-compressed (detected by its magic).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lpsim::data {

// The most values a header may declare (16 GiB of bytes): beyond it a file is
// refused before anything is read or allocated.
inline constexpr std::uint64_t kMaxIdxValues = std::uint64_t(1) << 34;

struct IdxArray {
  std::vector<std::uint32_t> dims;
  std::vector<std::uint8_t> values;  // product of dims, row-major
};

// Throws DataError naming the path on a missing file, bad magic, a type other
// than unsigned byte, or a size that disagrees with the dimensions.
IdxArray read_idx(const std::string& path);

// read_idx, then checks the number of dimensions (3 for images, 1 for labels).
IdxArray read_idx(const std::string& path, std::size_t expected_ndims);

}  // namespace lpsim::data
