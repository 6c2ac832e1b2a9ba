// `lpsim quantize FORMAT [VALUES...]`: round numbers to a format from the shell,
// printing each result with its bit pattern (values from arguments or stdin).
#include <fmt/core.h>

#include <cmath>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "arith/arith.hpp"
#include "experiments/commands.hpp"
#include "experiments/parse_number.hpp"

namespace lpsim::cli {

namespace {

struct QuantizeArgs {
  std::string format, rounding = "rne";
  std::uint64_t seed = 0;
  std::uint32_t stream = 0;
  std::vector<std::string> values;
};

double parse_value(const std::string& s, std::size_t where) {
  return parse_double(s, "value " + std::to_string(where + 1));
}

void run(const QuantizeArgs& a) {
  const arith::Format f = arith::parse_format(a.format);
  const arith::Rounding r = arith::parse_rounding(a.rounding);
  std::vector<std::string> text = a.values;
  if (text.empty())
    for (std::string w; std::cin >> w;) text.push_back(w);
  const int hex_digits = (f.bits() + 3) / 4;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const double x = parse_value(text[i], i);
    const double q = arith::quantize(x, f, r, {a.seed, a.stream}, i);
    fmt::print("{:<24.17g} {:<24.17g} 0x{:0{}x}\n", x, q, arith::encode(q, f), hex_digits);
  }
}

}  // namespace

void add_quantize(CLI::App& app) {
  auto a = std::make_shared<QuantizeArgs>();
  auto* cmd = app.add_subcommand("quantize", "round values to a format; prints input, result and bit pattern");
  cmd->add_option("format", a->format, "format spelling, e.g. e4m3fn, bf16, fx8.4:wrap")->required();
  cmd->add_option("values", a->values, "numbers to round (default: read from stdin)");
  cmd->add_option("-r,--rounding", a->rounding, "rne rna rz ru rd ro sr sr<k>")->capture_default_str();
  add_unsigned_option(cmd, "--seed", a->seed, "stochastic rounding seed");
  add_unsigned_option(cmd, "--stream", a->stream, "stochastic rounding stream");
  cmd->callback([a] { run(*a); });
}

}  // namespace lpsim::cli
