// Shared by the arith test suites: compare a result with the oracle's
// outcome bit for bit, and count mismatches, reporting the first few in full
// (format, mode, path and input in hex) so a failure says exactly what broke.
#pragma once

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#include "oracle.hpp"

namespace lpsim::testing {

template <class T>
using UBits = std::conditional_t<std::is_same_v<T, float>, std::uint32_t, std::uint64_t>;

// Does `got` equal the outcome exactly (NaN for NaN, the same bits otherwise:
// the sign of zero counts)? An Error outcome never matches a value.
template <class T>
bool matches(const oracle::Outcome& o, T got) {
  switch (o.kind) {
    case oracle::Outcome::Kind::NaN: return std::isnan(got);
    case oracle::Outcome::Kind::Error: return false;
    case oracle::Outcome::Kind::Value: return std::bit_cast<UBits<T>>(T(o.value)) == std::bit_cast<UBits<T>>(got);
  }
  return false;
}

class Tally {
 public:
  explicit Tally(std::string what, int show = 6) : what_(std::move(what)), show_(show) {}
  void fail(const std::string& detail) {
    if (count_++ < std::size_t(show_)) FAIL_CHECK(what_ << ": " << detail);
  }
  std::size_t count() const { return count_; }
  // One assertion per tally, so a clean run still counts as checked.
  void finish(std::size_t checked) const {
    INFO(what_ << ": " << count_ << " mismatches in " << checked << " checks");
    CHECK(count_ == 0);
  }

 private:
  std::string what_;
  int show_;
  std::size_t count_ = 0;
};

}  // namespace lpsim::testing
