// IDX reader: raw and gzip round trips, and one clear error per kind of damage.
#include <doctest/doctest.h>

#include <filesystem>

#include "data/file_bytes.hpp"
#include "data/idx.hpp"
#include "fixtures.hpp"

using namespace lpsim::data;
using namespace fixtures;

namespace {
const Bytes kValues = {0, 1, 2, 127, 128, 200, 254, 255, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 42, 43, 44, 45, 46, 47};
}

TEST_CASE("IDX raw and gzip read back exactly") {
  TempDir dir;
  for (bool gz : {false, true}) {
    CAPTURE(gz);
    const std::string p = dir / (gz ? "a.idx.gz" : "a.idx");
    const Bytes file = idx({2, 3, 4}, kValues);
    write_file(p, gz ? gzip(file) : file);
    const IdxArray a = read_idx(p, 3);
    CHECK(a.dims == std::vector<std::uint32_t>{2, 3, 4});
    CHECK(a.values == kValues);
  }
}

TEST_CASE("IDX dimensions are big-endian and may exceed one byte") {
  TempDir dir;
  const Bytes values(300, 7);
  write_file(dir / "l", idx({300}, values));
  const IdxArray a = read_idx(dir / "l");
  CHECK(a.dims == std::vector<std::uint32_t>{300});
  CHECK(a.values == values);
}

TEST_CASE("a gzip file of two members reads as their concatenation") {
  TempDir dir;
  const Bytes file = idx({24}, kValues);
  const Bytes head(file.begin(), file.begin() + 10), tail(file.begin() + 10, file.end());
  Bytes two = gzip(head);
  const Bytes second = gzip(tail);
  two.insert(two.end(), second.begin(), second.end());
  write_file(dir / "two.gz", two);
  CHECK(read_idx(dir / "two.gz").values == kValues);
}

TEST_CASE("IDX errors name the path and what was expected") {
  TempDir dir;
  const std::string p = dir / "bad.idx";
  auto error_for = [&](const Bytes& file) {
    write_file(p, file);
    return error_of([&] { read_idx(p); });
  };

  SUBCASE("missing file") {
    const std::string msg = error_of([&] { read_idx(dir / "nope.idx"); });
    CHECK(contains(msg, dir / "nope.idx"));
    CHECK(contains(msg, "expected an IDX file, found no such file"));
  }
  SUBCASE("a directory") {
    const std::string msg = error_of([&] { read_idx(dir.path.string()); });
    CHECK(contains(msg, dir.path.string() + ": expected an IDX file, found a directory"));
  }
  SUBCASE("empty file") {
    const std::string msg = error_for({});
    CHECK(contains(msg, p + ": expected an IDX header of at least 4 bytes, found a file of 0 bytes"));
  }
  SUBCASE("wrong magic") {
    Bytes f = idx({24}, kValues);
    f[0] = 0x50;
    f[1] = 0x4B;
    CHECK(contains(error_for(f), p + ": expected IDX magic starting 0x00 0x00, found bytes 0x50 0x4B"));
  }
  SUBCASE("data type other than unsigned byte") {
    Bytes f = idx({6}, kValues);
    f[2] = 0x0D;
    CHECK(contains(error_for(f), p + ": expected IDX data type 0x08 (unsigned byte), found type 0x0D (float32)"));
  }
  SUBCASE("header shorter than its dimensions") {
    const Bytes f = {0, 0, 8, 3, 0, 0, 0, 2};
    CHECK(contains(error_for(f), p + ": expected an IDX header of 16 bytes for 3 dimensions, found a file of 8 bytes"));
  }
  SUBCASE("truncated data") {
    Bytes f = idx({2, 3, 4}, kValues);
    f.resize(f.size() - 5);
    CHECK(contains(error_for(f), p + ": expected 16-byte header + 2x3x4 values = 40 bytes, found a file of 35 bytes (truncated)"));
  }
  SUBCASE("extra bytes") {
    Bytes f = idx({2, 3, 4}, kValues);
    f.push_back(0);
    CHECK(contains(error_for(f), p + ": expected 16-byte header + 2x3x4 values = 40 bytes, found more bytes (data after the last value)"));
  }
  SUBCASE("dimensions far beyond the file") {
    const Bytes f = idx({0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, kValues);
    CHECK(contains(error_for(f), p + ": expected 16-byte header + 4294967295x4294967295x4294967295 values = more than 17179869200 bytes, found a header beyond what lpsim reads"));
  }
  SUBCASE("wrong number of dimensions") {
    write_file(p, idx({24}, kValues));
    CHECK(contains(error_of([&] { read_idx(p, 3); }), p + ": expected 3 IDX dimensions, found 1 (24)"));
  }
  SUBCASE("truncated gzip") {
    Bytes z = gzip(idx({24}, kValues));
    z.resize(z.size() / 2);
    const std::string msg = error_for(z);
    CHECK(contains(msg, p + ": expected an IDX file (complete gzip stream), found a truncated gzip stream"));
  }
  SUBCASE("corrupt gzip") {
    Bytes z = gzip(idx({24}, kValues));
    z[3] = 0xE0;  // reserved FLG bits set
    const std::string msg = error_for(z);
    CHECK(contains(msg, p + ": expected an IDX file (valid gzip stream), found corrupt gzip data (zlib:"));
  }
  SUBCASE("gzip checksum mismatch") {
    Bytes z = gzip(idx({24}, kValues));
    z[z.size() - 8] ^= 1;  // CRC-32 in the trailer
    CHECK(contains(error_for(z), p + ": expected an IDX file (valid gzip stream), found corrupt gzip data (zlib: incorrect data check)"));
  }
}

TEST_CASE("a header that promises little stops the read of a large file at once") {
  TempDir dir;
  const std::string p = dir / "bomb.idx.gz";
  // 24 values promised, 256 MiB of zeros inflated: refused after 25 bytes of data.
  Bytes file = idx({24}, kValues);
  file.resize(file.size() + (std::size_t(1) << 28), 0);
  write_file(p, gzip(file));
  CHECK(contains(error_of([&] { read_idx(p); }), p + ": expected 8-byte header + 24 values = 32 bytes, found more bytes"));
  SUBCASE("a zero dimension: no values") {
    write_file(p, idx({3, 0, 5}, {}));
    const IdxArray a = read_idx(p);
    CHECK(a.dims == std::vector<std::uint32_t>{3, 0, 5});
    CHECK(a.values.empty());
  }
}

TEST_CASE("a device behind a path is refused, not read without end") {
  TempDir dir;
  const std::string link = dir / "zero.idx";
  std::filesystem::create_symlink("/dev/zero", link);
  CHECK(contains(error_of([&] { read_idx(link); }), link + ": expected an IDX file, found a device or socket, not a file"));
}

TEST_CASE("read_file_bytes refuses past its limit") {
  TempDir dir;
  write_file(dir / "f", Bytes(100, 1));
  CHECK(read_file_bytes(dir / "f", "bytes", 100).size() == 100);
  CHECK(contains(error_of([&] { read_file_bytes(dir / "f", "bytes", 99); }), "expected bytes of at most 99 bytes, found more"));
}

TEST_CASE("read_file_bytes passes a non-gzip file through unchanged") {
  TempDir dir;
  const Bytes b = {0x1f, 0x00, 1, 2, 3};  // first byte of the magic only
  write_file(dir / "f", b);
  CHECK(read_file_bytes(dir / "f", "bytes") == b);
}
