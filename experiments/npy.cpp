#include "experiments/npy.hpp"

#include <bit>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>

#include <fmt/core.h>

namespace lpsim::cli {

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::invalid_argument(path + ": " + what);
}

// The value of 'key' in the header dict, as its raw text up to the next top-level comma.
std::string field(const std::string& header, const std::string& key, const std::string& path) {
  const auto at = header.find("'" + key + "'");
  if (at == std::string::npos) fail(path, "npy header has no '" + key + "'");
  auto p = header.find(':', at);
  if (p == std::string::npos) fail(path, "malformed npy header");
  ++p;
  int depth = 0;
  std::string v;
  for (; p < header.size(); ++p) {
    const char c = header[p];
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if ((c == ',' && depth == 0) || c == '}') break;
    v += c;
  }
  const auto b = v.find_first_not_of(" "), e = v.find_last_not_of(" ");
  return b == std::string::npos ? "" : v.substr(b, e - b + 1);
}

Matrix read_npy(const std::string& path, const std::string& bytes) {
  if (bytes.size() < 10) fail(path, "truncated npy file");
  const int major = static_cast<unsigned char>(bytes[6]);
  std::size_t header_len = 0, start = 0;
  if (major == 1) {
    header_len = std::size_t(static_cast<unsigned char>(bytes[8])) | std::size_t(static_cast<unsigned char>(bytes[9])) << 8;
    start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) fail(path, "truncated npy file");
    for (int i = 0; i < 4; ++i) header_len |= std::size_t(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
    start = 12;
  } else {
    fail(path, "unsupported npy version " + std::to_string(major));
  }
  if (bytes.size() < start + header_len) fail(path, "truncated npy header");
  const std::string header = bytes.substr(start, header_len);
  const std::string descr = field(header, "descr", path), order = field(header, "fortran_order", path);
  const std::string shape = field(header, "shape", path);
  const bool f4 = descr == "'<f4'", f8 = descr == "'<f8'";
  if (!f4 && !f8) fail(path, "dtype " + descr + " is not supported (float32 '<f4' or float64 '<f8')");
  std::vector<std::int64_t> dims;
  {
    std::string s = shape;
    for (char& c : s)
      if (c == '(' || c == ')' || c == ',') c = ' ';
    std::istringstream in(s);
    for (std::int64_t d; in >> d;) dims.push_back(d);
  }
  if (dims.empty() || dims.size() > 2) fail(path, "shape " + shape + " is not 1-D or 2-D");
  Matrix m;
  m.rows = dims.size() == 2 ? dims[0] : 1;
  m.cols = dims.back();
  const std::size_t n = std::size_t(m.rows * m.cols), width = f4 ? 4 : 8;
  const std::size_t data_at = start + header_len;
  if (bytes.size() - data_at != n * width)
    fail(path, fmt::format("holds {} data bytes, shape {} needs {}", bytes.size() - data_at, shape, n * width));
  m.data.resize(n);
  const bool fortran = order == "True";
  for (std::size_t q = 0; q < n; ++q) {
    double v;
    if (f4) {
      float x;
      std::memcpy(&x, bytes.data() + data_at + q * 4, 4);
      v = x;
    } else {
      std::memcpy(&v, bytes.data() + data_at + q * 8, 8);
    }
    // Fortran order stores column by column.
    const std::size_t dst = fortran ? (q % std::size_t(m.rows)) * std::size_t(m.cols) + q / std::size_t(m.rows) : q;
    m.data[dst] = float(v);
  }
  return m;
}

Matrix read_text(const std::string& path, const std::string& bytes) {
  Matrix m;
  std::istringstream lines(bytes);
  std::string line;
  for (int number = 1; std::getline(lines, line); ++number) {
    if (const auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    for (char& c : line)
      if (c == ',' || c == '\t') c = ' ';
    std::istringstream words(line);
    std::int64_t cols = 0;
    for (std::string w; words >> w; ++cols) {
      std::size_t used = 0;
      float v = 0;
      try {
        v = std::stof(w, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != w.size()) fail(path, fmt::format("line {}: \"{}\" is not a number", number, w));
      m.data.push_back(v);
    }
    if (cols == 0) continue;
    if (m.rows > 0 && cols != m.cols)
      fail(path, fmt::format("line {} has {} numbers, the lines before have {}", number, cols, m.cols));
    m.cols = cols;
    ++m.rows;
  }
  if (m.rows == 0) fail(path, "no numbers found");
  return m;
}

}  // namespace

Matrix read_matrix(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(path, "cannot open (expected a .npy file or a text matrix)");
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (bytes.compare(0, 6, "\x93NUMPY") == 0) return read_npy(path, bytes);
  return read_text(path, bytes);
}

void write_npy(const std::string& path, const Matrix& m) {
  static_assert(std::endian::native == std::endian::little, "npy writer assumes a little-endian host");
  std::string header = fmt::format("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}", m.rows, m.cols);
  // Magic, version, length and header together a multiple of 64 bytes, ending in '\n'.
  const std::size_t total = (10 + header.size() + 1 + 63) / 64 * 64;
  header.append(total - 10 - header.size() - 1, ' ');
  header += '\n';
  std::ofstream f(path, std::ios::binary);
  if (!f) fail(path, "cannot create");
  const char preamble[10] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0, char(header.size() & 0xff), char(header.size() >> 8)};
  f.write(preamble, 10);
  f << header;
  f.write(reinterpret_cast<const char*>(m.data.data()), std::streamsize(m.data.size() * sizeof(float)));
  if (!f) fail(path, "write failed");
}

void write_text(const std::string& path, const Matrix& m) {
  std::ofstream f(path);
  if (!f) fail(path, "cannot create");
  for (std::int64_t i = 0; i < m.rows; ++i)
    for (std::int64_t j = 0; j < m.cols; ++j)
      f << fmt::format("{:.9g}{}", m.data[std::size_t(i * m.cols + j)], j + 1 < m.cols ? ' ' : '\n');
  if (!f) fail(path, "write failed");
}

}  // namespace lpsim::cli
