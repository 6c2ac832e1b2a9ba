#include "experiments/format_table.hpp"

#include <fmt/core.h>

#include "arith/arith.hpp"

namespace lpsim::cli {

namespace {
std::string specials(const arith::Format& f) {
  if (f.kind == arith::Kind::Fixed) return f.wrap ? "wrap" : "sat";
  std::string s = f.has_inf() ? "inf" : "";
  if (f.has_nan()) s += s.empty() ? "nan" : ",nan";
  if (!f.has_negative_zero()) s += s.empty() ? "no-0" : ",no-0";
  if (f.saturate) s += s.empty() ? "sat" : ",sat";
  if (!f.subnormals) s += s.empty() ? "nosub" : ",nosub";
  return s.empty() ? "-" : s;
}
}  // namespace

void print_format_table(const std::vector<std::string>& spellings) {
  fmt::print("{:<12} {:<22} {:>4} {:>12} {:>12} {:>12} {:>10}  {}\n", "name", "meaning", "bits", "max finite",
             "min normal", "min subnorm", "epsilon", "specials");
  for (const auto& s : spellings) {
    const arith::Format f = arith::parse_format(s);
    if (f.kind == arith::Kind::Scaled) {
      const arith::Format& e = *f.scaled.elem;
      fmt::print("{:<12} {:<22} {:>4} {:>12.6g} {:>12} {:>12} {:>10.3g}  scaled elements\n", s, f.spelling, e.bits(),
                 e.max_finite(), "-", "-", e.epsilon());
      continue;
    }
    fmt::print("{:<12} {:<22} {:>4} {:>12.6g} {:>12.6g} {:>12.6g} {:>10.3g}  {}\n", s, f.spelling, f.bits(),
               f.max_finite(), f.min_normal(), f.min_subnormal(), f.epsilon(), specials(f));
  }
}

}  // namespace lpsim::cli
