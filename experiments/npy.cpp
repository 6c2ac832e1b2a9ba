#include "experiments/npy.hpp"

#include <bit>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>

#include <fmt/core.h>

#include "data/file_bytes.hpp"
#include "experiments/parse_number.hpp"

namespace lpsim::cli {

namespace {

constexpr std::int64_t kMaxElements = std::int64_t(1) << 34;  // 64 GiB of float32: beyond any product lpsim runs
constexpr std::size_t kMaxHeader = std::size_t(1) << 20;      // numpy writes < 100 bytes
constexpr std::size_t kMaxText = std::size_t(1) << 30;

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
    if (c == '(' || c == '[') ++depth;
    if (c == ')' || c == ']') --depth;
    if ((c == ',' && depth == 0) || c == '}') break;
    v += c;
  }
  const auto b = v.find_first_not_of(" "), e = v.find_last_not_of(" ");
  return b == std::string::npos ? "" : v.substr(b, e - b + 1);
}

// Each dimension a non-negative decimal; the element count may not pass kMaxElements.
std::vector<std::int64_t> parse_shape(const std::string& shape, const std::string& path) {
  if (shape.size() < 2 || shape.front() != '(' || shape.back() != ')') fail(path, "npy shape " + shape + " is not a tuple");
  std::vector<std::int64_t> dims;
  std::string s = shape.substr(1, shape.size() - 2);
  for (std::size_t at = 0; at < s.size();) {
    std::size_t comma = s.find(',', at);
    if (comma == std::string::npos) comma = s.size();
    std::string word = s.substr(at, comma - at);
    const auto b = word.find_first_not_of(' '), e = word.find_last_not_of(' ');
    word = b == std::string::npos ? "" : word.substr(b, e - b + 1);
    at = comma + 1;
    if (word.empty() && comma == s.size() && !dims.empty()) break;  // "(4,)"
    std::int64_t d = 0;
    const auto r = std::from_chars(word.data(), word.data() + word.size(), d);
    if (word.empty() || r.ptr != word.data() + word.size() || r.ec != std::errc() || d < 0)
      fail(path, "npy shape " + shape + ": dimension \"" + word + "\" is not a non-negative integer");
    dims.push_back(d);
  }
  if (dims.empty() || dims.size() > 2) fail(path, "shape " + shape + " is not 1-D or 2-D");
  std::int64_t n = 1;
  for (std::int64_t d : dims)
    if (d != 0 && n > kMaxElements / d) fail(path, fmt::format("shape {} has more than {} elements", shape, kMaxElements));
    else n *= d;
  return dims;
}

// `in` has delivered the 6-byte magic.
Matrix read_npy(const std::string& path, data::ByteStream& in) {
  std::uint8_t v[6];
  if (in.read(v, 4) < 4) fail(path, "truncated npy file");
  const int major = v[0];
  std::size_t header_len = std::size_t(v[2]) | std::size_t(v[3]) << 8;
  if (major == 2 || major == 3) {
    if (in.read(v + 4, 2) < 2) fail(path, "truncated npy file");
    header_len |= std::size_t(v[4]) << 16 | std::size_t(v[5]) << 24;
  } else if (major != 1) {
    fail(path, "unsupported npy version " + std::to_string(major));
  }
  if (header_len > kMaxHeader) fail(path, fmt::format("npy header of {} bytes (at most {})", header_len, kMaxHeader));
  std::vector<std::uint8_t> hb;
  if (in.append(hb, header_len) < header_len) fail(path, "truncated npy header");
  const std::string header(hb.begin(), hb.end());
  const std::string descr = field(header, "descr", path), order = field(header, "fortran_order", path);
  const std::string shape = field(header, "shape", path);
  const bool f4 = descr == "'<f4'", f8 = descr == "'<f8'";
  if (!f4 && !f8) fail(path, "dtype " + descr + " is not supported (float32 '<f4' or float64 '<f8')");
  if (order != "True" && order != "False") fail(path, "fortran_order " + order + " is neither True nor False");
  const std::vector<std::int64_t> dims = parse_shape(shape, path);
  Matrix m;
  m.rows = dims.size() == 2 ? dims[0] : 1;
  m.cols = dims.back();
  const std::size_t n = std::size_t(m.rows) * std::size_t(m.cols), width = f4 ? 4 : 8;
  std::vector<std::uint8_t> bytes;
  if (const std::size_t got = in.append(bytes, n * width); got < n * width)
    fail(path, fmt::format("holds {} data bytes, shape {} needs {}", got, shape, n * width));
  if (!in.at_end()) fail(path, fmt::format("holds more than the {} data bytes shape {} needs", n * width, shape));
  m.data.resize(n);
  const bool fortran = order == "True";
  for (std::size_t q = 0; q < n; ++q) {
    double x;
    if (f4) {
      float y;
      std::memcpy(&y, bytes.data() + q * 4, 4);
      x = y;
    } else {
      std::memcpy(&x, bytes.data() + q * 8, 8);
    }
    // Fortran order stores column by column.
    const std::size_t dst = fortran ? (q % std::size_t(m.rows)) * std::size_t(m.cols) + q / std::size_t(m.rows) : q;
    m.data[dst] = float(x);
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
      if (c == ',' || c == '\t' || c == '\r') c = ' ';
    std::istringstream words(line);
    std::int64_t cols = 0;
    for (std::string w; words >> w; ++cols) {
      try {
        m.data.push_back(parse_float(w, "number"));
      } catch (const std::invalid_argument& e) {
        fail(path, fmt::format("line {}: {}", number, e.what()));
      }
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
  data::ByteStream in(path, "a .npy file or a text matrix");
  std::uint8_t magic[6];
  const std::size_t got = in.read(magic, 6);
  if (got == 6 && std::memcmp(magic, "\x93NUMPY", 6) == 0) return read_npy(path, in);
  std::vector<std::uint8_t> text(magic, magic + got);
  in.append(text, kMaxText);
  if (text.size() > kMaxText)
    fail(path, fmt::format("a text matrix of more than {} bytes (use .npy for large matrices)", kMaxText));
  return read_text(path, std::string(text.begin(), text.end()));
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
