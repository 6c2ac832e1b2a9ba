// Small files written by the tests: a temporary directory, IDX and CIFAR
// encoders, gzip, and a helper that returns a DataError's message.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include "data/error.hpp"

namespace fixtures {

using Bytes = std::vector<std::uint8_t>;

// A fresh directory, removed with everything in it at the end of the test.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           ("lpsim-data-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

inline void write_file(const std::string& path, const Bytes& b) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

inline Bytes gzip(const Bytes& raw) {
  z_stream s{};
  if (deflateInit2(&s, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) throw std::runtime_error("deflateInit2");
  Bytes out(deflateBound(&s, uLong(raw.size())));
  s.next_in = const_cast<Bytef*>(raw.data());
  s.avail_in = uInt(raw.size());
  s.next_out = out.data();
  s.avail_out = uInt(out.size());
  const int rc = deflate(&s, Z_FINISH);
  out.resize(std::size_t(s.total_out));
  deflateEnd(&s);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate");
  return out;
}

// An unsigned-byte IDX file: magic, big-endian dims, values.
inline Bytes idx(const std::vector<std::uint32_t>& dims, const Bytes& values) {
  Bytes b = {0, 0, 0x08, std::uint8_t(dims.size())};
  for (std::uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) b.push_back(std::uint8_t(d >> shift));
  b.insert(b.end(), values.begin(), values.end());
  return b;
}

// Deterministic pixel bytes of image i, position k.
inline std::uint8_t pixel(int i, int k) { return std::uint8_t((i * 131 + k * 7) % 256); }

// CIFAR records: labels[i] (and coarse[i] for CIFAR-100) then 3072 pixel(i, k).
inline Bytes cifar(const std::vector<int>& labels, const std::vector<int>& coarse = {}) {
  Bytes b;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (!coarse.empty()) b.push_back(std::uint8_t(coarse[i]));
    b.push_back(std::uint8_t(labels[i]));
    for (int k = 0; k < 3072; ++k) b.push_back(pixel(int(i), k));
  }
  return b;
}

// The message of the DataError that f throws ("" if none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const lpsim::data::DataError& e) {
    return e.what();
  }
  return "";
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace fixtures
