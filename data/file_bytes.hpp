// Files read in pieces, decompressed on the fly when they start with the gzip
// magic (1f 8b), so every reader takes "x" and "x.gz" alike and stops as soon
// as what it has read disagrees with what the header promised: a reader never
// holds more than the file's header says it should, however large the file,
// the inflated stream or the device behind a symlink.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace lpsim::data {

class ByteStream {
 public:
  // `what` describes the expected content ("an IDX file") for every error
  // raised: a missing, unreadable or non-file path, a truncated or corrupt gzip stream.
  ByteStream(const std::string& path, const std::string& what);
  ~ByteStream();
  ByteStream(const ByteStream&) = delete;
  ByteStream& operator=(const ByteStream&) = delete;

  // Up to n bytes into dst; fewer only at the end of the (decompressed) data.
  std::size_t read(std::uint8_t* dst, std::size_t n);
  // Appends up to n bytes to out, growing it as the bytes arrive (a header
  // that lies about a short file allocates no more than the file holds).
  std::size_t append(std::vector<std::uint8_t>& out, std::size_t n);
  // True when no byte is left. It takes the next byte if there is one, so it
  // is the last call: the check for trailing data after a complete read.
  bool at_end();
  std::uint64_t position() const { return pos_; }  // bytes delivered so far
  const std::string& path() const { return path_; }
  const std::string& what() const { return what_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_, what_;
  std::uint64_t pos_ = 0;
};

// The whole (decompressed) file, refused past max_bytes: for formats whose
// size the header does not tell.
std::vector<std::uint8_t> read_file_bytes(const std::string& path, const std::string& what,
                                          std::uint64_t max_bytes = std::uint64_t(1) << 32);

}  // namespace lpsim::data
