// The CIFAR reader (data/cifar.hpp read_cifar_file), on an in-memory file,
// as CIFAR-10 and as CIFAR-100. A DataError (any std::exception) is a fine
// answer; a crash, a sanitizer report, a hang or a huge allocation is a
// finding. Invariants: n records of 3072 pixels, labels in range.
#include <cstdint>
#include <exception>
#include <string>

#include "data/cifar.hpp"
#include "fuzz_util.hpp"

using namespace lpsim;

namespace {

void check(const data::CifarRecords& r, data::CifarKind kind) {
  const bool c100 = kind == data::CifarKind::Cifar100;
  if (r.n < 0 || r.pixels.size() != std::size_t(r.n) * data::kCifarPixels || r.labels.size() != std::size_t(r.n) ||
      r.coarse.size() != (c100 ? std::size_t(r.n) : 0))
    fuzz::finding("read_cifar_file returned inconsistent sizes for " + std::to_string(r.n) + " records");
  for (int i = 0; i < r.n; ++i) {
    if (r.labels[std::size_t(i)] < 0 || r.labels[std::size_t(i)] >= (c100 ? 100 : 10))
      fuzz::finding("label out of range");
    if (c100 && (r.coarse[std::size_t(i)] < 0 || r.coarse[std::size_t(i)] >= 20)) fuzz::finding("coarse label out of range");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static fuzz::MemFile file;
  const std::string& path = file.write(data, size);
  for (const auto kind : {data::CifarKind::Cifar10, data::CifarKind::Cifar100}) {
    try {
      check(data::read_cifar_file(path, kind), kind);
    } catch (const std::exception&) {
    }
  }
  return 0;
}
