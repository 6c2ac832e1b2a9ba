#include "data/idx.hpp"

#include <algorithm>
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
  ByteStream in(path, "an IDX file");
  std::uint8_t h[4];
  if (const std::size_t got = in.read(h, 4); got < 4)
    fail(path, "an IDX header of at least 4 bytes", "a file of " + std::to_string(got) + " bytes");
  if (h[0] != 0 || h[1] != 0)
    fail(path, "IDX magic starting 0x00 0x00", "bytes " + hex_byte(h[0]) + " " + hex_byte(h[1]) + " (not an IDX file)");
  if (h[2] != 0x08)
    fail(path, "IDX data type 0x08 (unsigned byte)", "type " + hex_byte(h[2]) + " (" + type_name(h[2]) + ")");
  const std::size_t nd = h[3];
  if (nd == 0) fail(path, "at least one IDX dimension", "0");
  const std::size_t header = 4 + 4 * nd;
  std::vector<std::uint8_t> d(4 * nd);
  if (const std::size_t got = in.read(d.data(), d.size()); got < d.size())
    fail(path, "an IDX header of " + std::to_string(header) + " bytes for " + std::to_string(nd) + " dimensions",
         "a file of " + std::to_string(4 + got) + " bytes");

  IdxArray a;
  // The product saturates at the largest size read: it cannot overflow.
  bool too_big = false;
  std::uint64_t count = 1;
  for (std::size_t i = 0; i < nd; ++i) {
    const std::uint8_t* p = &d[4 * i];
    a.dims.push_back(std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3]);
    if (!too_big && a.dims.back() != 0 && count > kMaxIdxValues / a.dims.back()) too_big = true;
    else count *= a.dims.back();
  }
  if (std::find(a.dims.begin(), a.dims.end(), 0u) != a.dims.end()) too_big = false, count = 0;
  const std::string expected = std::to_string(header) + "-byte header + " + dims_text(a.dims) + " values = ";
  if (too_big)
    fail(path, expected + "more than " + std::to_string(header + kMaxIdxValues) + " bytes",
         "a header beyond what lpsim reads (" + std::to_string(kMaxIdxValues) + " values at most)");
  const std::string need = expected + std::to_string(header + count) + " bytes";
  if (const std::size_t got = in.append(a.values, std::size_t(count)); got < count)
    fail(path, need, "a file of " + std::to_string(header + got) + " bytes (truncated)");
  if (!in.at_end()) fail(path, need, "more bytes (data after the last value)");
  return a;
}

IdxArray read_idx(const std::string& path, std::size_t expected_ndims) {
  IdxArray a = read_idx(path);
  if (a.dims.size() != expected_ndims)
    fail(path, std::to_string(expected_ndims) + " IDX dimensions", std::to_string(a.dims.size()) + " (" + dims_text(a.dims) + ")");
  return a;
}

}  // namespace lpsim::data
