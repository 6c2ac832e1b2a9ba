#include "data/file_bytes.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "data/error.hpp"

namespace lpsim::data {
namespace {

std::vector<std::uint8_t> read_raw(const std::string& path, const std::string& what) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail(path, what, "no such file");
  if (std::filesystem::is_directory(path, ec)) fail(path, what, "a directory");
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) fail(path, what, std::string("a file that cannot be opened (") + std::strerror(errno) + ")");
  std::vector<std::uint8_t> bytes;
  std::uint8_t buf[1 << 16];
  for (std::size_t got; (got = std::fread(buf, 1, sizeof buf, f.get())) > 0;) bytes.insert(bytes.end(), buf, buf + got);
  if (std::ferror(f.get())) fail(path, what, std::string("a read error (") + std::strerror(errno) + ")");
  return bytes;
}

bool is_gzip(const std::vector<std::uint8_t>& b) { return b.size() >= 2 && b[0] == 0x1f && b[1] == 0x8b; }

std::vector<std::uint8_t> gunzip(const std::vector<std::uint8_t>& z, const std::string& path, const std::string& what) {
  z_stream s{};
  if (inflateInit2(&s, 16 + MAX_WBITS) != Z_OK) fail(path, what, "that zlib could not start inflating");
  struct End { z_stream* s; ~End() { inflateEnd(s); } } end{&s};

  // The gzip trailer's ISIZE (size mod 2^32) is a good first guess of the output
  // size; capped by deflate's largest ratio (1032:1) since a damaged file's trailer is noise.
  std::size_t guess = std::size_t(1) << 16;
  if (z.size() >= 18) {
    const std::uint8_t* t = &z[z.size() - 4];
    const std::size_t isize = t[0] | t[1] << 8 | t[2] << 16 | std::size_t(t[3]) << 24;
    guess = std::max(guess, std::min(isize, z.size() * 1032));
  }
  std::vector<std::uint8_t> out(guess);
  std::size_t in_pos = 0, out_pos = 0;
  constexpr std::size_t kStep = std::size_t(1) << 30;  // zlib counts in 32-bit uInt
  for (;;) {
    if (s.avail_in == 0 && in_pos < z.size()) {
      const std::size_t n = std::min(z.size() - in_pos, kStep);
      s.next_in = const_cast<Bytef*>(z.data() + in_pos);
      s.avail_in = static_cast<uInt>(n);
      in_pos += n;
    }
    if (out_pos == out.size()) out.resize(out.size() * 2);
    const std::size_t room = std::min(out.size() - out_pos, kStep);
    s.next_out = out.data() + out_pos;
    s.avail_out = static_cast<uInt>(room);
    const int rc = inflate(&s, Z_NO_FLUSH);
    out_pos += room - s.avail_out;
    if (rc == Z_STREAM_END) {
      if (s.avail_in == 0 && in_pos == z.size()) break;
      inflateReset(&s);  // more input: the next member of a multi-member gzip file
    } else if (rc == Z_BUF_ERROR && s.avail_in == 0 && in_pos == z.size()) {
      fail(path, what + " (complete gzip stream)", "a truncated gzip stream after " + std::to_string(z.size()) + " bytes");
    } else if (rc != Z_OK) {
      fail(path, what + " (valid gzip stream)", std::string("corrupt gzip data (zlib: ") + (s.msg ? s.msg : "error") + ")");
    }
  }
  out.resize(out_pos);
  return out;
}

}  // namespace

std::vector<std::uint8_t> read_file_bytes(const std::string& path, const std::string& what) {
  std::vector<std::uint8_t> bytes = read_raw(path, what);
  return is_gzip(bytes) ? gunzip(bytes, path, what) : bytes;
}

}  // namespace lpsim::data
