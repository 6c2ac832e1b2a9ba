#include "data/cifar.hpp"

#include <algorithm>

#include "data/error.hpp"
#include "data/file_bytes.hpp"

namespace lpsim::data {

CifarRecords read_cifar_file(const std::string& path, CifarKind kind) {
  const bool c100 = kind == CifarKind::Cifar100;
  const char* name = c100 ? "a CIFAR-100 binary file" : "a CIFAR-10 binary file";
  const std::size_t label_bytes = c100 ? 2 : 1, record = label_bytes + kCifarPixels;
  const std::string per_record = std::to_string(record) + " bytes (" + (c100 ? "coarse and fine label" : "1 label") +
                                 " + 3072 pixels per image)";
  // No header gives the size: read at most the largest batch file, then make sure nothing follows.
  ByteStream in(path, name);
  std::vector<std::uint8_t> b;
  const std::size_t cap = std::size_t(kCifarMaxRecords) * record;
  in.append(b, cap);
  if (b.size() == cap && !in.at_end())
    fail(path, std::string(name) + " of at most " + std::to_string(kCifarMaxRecords) + " records",
         "more (" + std::to_string(cap) + " bytes read and the file goes on)");
  if (b.empty() || b.size() % record != 0)
    fail(path, std::string(name) + ": a positive multiple of " + per_record,
         std::to_string(b.size()) + " bytes (" + std::to_string(b.size() / record) + " records and " +
             std::to_string(b.size() % record) + " bytes left over)");

  CifarRecords r;
  r.n = static_cast<int>(b.size() / record);
  r.pixels.resize(std::size_t(r.n) * kCifarPixels);
  r.labels.resize(r.n);
  if (c100) r.coarse.resize(r.n);
  for (int i = 0; i < r.n; ++i) {
    const std::uint8_t* rec = &b[std::size_t(i) * record];
    const int label = rec[label_bytes - 1], limit = c100 ? 100 : 10;
    if (label >= limit)
      fail(path, std::string(c100 ? "fine labels" : "labels") + " 0.." + std::to_string(limit - 1),
           std::to_string(label) + " in record " + std::to_string(i));
    if (c100 && rec[0] >= 20) fail(path, "coarse labels 0..19", std::to_string(rec[0]) + " in record " + std::to_string(i));
    r.labels[i] = label;
    if (c100) r.coarse[i] = rec[0];
    std::copy(rec + label_bytes, rec + record, r.pixels.begin() + std::ptrdiff_t(i) * kCifarPixels);
  }
  return r;
}

}  // namespace lpsim::data
