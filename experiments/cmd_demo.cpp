// `lpsim demo`: the main job until training lands — the common formats with
// their range and precision, and how each rounding mode treats a few numbers.
#include <fmt/core.h>

#include <string>
#include <vector>

#include "arith/arith.hpp"
#include "experiments/commands.hpp"
#include "experiments/format_table.hpp"

namespace lpsim::cli {

namespace {

void run() {
  fmt::print("lpsim {} - number formats\n\n", LPSIM_VERSION);
  print_format_table({"fp32", "tf32", "bf16", "fp16", "fp8e4m3", "fp8e5m2", "e4m3fnuz", "e5m2fnuz", "fp6e3m2",
                      "fp6e2m3", "fp4e2m1", "int8", "fx16.8", "uint4"});

  const std::vector<std::string> modes = {"rne", "rna", "rz", "ru", "rd", "ro", "sr"};
  const std::vector<std::pair<std::string, double>> cases = {
      {"fp8e4m3", 0.1}, {"fp8e4m3", 300.7}, {"fp8e4m3", 1000.0}, {"fp8e5m2", -2.5e-6},
      {"bf16", 1.0 / 3.0}, {"fp4e2m1", 2.5}, {"int8", -130.5}, {"fx8.4:wrap", 9.03}};
  fmt::print("\nrounding examples (sr: seed 0, element 0; mean of 100000 draws in brackets)\n");
  fmt::print("{:<12} {:>12}", "format", "x");
  for (const auto& m : modes) fmt::print(" {:>11}", m);
  fmt::print("\n");
  for (const auto& [name, x] : cases) {
    const arith::Format f = arith::parse_format(name);
    fmt::print("{:<12} {:>12.6g}", name, x);
    for (const auto& m : modes) fmt::print(" {:>11.5g}", arith::quantize(x, f, arith::parse_rounding(m)));
    std::vector<double> in(100000, x), out(in.size());
    arith::quantize(in.data(), out.data(), in.size(), f, arith::parse_rounding("sr"));
    double mean = 0;
    for (double v : out) mean += v / double(out.size());
    fmt::print("  [{:.5g}]\n", mean);
  }
}

}  // namespace

void add_demo(CLI::App& app) {
  auto* cmd = app.add_subcommand("demo", "the main job: a tour of formats and rounding modes");
  cmd->callback([] { run(); });
}

}  // namespace lpsim::cli
