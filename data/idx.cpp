#include "data/idx.hpp"

#include <cstdio>

#include "data/error.hpp"
#include "data/file_bytes.hpp"

namespace lpsim::data {
namespace {

std::string hex_byte(unsigned b) {
  char s[8];
  std::snprintf(s, sizeof s, "0x%02X", b & 0xFFu);
  return s;
}

const char* type_name(unsigned t) {
  switch (t) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "unknown type";
  }
}

std::string dims_text(const std::vector<std::uint32_t>& dims) {
  std::string s;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (i) s += 'x';
    s += std::to_string(dims[i]);
  }
  return s;
}

}  // namespace

IdxArray read_idx(const std::string& path) {
  const std::vector<std::uint8_t> b = read_file_bytes(path, "an IDX file");
  if (b.size() < 4) fail(path, "an IDX header of at least 4 bytes", "a file of " + std::to_string(b.size()) + " bytes");
  if (b[0] != 0 || b[1] != 0)
    fail(path, "IDX magic starting 0x00 0x00", "bytes " + hex_byte(b[0]) + " " + hex_byte(b[1]) + " (not an IDX file)");
  if (b[2] != 0x08)
    fail(path, "IDX data type 0x08 (unsigned byte)", "type " + hex_byte(b[2]) + " (" + type_name(b[2]) + ")");
  const std::size_t nd = b[3];
  if (nd == 0) fail(path, "at least one IDX dimension", "0");
  const std::size_t header = 4 + 4 * nd;
  if (b.size() < header)
    fail(path, "an IDX header of " + std::to_string(header) + " bytes for " + std::to_string(nd) + " dimensions",
         "a file of " + std::to_string(b.size()) + " bytes");

  IdxArray a;
  // The product is clamped just past the file size: enough to compare, and it cannot overflow.
  unsigned __int128 count = 1;
  for (std::size_t i = 0; i < nd; ++i) {
    const std::uint8_t* p = &b[4 + 4 * i];
    a.dims.push_back(std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3]);
    count *= a.dims.back();
    if (count > b.size()) count = b.size() + 1;
  }
  if (b.size() - header != count)
    fail(path, std::to_string(header) + "-byte header + " + dims_text(a.dims) + " values = " +
                   (count > b.size() ? "more than " + std::to_string(b.size()) : std::to_string(header + std::size_t(count))) +
                   " bytes",
         "a file of " + std::to_string(b.size()) + " bytes" + (b.size() - header < count ? " (truncated)" : ""));
  a.values.assign(b.begin() + static_cast<std::ptrdiff_t>(header), b.end());
  return a;
}

IdxArray read_idx(const std::string& path, std::size_t expected_ndims) {
  IdxArray a = read_idx(path);
  if (a.dims.size() != expected_ndims)
    fail(path, std::to_string(expected_ndims) + " IDX dimensions", std::to_string(a.dims.size()) + " (" + dims_text(a.dims) + ")");
  return a;
}

}  // namespace lpsim::data
