#include "arith/rounding.hpp"

#include <charconv>
#include <stdexcept>

namespace lpsim::arith {

std::string Rounding::spelling() const {
  switch (mode) {
    case Mode::RNE: return "rne";
    case Mode::RNA: return "rna";
    case Mode::RZ: return "rz";
    case Mode::RU: return "ru";
    case Mode::RD: return "rd";
    case Mode::RO: return "ro";
    case Mode::SR: return sr_bits ? "sr" + std::to_string(sr_bits) : "sr";
  }
  return "?";
}

Rounding parse_rounding(std::string_view s) {
  static constexpr std::pair<const char*, Mode> kModes[] = {
      {"rne", Mode::RNE}, {"rna", Mode::RNA}, {"rz", Mode::RZ}, {"ru", Mode::RU},
      {"rd", Mode::RD},   {"ro", Mode::RO},   {"sr", Mode::SR}};
  for (const auto& [name, mode] : kModes)
    if (s == name) return {mode, 0};
  if (s.size() > 2 && s.substr(0, 2) == "sr" && s[2] >= '1' && s[2] <= '9') {
    int k = 0;
    const auto r = std::from_chars(s.data() + 2, s.data() + s.size(), k);
    if (r.ec == std::errc() && r.ptr == s.data() + s.size() && k >= 1 && k <= 64) return {Mode::SR, k};
  }
  throw std::invalid_argument("invalid rounding \"" + std::string(s) +
                              "\"; expected rne, rna, rz, ru, rd, ro, sr or sr<k> with k in 1..64");
}

}  // namespace lpsim::arith
