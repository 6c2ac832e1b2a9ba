#include "data/file_bytes.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "data/error.hpp"

namespace lpsim::data {

struct ByteStream::Impl {
  std::FILE* f = nullptr;
  std::vector<std::uint8_t> in = std::vector<std::uint8_t>(std::size_t(1) << 16);
  std::size_t in_at = 0, in_end = 0;  // unread raw bytes are in[in_at, in_end)
  std::uint64_t raw_read = 0;         // bytes taken from the file so far
  bool eof = false;                   // the raw file is exhausted
  bool gzip = false, z_open = false, member_done = false;
  z_stream z{};

  ~Impl() {
    if (z_open) inflateEnd(&z);
    if (f) std::fclose(f);
  }
  // Refills the raw buffer when it is empty; false at the end of the file.
  bool fill(const ByteStream& s) {
    if (in_at < in_end) return true;
    if (eof) return false;
    in_at = 0, in_end = std::fread(in.data(), 1, in.size(), f);
    if (std::ferror(f)) fail(s.path(), s.what(), std::string("a read error (") + std::strerror(errno) + ")");
    raw_read += in_end;
    if (in_end < in.size()) eof = true;
    return in_end > 0;
  }
};

ByteStream::ByteStream(const std::string& path, const std::string& what)
    : impl_(std::make_unique<Impl>()), path_(path), what_(what) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);  // follows symlinks
  if (!std::filesystem::exists(st)) fail(path, what, "no such file");
  if (std::filesystem::is_directory(st)) fail(path, what, "a directory");
  if (std::filesystem::is_block_file(st) || std::filesystem::is_character_file(st) ||
      std::filesystem::is_socket(st))
    fail(path, what, "a device or socket, not a file");
  impl_->f = std::fopen(path.c_str(), "rb");
  if (!impl_->f) fail(path, what, std::string("a file that cannot be opened (") + std::strerror(errno) + ")");
  // Two bytes decide gzip or raw; a one-byte file is raw.
  impl_->fill(*this);
  if (impl_->in_end - impl_->in_at == 1 && !impl_->eof) {
    // A pipe can deliver one byte at a time: make sure two are there when they exist.
    const int c = std::fgetc(impl_->f);
    if (c == EOF) impl_->eof = true;
    else impl_->in[impl_->in_end++] = std::uint8_t(c), ++impl_->raw_read;
  }
  const auto& b = impl_->in;
  impl_->gzip = impl_->in_end - impl_->in_at >= 2 && b[0] == 0x1f && b[1] == 0x8b;
  if (impl_->gzip) {
    if (inflateInit2(&impl_->z, 16 + MAX_WBITS) != Z_OK) fail(path, what, "that zlib could not start inflating");
    impl_->z_open = true;
  }
}

ByteStream::~ByteStream() = default;

std::size_t ByteStream::read(std::uint8_t* dst, std::size_t n) {
  Impl& m = *impl_;
  std::size_t got = 0;
  while (got < n) {
    if (!m.gzip) {
      if (!m.fill(*this)) break;
      const std::size_t k = std::min(n - got, m.in_end - m.in_at);
      std::memcpy(dst + got, m.in.data() + m.in_at, k);
      m.in_at += k, got += k;
      continue;
    }
    if (m.member_done) {  // another gzip member follows, or the data ends
      if (!m.fill(*this)) break;
      inflateReset(&m.z);
      m.member_done = false;
    }
    if (m.in_at == m.in_end && !m.fill(*this))
      fail(path_, what_ + " (complete gzip stream)",
           "a truncated gzip stream after " + std::to_string(m.raw_read) + " bytes");
    constexpr std::size_t kStep = std::size_t(1) << 30;  // zlib counts in 32-bit uInt
    const std::size_t room = std::min(n - got, kStep), avail = m.in_end - m.in_at;
    m.z.next_in = m.in.data() + m.in_at;
    m.z.avail_in = static_cast<uInt>(avail);
    m.z.next_out = dst + got;
    m.z.avail_out = static_cast<uInt>(room);
    const int rc = inflate(&m.z, Z_NO_FLUSH);
    m.in_at += avail - m.z.avail_in;
    got += room - m.z.avail_out;
    if (rc == Z_STREAM_END) {
      m.member_done = true;
    } else if (rc == Z_BUF_ERROR && m.in_at == m.in_end && !m.fill(*this)) {
      fail(path_, what_ + " (complete gzip stream)",
           "a truncated gzip stream after " + std::to_string(m.raw_read) + " bytes");
    } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
      fail(path_, what_ + " (valid gzip stream)",
           std::string("corrupt gzip data (zlib: ") + (m.z.msg ? m.z.msg : "error") + ")");
    }
  }
  pos_ += got;
  return got;
}

std::size_t ByteStream::append(std::vector<std::uint8_t>& out, std::size_t n) {
  // Chunks grow with what has arrived (64 KiB up to 64 MiB): a small file
  // costs a small buffer, a large one few resizes.
  constexpr std::size_t kMin = std::size_t(1) << 16, kMax = std::size_t(1) << 26;
  std::size_t got = 0;
  while (got < n) {
    const std::size_t want = std::min(n - got, std::clamp(out.size(), kMin, kMax)), at = out.size();
    out.resize(at + want);
    const std::size_t k = read(out.data() + at, want);
    out.resize(at + k);
    got += k;
    if (k < want) break;
  }
  return got;
}

bool ByteStream::at_end() {
  std::uint8_t probe;
  if (read(&probe, 1) == 0) return true;
  --pos_;  // not consumed as far as callers count; only used to detect trailing data
  return false;
}

std::vector<std::uint8_t> read_file_bytes(const std::string& path, const std::string& what, std::uint64_t max_bytes) {
  ByteStream s(path, what);
  std::vector<std::uint8_t> bytes;
  s.append(bytes, std::size_t(std::min<std::uint64_t>(max_bytes, SIZE_MAX - 1)) + 1);
  if (bytes.size() > max_bytes)
    fail(path, what + " of at most " + std::to_string(max_bytes) + " bytes", "more");
  return bytes;
}

}  // namespace lpsim::data
