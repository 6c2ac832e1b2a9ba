// CIFAR-10 and CIFAR-100 binary batch files (the "binary version" archives).
// Each record is the label byte(s) then 3072 pixel bytes: 1024 red, 1024 green,
// 1024 blue, each a row-major 32x32 plane -- already channel-major (CHW).
//   CIFAR-10:  <label 0..9> <3072 pixels>                    (3073 bytes)
//   CIFAR-100: <coarse 0..19> <fine 0..99> <3072 pixels>     (3074 bytes)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lpsim::data {

enum class CifarKind { Cifar10, Cifar100 };

inline constexpr int kCifarSide = 32, kCifarChannels = 3, kCifarPixels = kCifarChannels * kCifarSide * kCifarSide;

// The largest official file (CIFAR-100's train.bin) holds 50000 records; a
// file with more is refused rather than read without end.
inline constexpr int kCifarMaxRecords = 50000;

struct CifarRecords {
  int n = 0;
  std::vector<std::uint8_t> pixels;  // n x 3 x 32 x 32
  std::vector<std::int32_t> labels;  // CIFAR-10 label, or CIFAR-100 fine label
  std::vector<std::int32_t> coarse;  // CIFAR-100 only: the 20 superclasses
};

// Throws DataError naming the path on a missing file, a size that is not a
// whole number of records, or a label out of range.
CifarRecords read_cifar_file(const std::string& path, CifarKind kind);

}  // namespace lpsim::data
